/// Limits of the peer server. Every field has a default fit for one `dofs mount` on a LAN.
public struct PeerServerConfiguration: Sendable {
    /// Open peer connections at most; further ones are closed on accept. 64 keeps memory bounded
    /// (each connection buffers at most a few blocks) while far exceeding a LAN swarm's size.
    public var maxConnections = 64
    /// Open connections from one IP address at most; more are closed on accept, before a byte is read.
    /// A host runs one dofs node (as DO runs one service per machine), which opens one connection per
    /// content it reads from us: 4 covers a few contents at once and a reconnect that overlaps a
    /// connection not yet timed out, while taking all 64 places now needs 16 addresses, not one.
    /// IPv6 addresses count one by one (LAN hosts share a /64, so a prefix would lump them together).
    public var maxConnectionsPerAddress = 4
    /// When all places are taken, a new connection takes the place of the connection that has had no
    /// request accepted for longest, if that is at least this long (the default idle timeout still
    /// closes silent connections; this drops talking but useless ones, only when someone needs the place).
    /// A downloader asks for its next block within a round trip of the last one; 30 s is three times
    /// `slotIdleSeconds`, so only a peer that wants nothing more from us (or never did) qualifies.
    public var evictIdleAfterSeconds: Double = 30
    /// Likewise for a connection that holds an upload slot while no block has gone out to it for this
    /// long: it keeps a slot and a place without downloading (it does not read, or asks only for pieces
    /// we refuse). Blocks go out every 16 KiB: 0.13 s apart even at 1 Mbit/s, plus milliseconds to read
    /// and hash a piece; 20 s leaves a slow link or a loaded host ample margin.
    public var evictStalledSlotAfterSeconds: Double = 20
    /// Peers unchoked (allowed to request) at once. 8 splits a gigabit uplink into useful ~15 MB/s
    /// streams; more would only slow every downloader down.
    public var uploadSlots = 8
    /// A connection from which nothing at all is read for this long is closed. DO and BitTorrent
    /// peers send keep-alives every 1–2 minutes, so 120 s only drops dead or silent peers.
    public var idleTimeoutSeconds: Double = 120
    /// A connection must deliver its 78-byte handshake within this time.
    public var handshakeTimeoutSeconds: Double = 10
    /// Queued requests per peer; one more closes the connection. 256 blocks of 16 KiB is 4 MiB in
    /// flight, four pieces, more than any sane pipeline needs.
    public var maxOutstandingRequests = 256
    /// Largest block a peer may request; larger requests close the connection (BitTorrent's limit).
    public var maxBlockLength = 128 * 1024
    /// An unchoked peer that has requested nothing for this long loses its slot when another peer is
    /// waiting for one (it goes back in the queue). Short enough that a finished downloader does not
    /// hog a slot, long enough to cover the gap between two pieces.
    public var slotIdleSeconds: Double = 10
    /// A downloader that has held its slot this long while another peer waits for one gives it up at
    /// its next piece boundary (no block of a piece it has started is held back) and queues again
    /// behind the waiters. First come, first served kept a slot for a peer's whole download: in a
    /// 100-peer swarm the eldest members' slots stayed with their first downloaders, the others waited
    /// behind a choke for more than 5 s, and past that the engine takes a peer's queue for silence
    /// (`SchedulerConfiguration.busyQueueSeconds`) and fetched from the origin pieces only it held
    /// (fleet-bench). 1 s is a few pieces on a LAN; 0: no turns.
    public var slotTurnSeconds: Double = 1
    /// We send a keep-alive when we have written nothing for this long.
    public var keepAliveSeconds: Double = 60
    /// How often each connection compares `SharedContent.have()` with what it advertised and sends
    /// `have` for new pieces.
    public var haveRefreshSeconds: Double = 5
    /// Verified pieces kept in memory so a piece is hashed once, not once per 16 KiB block.
    /// 8 × 1 MiB pieces cover every upload slot reading a different piece.
    public var verifiedPieceCacheCount = 8
    /// How long a cached verified piece is trusted before it is read and hashed again; bounds how long
    /// a piece evicted from the engine's cache can still be served from memory.
    public var verifiedPieceCacheSeconds: Double = 10
    /// Asked before each block goes out (DO's upload policies, such as `DOMonthlyUploadDataCap`);
    /// `nil`: every block goes.
    public var uploadLimiter: (any UploadLimiter)?
    /// Pieces remembered as hashed right once, so they are not hashed again on later sends (see
    /// `VerifiedPieceCache`): 65,536 digests (about 4 MiB) cover 64 GiB of 1 MiB pieces. 0 hashes
    /// every send.
    public var hashedOncePieceCount = 65_536

    public init() {}
}

/// An upload policy: says whether `bytes` more may be sent to a peer at `address`, and may make the
/// sender wait first. A refused block is not sent; the peer is choked and fetches it elsewhere.
public protocol UploadLimiter: Sendable {
    func admit(bytes: Int, to address: String?) async -> Bool
}
