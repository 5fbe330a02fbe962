/// Timeouts and policies of a `Swarm` and its peer connections. Every field has a default.
public struct SwarmConfiguration: Sendable {
    /// TCP connect deadline. A LAN peer answers in milliseconds; 5 s covers a loaded host.
    public var connectTimeoutSeconds: Double = 5
    /// The peer's handshake must arrive within this time of the connection's start, or it is dropped.
    public var handshakeTimeoutSeconds: Double = 10
    /// A connection from which nothing is read for this long is closed (peers send keep-alives).
    public var idleTimeoutSeconds: Double = 180
    /// We send a keep-alive when we have written nothing for this long, so servers keep us.
    public var keepAliveSeconds: Double = 60
    /// A piece with requests in flight that receives no block for this long, while the peer unchokes
    /// us, fails with `.timedOut` (and counts against the peer) instead of holding the fetch to its deadline.
    public var stallTimeoutSeconds: Double = 10
    /// Block requests in flight per connection, all pieces together. 64 × 16 KiB = 1 MiB keeps a
    /// gigabit LAN link busy at 8 ms round trips and stays far below a server's limit (256 by default).
    public var maxOutstandingRequests = 64
    /// The most bytes one read from a peer's socket takes in (NIO's adaptive receive buffer grows up to
    /// it while reads fill it). Pieces arrive as 16 KiB blocks and the connection stops reading while 8
    /// frames wait for the engine: with NIO's 64 KiB reads that was a stop and a restart (two thread hops)
    /// every 128 KiB, eight per piece, and on busy cores each hop costs milliseconds (a 1 MiB piece took
    /// 0.5 s from a loopback peer, swarm-bench N = 8). 1 MiB takes a whole piece in one read; memory stays
    /// bounded by this plus the frames waiting, per connection.
    public var receiveBufferMaxBytes = 1 << 20
    /// Bad pieces after which a peer is banned for this content (do-protocol.md 9.5).
    public var banThreshold = 3
    /// Failed transfers in a row (timeouts, stalls) after which a peer is disconnected.
    public var maxConsecutiveFailures = 3
    /// `fetching` claims (`PeerMessage.fetching`) kept per connection; past it the oldest goes. An
    /// honest member fetches at most `PeeringConfiguration.maxHTTPFetchesInSwarm` (4) pieces from HTTP
    /// at once, plus the odd hedge, so eight hold every claim it makes, while a peer that claims pieces
    /// it never brings holds back no more than eight at a time.
    public var maxClaimsPerPeer = 8
    /// First back-off after a failure; it doubles with each failure in a row, up to `backoffMaxSeconds`.
    /// While backing off a peer is not chosen for pieces, or not reconnected.
    public var backoffBaseSeconds: Double = 1
    public var backoffMaxSeconds: Double = 60
    /// A peer whose measured rate is below the typical peer's (the better of two, the median of more;
    /// `Swarm.slowPeerReference`) divided by this is dropped in favour of faster sources (if it has
    /// nothing in flight and is not the only source of a piece we lack). 10 keeps ordinary jitter from
    /// dropping anyone.
    public var slowPeerFactor: Double = 10
    /// Pieces a peer (and the best peer) must have delivered before their rates are compared;
    /// a single small piece measures latency more than bandwidth.
    public var slowPeerMinSamples = 3
    /// How long a dropped slow peer is not reconnected.
    public var slowPeerBackoffSeconds: Double = 120
    /// The local IP address our connections to peers leave from; `nil` lets the kernel choose. Peer
    /// servers count connections per address, so a host leaves from the address it announced, not
    /// from whichever address routing picks (on one machine with several peers that is 127.0.0.1 for all).
    public var localAddress: String?

    public init() {}

    /// The back-off after `failures` failures in a row.
    func backoff(afterFailures failures: Int) -> Duration {
        let exponent = min(max(failures - 1, 0), 30)
        return .seconds(min(backoffMaxSeconds, backoffBaseSeconds * Double(1 << exponent)))
    }
}
