import NIOCore

/// The peer server's open connections (handshaking or not), by connection id, with how many come
/// from each address: the admission rule of `PeerServer` ("Limits").
///
/// - A connection from an address that already has `maxConnectionsPerAddress` open is refused.
/// - Otherwise it is admitted while fewer than `maxConnections` are open.
/// - When all places are taken, the caller may make room with `ConnectionActivity.victim`: the
///   connection furthest past its unproductivity threshold gives its place to the newcomer.
///
/// Pure bookkeeping, owned by `PeerServer` under its lock: it never closes a channel and never takes a
/// session's lock.
struct ConnectionTable {
    struct Entry {
        /// Canonical remote IP (`PeerAddress.canonicalHost`).
        let host: String
        let channel: Channel
        let acceptedAt: ContinuousClock.Instant
        /// Set once the handshake named a content we share.
        var session: ServerSession?
    }

    enum Admission: Equatable {
        case admitted
        /// The address already has `maxConnectionsPerAddress` connections open.
        case addressFull
        /// All `maxConnections` places are taken.
        case full
    }

    let maxConnections: Int
    let maxConnectionsPerAddress: Int
    private(set) var entries: [Int: Entry] = [:]
    private var perHost: [String: Int] = [:]

    init(maxConnections: Int, maxConnectionsPerAddress: Int) {
        self.maxConnections = max(1, maxConnections)
        self.maxConnectionsPerAddress = max(1, maxConnectionsPerAddress)
    }

    /// Whether a new connection from `host` may take a place now.
    func admission(of host: String) -> Admission {
        if perHost[host, default: 0] >= maxConnectionsPerAddress { return .addressFull }
        return entries.count < maxConnections ? .admitted : .full
    }

    var count: Int { entries.count }
    var sessions: [ServerSession] { entries.values.compactMap(\.session) }

    func connections(from host: String) -> Int { perHost[host, default: 0] }

    mutating func insert(_ entry: Entry, id: Int) {
        entries[id] = entry
        perHost[entry.host, default: 0] += 1
    }

    /// Removes connection `id` (closed, or evicted); nil if it was already gone.
    @discardableResult
    mutating func remove(_ id: Int) -> Entry? {
        guard let entry = entries.removeValue(forKey: id) else { return nil }
        let left = perHost[entry.host, default: 1] - 1
        perHost[entry.host] = left > 0 ? left : nil
        return entry
    }

    /// Records the session of connection `id` after its handshake (no-op if it was evicted meanwhile).
    mutating func attach(_ session: ServerSession, to id: Int) {
        entries[id]?.session = session
    }
}

/// What eviction looks at for one connection: since when it has been idle (no request accepted from
/// it; for a connection still handshaking, since it was accepted), and, while it holds an upload
/// slot, since when no block has gone out.
struct ConnectionActivity: Sendable {
    var idleSince: ContinuousClock.Instant
    var slotStalledSince: ContinuousClock.Instant?

    /// How far past its threshold this connection is (`evictIdleAfterSeconds` for idleness,
    /// `evictStalledSlotAfterSeconds` for a stalled slot), or nil when it is past neither.
    func overdue(at now: ContinuousClock.Instant, _ configuration: PeerServerConfiguration) -> Duration? {
        var worst = (now - idleSince) - .seconds(configuration.evictIdleAfterSeconds)
        if let slotStalledSince {
            worst = max(worst, (now - slotStalledSince) - .seconds(configuration.evictStalledSlotAfterSeconds))
        }
        return worst >= .zero ? worst : nil
    }

    /// The connection to drop so a newcomer gets its place: the one furthest past a threshold, if any.
    /// A connection that requests and receives pieces is never chosen.
    static func victim(among connections: [(id: Int, activity: ConnectionActivity)],
                       at now: ContinuousClock.Instant, _ configuration: PeerServerConfiguration) -> Int? {
        var best: (id: Int, overdue: Duration)?
        for (id, activity) in connections {
            guard let overdue = activity.overdue(at: now, configuration) else { continue }
            if let current = best, current.overdue >= overdue { continue }
            best = (id, overdue)
        }
        return best?.id
    }
}
