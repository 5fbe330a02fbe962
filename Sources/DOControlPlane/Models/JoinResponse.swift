/// The answer to an array join, in dofs's format (do-protocol.md section 9 item 4; DO's own is not public):
/// `{"Peers":[{"PeerId":"<40 hex>","Ip":"<addr>","Port":7680}],"ReannounceSecs":N}`.
public struct JoinResponse: Codable, Equatable, Sendable {
    /// `Peers`: other members of the same content's swarm the requester may connect to; never itself.
    public var peers: [JoinPeer]
    /// `ReannounceSecs`: join again after this many seconds to stay listed and get fresh peers.
    public var reannounceSecs: Int

    public init(peers: [JoinPeer], reannounceSecs: Int) {
        self.peers = peers
        self.reannounceSecs = reannounceSecs
    }

    enum CodingKeys: String, CodingKey {
        case peers = "Peers"
        case reannounceSecs = "ReannounceSecs"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peers = try c.decodeIfPresent([JoinPeer].self, forKey: .peers) ?? []
        reannounceSecs = try c.decodeLenientInt(forKey: .reannounceSecs) ?? 0
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

    public init(peerId: String, ip: String, port: Int) {
        self.peerId = peerId
        self.ip = ip
        self.port = port
    }

    enum CodingKeys: String, CodingKey {
        case peerId = "PeerId"
        case ip = "Ip"
        case port = "Port"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peerId = try c.decode(String.self, forKey: .peerId)
        ip = try c.decode(String.self, forKey: .ip)
        guard let p = try c.decodeLenientInt(forKey: .port) else {
            throw DecodingError.keyNotFound(CodingKeys.port, .init(codingPath: c.codingPath, debugDescription: "no Port"))
        }
        port = p
    }
}
