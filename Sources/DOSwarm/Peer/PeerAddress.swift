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
    var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var description: String { peerId.map { "\(endpoint) (\($0))" } ?? endpoint }
}
