import NIOCore

/// Where to reach a peer, as the control plane's join answer lists it (do-protocol.md 9.4).
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    /// DO's swarm port (do-protocol.md 4.1).
    public static let defaultPort = 7680

    public var host: String
    public var port: Int
    /// The peer id the control plane announced, if any. When set, the peer must answer with exactly
    /// this id; it also lets us skip ourselves and banned peers without connecting.
    public var peerId: PeerId?

    public init(host: String, port: Int = PeerAddress.defaultPort, peerId: PeerId? = nil) {
        self.host = host
        self.port = port
        self.peerId = peerId
    }

    /// host:port, the identity of the endpoint regardless of the announced peer id.
    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var description: String { peerId.map { "\(endpoint) (\($0))" } ?? endpoint }
}

extension PeerAddress {
    /// The form in which bans and per-address limits compare hosts: an IP literal in canonical text
    /// (`::FFFF:a.b.c.d`, how a dual-stack socket shows an IPv4 peer, becomes `a.b.c.d`; IPv6 is
    /// written the one way `inet_ntop` writes it). Anything else (a host name) is returned as given.
    static func canonicalHost(_ host: String) -> String {
        guard let parsed = try? SocketAddress(ipAddress: host, port: 0), let text = parsed.ipAddress else { return host }
        let lower = text.lowercased()
        if lower.hasPrefix("::ffff:"), let v4 = try? SocketAddress(ipAddress: String(text.dropFirst(7)), port: 0),
           case .v4 = v4 {
            return v4.ipAddress ?? text
        }
        return lower
    }

    /// `host`, canonical (see `canonicalHost`).
    var canonicalHost: String { Self.canonicalHost(host) }
}
