import Foundation

/// The answer to an array join, in dofs's format (do-protocol.md section 9 item 4; DO's own is not public):
/// `{"JoinedMs":T,"Peers":[{"Ip":"<addr>","JoinedMs":T,"PeerId":"<40 hex>","Port":7680}],"ReannounceSecs":N}`.
/// `JoinedMs` is dofs's own (absent from other services' answers): see `joinedMs`.
public struct JoinResponse: Codable, Equatable, Sendable {
    /// `Peers`: other members of the same content's swarm the requester may connect to; never itself.
    public var peers: [JoinPeer]
    /// `ReannounceSecs`: join again after this many seconds to stay listed and get fresh peers.
    public var reannounceSecs: Int
    /// `JoinedMs`: when the requester first joined this swarm, in milliseconds since the Unix epoch on
    /// the service's clock (kept across its re-joins while it stays listed). With the peers' own, it
    /// tells each member which members are the swarm's eldest; `nil` from a service that does not say.
    public var joinedMs: Int64?

    public init(peers: [JoinPeer], reannounceSecs: Int, joinedMs: Int64? = nil) {
        self.peers = peers
        self.reannounceSecs = reannounceSecs
        self.joinedMs = joinedMs
    }

    enum CodingKeys: String, CodingKey {
        case peers = "Peers"
        case reannounceSecs = "ReannounceSecs"
        case joinedMs = "JoinedMs"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peers = try c.decodeIfPresent([JoinPeer].self, forKey: .peers) ?? []
        reannounceSecs = try c.decodeLenientInt(forKey: .reannounceSecs) ?? 0
        joinedMs = Self.decodeMilliseconds(c, .joinedMs)
    }

    /// A first-join time as `JoinedMs` carries it; `nil` for an unknown one (before the epoch).
    static func milliseconds(_ date: Date) -> Int64? {
        let ms = (date.timeIntervalSince1970 * 1000).rounded()
        return ms > 0 && ms < 1e15 ? Int64(ms) : nil
    }

    /// A `JoinedMs` value: absent, or an integer in range (anything else is treated as absent, so a
    /// stranger's odd value costs the member its seniority, not the answer).
    static func decodeMilliseconds<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) -> Int64? {
        guard let value = try? c.decodeLenientInt(forKey: key), value > 0 else { return nil }
        return Int64(value)
    }

    /// The answer as JSON, byte for byte what a `JSONEncoder` with sorted keys and unescaped slashes
    /// writes, without its cost (the encoder builds a tree and sorts keys: it was a tenth of a join's
    /// CPU). `nil` when a string would need escaping (a peer id is hex and an IP address never does);
    /// the caller then uses the encoder.
    public func jsonBytes() -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(32 + peers.count * 90)
        out.append(UInt8(ascii: "{"))
        if let joinedMs {
            out.append(contentsOf: #""JoinedMs":"#.utf8)
            out.append(contentsOf: String(joinedMs).utf8)
            out.append(UInt8(ascii: ","))
        }
        out.append(contentsOf: #""Peers":["#.utf8)
        for (index, peer) in peers.enumerated() {
            guard Self.isPlain(peer.ip), Self.isPlain(peer.peerId) else { return nil }
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"Ip":""#.utf8)
            out.append(contentsOf: peer.ip.utf8)
            if let ms = peer.joinedMs {
                out.append(contentsOf: #"","JoinedMs":"#.utf8)
                out.append(contentsOf: String(ms).utf8)
                out.append(contentsOf: #","PeerId":""#.utf8)
            } else {
                out.append(contentsOf: #"","PeerId":""#.utf8)
            }
            out.append(contentsOf: peer.peerId.utf8)
            out.append(contentsOf: #"","Port":"#.utf8)
            out.append(contentsOf: String(peer.port).utf8)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"ReannounceSecs":"#.utf8)
        out.append(contentsOf: String(reannounceSecs).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// True when a JSON string of `text` is `text` itself: printable ASCII without quote or backslash.
    private static func isPlain(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }
}

/// One peer in a join answer.
public struct JoinPeer: Codable, Equatable, Hashable, Sendable {
    /// `PeerId`: 40 lower-case hex digits.
    public var peerId: String
    /// `Ip`: the address to connect to (the peer's reported address, else the one it joined from).
    public var ip: String
    /// `Port`: the peer's swarm port.
    public var port: Int
    /// `JoinedMs`: when the peer first joined this swarm (see `JoinResponse.joinedMs`).
    public var joinedMs: Int64?

    public init(peerId: String, ip: String, port: Int, joinedMs: Int64? = nil) {
        self.peerId = peerId
        self.ip = ip
        self.port = port
        self.joinedMs = joinedMs
    }

    enum CodingKeys: String, CodingKey {
        case peerId = "PeerId"
        case ip = "Ip"
        case port = "Port"
        case joinedMs = "JoinedMs"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peerId = try c.decode(String.self, forKey: .peerId)
        ip = try c.decode(String.self, forKey: .ip)
        guard let p = try c.decodeLenientInt(forKey: .port) else {
            throw DecodingError.keyNotFound(CodingKeys.port, .init(codingPath: c.codingPath, debugDescription: "no Port"))
        }
        port = p
        joinedMs = JoinResponse.decodeMilliseconds(c, .joinedMs)
    }
}
