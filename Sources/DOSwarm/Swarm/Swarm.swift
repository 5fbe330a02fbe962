import DOCore
import Logging
import Metrics
import Synchronization

/// The peers of one content, as the scheduler uses them: who is connected, who has which piece, who is
/// fast, who is failing, and who is banned.
///
/// ## Connections
/// `addPeers` takes the control plane's join answer. Addresses are remembered; the swarm keeps at most
/// `maxPeers` connections open (connecting in the background) and skips ourselves, banned peers, peers
/// already connected (by endpoint or by peer id) and addresses backing off. Addresses are picked at
/// random among those with the fewest failures, so that the members of a large swarm do not all
/// connect to the same few. When a connection ends, the freed place goes to another known address; an
/// address that failed (refused, timed out, dropped) is retried only after a back-off that doubles per
/// failure, up to a minute.
///
/// ## Choosing a peer for a piece
/// Candidates are open connections that announced the piece, are not backing off, have not sent a bad
/// copy of that piece, have not already failed this call, and are not fetching this same piece. Unchoked
/// peers come before choked ones; among them the one expected to finish first wins: (bytes already queued
/// on it + the piece) / its measured rate. Rates are an average of bytes/s over past pieces; a peer not
/// measured yet is assumed at least as fast as the best one, so new peers get tried. If the chosen peer fails
/// (stall, choke, disconnect), the next candidate is tried until the deadline.
///
/// ## Health
/// A timeout or stall counts a failure and backs the peer off (1 s, 2 s, 4 s, ...); three in a row drop
/// it. Once at least two peers have delivered a few pieces, a peer ten times slower than the typical
/// one (the better of two, the median of more: `slowPeerReference`) is dropped in favour of faster
/// sources and not reconnected for two minutes, unless it is the only one to offer a piece we lack.
///
/// ## Bans
/// The engine verifies every piece; `reportBadPiece` charges a bad one twice: to the identity that sent
/// it (its peer id *at* the IP address the connection reached) and to that address, across every peer id
/// ever seen there. At `banThreshold` bad pieces (3, do-protocol.md 9.5):
/// - **an address** is banned for this content: every identity at it is banned and disconnected at
///   once, and no connection to it is kept again, whatever peer id is announced or answered (nor even
///   made, when it is listed by IP, as the control plane lists peers).
///   A liar that takes a new peer id for every connection thus gets 3 bad pieces per address in total,
///   not 3 per identity;
/// - **an identity** is banned: that peer id is never connected again from that address. The same id
///   at another address is not touched: peer ids are self-chosen, so an impostor lying under an honest
///   peer's id gets only itself (and its address) banned, never the honest peer. An identity's count
///   never exceeds its address's, so today both bans fall together; the identity ban is what
///   `isBanned(_:)` reports.
///
/// A piece that failed SHA-256 from an address is never fetched from that address again. A report is
/// charged to the connection that delivered that piece (remembered per piece), so a peer id that moved
/// meanwhile cannot shift the blame. Bans last as long as the swarm (one content's session).
public final class Swarm: Sendable {
    public let swarmHash: [UInt8]
    public let layout: PieceLayout
    public let ourPeerId: PeerId
    public let maxPeers: Int
    public let configuration: SwarmConfiguration
    /// The pieces we hold, which decide whether each connection is interested (`holds(_:)`).
    public let ours: OurPieces
    private let logger: Logger
    private let state = Mutex(State())
    /// Pieces announced by peers (bitfields and `have`s): a counter and the tasks waiting for it to move.
    private let announcements = Mutex(Announcements())

    private struct Announcements {
        var generation = 0
        /// Bitfields and `have`s heard from connected peers (nudges not counted): see `announcementsHeard`.
        var heard = 0
        /// Waiters for any announcement, and waiters for one piece's (`waitForAnnouncement(of:after:)`).
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var pieceWaiters: [Int: [Int: CheckedContinuation<Void, Never>]] = [:]
        var nextWaiter = 0
    }

    /// Runs `body` under the swarm's lock. Every change of the connected-peer table goes through here,
    /// so `dofs_peers_connected` moves by exactly what this swarm gained or lost.
    private func withState<R>(_ body: (inout State) -> R) -> R {
        state.withLock { s in
            let before = s.peers.count
            let result = body(&s)
            if s.peers.count != before { SwarmMetrics.peersConnected.increment(by: Double(s.peers.count - before)) }
            return result
        }
    }

    /// Who a ban or a bad piece is charged to: a peer id at the address it spoke from.
    private struct Identity: Hashable {
        var peerId: PeerId
        /// Canonical IP (`PeerAddress.canonicalHost`).
        var host: String
    }

    private struct ConnectedPeer {
        let connection: PeerConnection
        let endpoint: String
        var identity: Identity { Identity(peerId: connection.remotePeerId, host: connection.remoteHost) }
        var rate: Double?
        var samples = 0
        var consecutiveFailures = 0
        var backoffUntil: ContinuousClock.Instant?
        var piecesInFlight: Set<Int> = []
        var downloadedBytes = 0
        let connectedAt = ContinuousClock.now
    }

    private struct KnownAddress {
        var address: PeerAddress
        var connecting = false
        var connectedAs: PeerId?
        var failures = 0
        var retryAt: ContinuousClock.Instant?
    }

    private struct State {
        var closed = false
        var peers: [PeerId: ConnectedPeer] = [:]
        var known: [String: KnownAddress] = [:]
        /// Endpoints that turned out to be ourselves.
        var ourEndpoints: Set<String> = []
        var banned: Set<Identity> = []
        var bannedHosts: Set<String> = []
        /// The address each peer id was last connected from (for reports the per-piece record misses).
        var hostOf: [PeerId: String] = [:]
        var badPieceCounts: [Identity: Int] = [:]
        var badPieceCountsByHost: [String: Int] = [:]
        /// Pieces each address sent a bad copy of: never fetched from that address again.
        var badPiecesByHost: [String: Set<Int>] = [:]
        /// Who delivered each piece last (one entry per piece at most).
        var lastSource: [Int: Identity] = [:]
        var tasks: [Int: Task<Void, Never>] = [:]
        var nextTaskId = 0

        func sentBadCopy(of piece: Int, _ peer: ConnectedPeer) -> Bool {
            badPiecesByHost[peer.connection.remoteHost]?.contains(piece) ?? false
        }

        /// The peer id of the open connection at each endpoint (`connectedEndpoints`).
        var openEndpoints: [String: PeerId] {
            var out: [String: PeerId] = [:]
            for (id, peer) in peers where peer.connection.isOpen { out[peer.endpoint] = id }
            return out
        }

        /// Known peer ids whose last connection failed and that are not connected (`unreachablePeers`).
        var unreachable: Set<PeerId> {
            Set(known.values.compactMap { known -> PeerId? in
                guard let id = known.address.peerId, known.failures > 0, known.connectedAs == nil, !known.connecting,
                      peers[id] == nil else { return nil }
                return id
            })
        }

        func isRefused(_ identity: Identity) -> Bool {
            bannedHosts.contains(identity.host) || banned.contains(identity)
        }
    }

    public init(swarmHash: [UInt8], layout: PieceLayout, ourPeerId: PeerId, maxPeers: Int = 16,
                configuration: SwarmConfiguration = .init(), logger: Logger) {
        precondition(swarmHash.count == 32, "a swarm hash is 32 bytes")
        self.swarmHash = swarmHash
        self.layout = layout
        self.ourPeerId = ourPeerId
        self.maxPeers = max(1, maxPeers)
        self.configuration = configuration
        ours = OurPieces(pieceCount: layout.pieceCount)
        var logger = logger
        logger[metadataKey: "swarm"] = "\(swarmHash.prefix(6).map { String($0, radix: 16) }.joined())"
        self.logger = logger
    }

    // MARK: - Announcements

    /// Moves whenever a connected peer announces pieces it had not announced (its bitfield, a `have`)
    /// or a peer connects.
    public var announceGeneration: Int { announcements.withLock { $0.generation } }

    /// Bitfields and `have`s heard from connected peers so far, those that told something new only
    /// (`PeerConnection.receive`: a peer repeating itself is not news). Unlike `announceGeneration`, a
    /// nudge (a join answer, a peer arriving) does not move it: it moves only while the peers around us
    /// receive pieces, which is what tells a swarm that is slow from one that is stuck.
    public var announcementsHeard: Int { announcements.withLock { $0.heard } }

    /// Returns once `announceGeneration` is past `generation` (at once when it already is), or when the
    /// calling task is cancelled: waiting for a peer's `have` is an event, never a poll.
    public func waitForAnnouncement(after generation: Int) async {
        await waitForAnnouncement(of: nil, after: generation)
    }

    /// Like `waitForAnnouncement(after:)`, for news that can concern piece `piece`: a `have` of another
    /// piece does not wake the caller (the generation still moves, so one that came before the wait
    /// returns at once); a `have` of `piece`, a bitfield and a `nudge` do. In a large swarm `have`s
    /// arrive by the hundred per piece, and every piece waiting woken by each cost each member a
    /// task hop and a look at its sources per `have` and piece.
    public func waitForAnnouncement(of piece: Int?, after generation: Int) async {
        let id = announcements.withLock { a -> Int in
            a.nextWaiter += 1
            return a.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = announcements.withLock { a -> Bool in
                    if a.generation > generation || Task.isCancelled { return true }
                    if let piece { a.pieceWaiters[piece, default: [:]][id] = continuation } else { a.waiters[id] = continuation }
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            announcements.withLock { a -> CheckedContinuation<Void, Never>? in
                guard let piece else { return a.waiters.removeValue(forKey: id) }
                let waiter = a.pieceWaiters[piece]?.removeValue(forKey: id)
                if a.pieceWaiters[piece]?.isEmpty == true { a.pieceWaiters[piece] = nil }
                return waiter
            }?.resume()
        }
    }

    /// Wakes every task waiting for an announcement (the membership changed, say): they look again.
    public func nudge() { announced(piece: nil, heard: false) }

    /// A peer announced `piece` (`nil`: many, as a bitfield): wake the waiters it concerns. `heard`:
    /// it came from a peer (not a nudge).
    private func announced(piece: Int?, heard: Bool = true) {
        let waiters = announcements.withLock { a -> [CheckedContinuation<Void, Never>] in
            a.generation += 1
            if heard { a.heard += 1 }
            var woken = Array(a.waiters.values)
            a.waiters.removeAll()
            if let piece {
                if let forPiece = a.pieceWaiters.removeValue(forKey: piece) { woken += forPiece.values }
            } else {
                for forPiece in a.pieceWaiters.values { woken += forPiece.values }
                a.pieceWaiters.removeAll()
            }
            return woken
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - Our pieces

    /// We hold `piece` now (verified and stored): peers that have nothing more we lack are told we are
    /// not interested, which frees the upload slot they gave us for members that still need it.
    public func holds(_ piece: Int) {
        guard ours.insert(piece) else { return }
        for (_, connection) in connections { connection.ourPiecesGrew() }
    }

    // MARK: - Peers

    /// Remembers these peers and connects to as many as `maxPeers` allows, in the background. Skips
    /// ourselves, banned addresses, banned identities and peers already connected.
    public func addPeers(_ peers: [PeerAddress]) {
        withState { s in
            for address in peers {
                let endpoint = address.endpoint
                let host = address.canonicalHost
                if s.bannedHosts.contains(host) || s.ourEndpoints.contains(endpoint) { continue }
                if let id = address.peerId, id == ourPeerId || s.banned.contains(Identity(peerId: id, host: host)) { continue }
                if var known = s.known[endpoint] {
                    if known.address.peerId != address.peerId, known.connectedAs == nil, !known.connecting {
                        known.address = address
                        s.known[endpoint] = known
                    }
                } else {
                    s.known[endpoint] = KnownAddress(address: address)
                }
            }
        }
        fillConnections()
    }

    /// Peers connected now, and the identities and addresses banned for this content (kept sets: O(1)).
    public var peerCounts: (connected: Int, banned: Int) {
        withState { ($0.peers.count, $0.banned.count + $0.bannedHosts.count) }
    }

    /// Whether any healthy connected peer announced piece `index`.
    public func hasPeer(withPiece index: Int) -> Bool {
        let now = ContinuousClock.now
        return withState { s in
            s.peers.values.contains { peer in
                isHealthy(peer, now: now) && !s.sentBadCopy(of: index, peer) && peer.connection.has(index)
            }
        }
    }

    /// Fetches a whole piece (`length` bytes) from one healthy peer that has it, trying the next best
    /// peer when one fails, until `timeoutSeconds` pass. The bytes are not verified: the caller checks
    /// them against the piece hash and calls `reportBadPiece` when they do not match.
    ///
    /// A peer that chokes us (its upload slots are busy) is used only when no unchoked peer has the
    /// piece; the fetch then waits for its unchoke, within the timeout. `length` must be the piece's
    /// length in `layout`.
    public func fetch(piece index: Int, length: Int,
                      timeoutSeconds: Double) async throws(PeerError) -> (bytes: [UInt8], peer: PeerId) {
        guard index >= 0, index < layout.pieceCount else { throw .noPeerHasPiece(index) }
        // A wrong length would have the peer close the connection for a request past the piece's end.
        precondition(length == layout.length(ofPiece: index),
                     "piece \(index) is \(layout.length(ofPiece: index)) bytes, not \(length)")
        fillConnections()
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        var tried: Set<PeerId> = []
        var lastError: PeerError?
        while true {
            if Task.isCancelled { throw .cancelled }
            if withState({ $0.closed }) { throw .closed }
            guard let (peer, connection) = choose(piece: index, length: length, excluding: tried) else {
                throw lastError ?? .noPeerHasPiece(index)
            }
            guard ContinuousClock.now < deadline else {
                finishAttempt(peer, piece: index, result: .failure(.cancelled))
                throw .timedOut
            }
            let result = await connection.fetch(piece: index, length: length, deadline: deadline)
            finishAttempt(peer, piece: index, result: result)
            switch result {
            case .success(let delivery):
                return (delivery.bytes.bytes, peer)
            case .failure(let error):
                logger.debug("piece fetch from peer failed",
                             metadata: ["piece": "\(index)", "peer": "\(peer)", "error": "\(error)"])
                if error == .cancelled { throw .cancelled }
                if ContinuousClock.now >= deadline { throw .timedOut }
                tried.insert(peer)
                lastError = error
            }
        }
    }

    /// The healthy connected peers that announced `index` and never sent a bad copy of it, best first
    /// (unchoked before choked, then by expected finish: queued bytes + the piece over the measured rate),
    /// each with that expected finish in seconds.
    public func peers(withPiece index: Int) -> [(peer: PeerId, expectedSeconds: Double)] {
        guard index >= 0, index < layout.pieceCount else { return [] }
        let now = ContinuousClock.now
        let length = layout.length(ofPiece: index)
        return withState { s in
            let optimistic = max(s.peers.values.compactMap(\.rate).max() ?? 0, 100e6)
            return s.peers.compactMap { id, peer -> (PeerId, Int, Double)? in
                guard isHealthy(peer, now: now), !s.sentBadCopy(of: index, peer), peer.connection.has(index) else { return nil }
                let seconds = Double(peer.connection.queuedBytes + length) / max(peer.rate ?? optimistic, 1)
                return (id, peer.connection.isChoking ? 1 : 0, seconds)
            }
            .sorted { ($0.1, $0.2) < ($1.1, $1.2) }
            .map { (peer: $0.0, expectedSeconds: $0.2) }
        }
    }

    /// Fetches a whole piece from one peer, by `timeoutSeconds`; the bytes are not verified (see
    /// `fetch(piece:length:timeoutSeconds:)`). Cancelling the calling task abandons the request.
    public func fetch(piece index: Int, length: Int, from peer: PeerId,
                      timeoutSeconds: Double) async throws(PeerError) -> [UInt8] {
        try await fetchBuffer(piece: index, length: length, from: peer, timeoutSeconds: timeoutSeconds).bytes
    }

    /// `fetch(piece:length:from:timeoutSeconds:)` in the page-aligned buffer the piece was assembled
    /// in (no copy): what the engine verifies, stores and serves.
    public func fetchBuffer(piece index: Int, length: Int, from peer: PeerId,
                            timeoutSeconds: Double) async throws(PeerError) -> PieceBuffer {
        guard index >= 0, index < layout.pieceCount else { throw .noPeerHasPiece(index) }
        precondition(length == layout.length(ofPiece: index),
                     "piece \(index) is \(layout.length(ofPiece: index)) bytes, not \(length)")
        let connection = withState { s -> PeerConnection? in
            guard !s.closed, var connected = s.peers[peer], connected.connection.has(index),
                  !s.sentBadCopy(of: index, connected) else { return nil }
            connected.piecesInFlight.insert(index)
            s.peers[peer] = connected
            return connected.connection
        }
        guard let connection else { throw .noPeerHasPiece(index) }
        let result = await connection.fetch(piece: index, length: length, deadline: ContinuousClock.now + .seconds(timeoutSeconds))
        finishAttempt(peer, piece: index, result: result)
        switch result {
        case .success(let delivery): return delivery.bytes
        case .failure(let error): throw error
        }
    }

    /// How long `peer` has choked us (our requests to it wait unsent for one of its upload slots);
    /// `nil` while it does not, or when it is not connected.
    public func chokingSeconds(_ peer: PeerId) -> Double? {
        withState { $0.peers[peer]?.connection }?.chokingSeconds
    }

    /// Whether `peer` sent us a block (of any piece) within the last `seconds`.
    public func isSending(_ peer: PeerId, within seconds: Double) -> Bool {
        guard let connection = withState({ $0.peers[peer]?.connection }) else { return false }
        return connection.receivedBlock(within: seconds)
    }

    /// Drops a peer that keeps timing out for the scheduler: disconnected, and not reconnected for
    /// `slowPeerBackoffSeconds`. Not a ban: it never sent a bad byte.
    public func drop(_ peer: PeerId) {
        let now = ContinuousClock.now
        let dropped = withState { s -> PeerConnection? in
            guard let connected = s.peers.removeValue(forKey: peer) else { return nil }
            s.known[connected.endpoint]?.retryAt = now + .seconds(configuration.slowPeerBackoffSeconds)
            return connected.connection
        }
        guard let dropped else { return }
        logger.info("dropping peer: it keeps timing out", metadata: ["peer": "\(peer)"])
        dropped.close()
        fillConnections()
    }

    /// Charges the peer that delivered `piece` (as `peer`) for a copy that failed SHA-256: to its
    /// identity and to its address (see "Bans"). `piece`, if given, is never fetched from that address
    /// again. Returns true if the peer is now banned (its identity or its address) and disconnected.
    @discardableResult
    public func reportBadPiece(from peer: PeerId, piece: Int? = nil) -> Bool {
        let charge = withState { s -> BadPieceCharge? in
            let source = piece.flatMap { s.lastSource[$0] }.flatMap { $0.peerId == peer ? $0 : nil }
            guard let identity = source ?? s.hostOf[peer].map({ Identity(peerId: peer, host: $0) }) else { return nil }
            var charge = BadPieceCharge(identity: identity)
            if s.isRefused(identity) {
                charge.alreadyBanned = true
                return charge
            }
            s.badPieceCounts[identity, default: 0] += 1
            s.badPieceCountsByHost[identity.host, default: 0] += 1
            if let piece { s.badPiecesByHost[identity.host, default: []].insert(piece) }
            charge.count = s.badPieceCounts[identity]!
            charge.addressCount = s.badPieceCountsByHost[identity.host]!
            charge.identities = s.badPieceCounts.keys.filter { $0.host == identity.host }.count
            if charge.addressCount >= configuration.banThreshold {
                charge.addressBanned = true
                s.bannedHosts.insert(identity.host)
                s.known = s.known.filter { $0.value.address.canonicalHost != identity.host }
            }
            if charge.count >= configuration.banThreshold {
                charge.identityBanned = true
                s.known = s.known.filter { $0.value.address.peerId != peer || $0.value.address.canonicalHost != identity.host }
            }
            if charge.identityBanned { s.banned.insert(identity) }
            if charge.addressBanned {
                // Every identity ever connected at the address is banned with it.
                for (id, host) in s.hostOf where host == identity.host { s.banned.insert(Identity(peerId: id, host: host)) }
            }
            for (id, connected) in s.peers where s.isRefused(connected.identity) {
                s.peers[id] = nil
                charge.disconnected.append(connected.connection)
            }
            return charge
        }
        guard let charge else {
            logger.warning("bad piece from a peer we never connected; not charged", metadata: ["peer": "\(peer)"])
            return false
        }
        if charge.identityBanned || charge.addressBanned { SwarmMetrics.peerBans.increment() }
        let metadata: Logger.Metadata = ["peer": "\(peer)", "address": "\(charge.identity.host)"]
        if charge.addressBanned {
            logger.warning("address banned for this content after \(charge.addressCount) bad pieces from \(charge.identities) peer id(s); \(charge.disconnected.count) connection(s) dropped",
                           metadata: metadata)
        } else if charge.identityBanned {
            logger.warning("peer banned for this content at this address after \(charge.count) bad pieces", metadata: metadata)
        } else if !charge.alreadyBanned {
            logger.info("bad piece from peer (\(charge.count) of \(configuration.banThreshold); its address \(charge.addressCount) of \(configuration.banThreshold))",
                        metadata: metadata)
        }
        for connection in charge.disconnected { connection.close() }
        if !charge.disconnected.isEmpty { fillConnections() }
        return charge.alreadyBanned || charge.identityBanned || charge.addressBanned
    }

    /// What one `reportBadPiece` did, for logging outside the lock.
    private struct BadPieceCharge {
        var identity: Identity
        var alreadyBanned = false
        var count = 0
        var addressCount = 0
        var identities = 0
        var identityBanned = false
        var addressBanned = false
        var disconnected: [PeerConnection] = []
    }

    /// Whether this peer id is banned at some address (by its own bad pieces or its address's).
    public func isBanned(_ peer: PeerId) -> Bool { withState { s in s.banned.contains { $0.peerId == peer } } }

    /// The peer id connected at each endpoint we connected to (host:port, as the control plane listed it).
    public var connectedEndpoints: [String: PeerId] { withState { $0.openEndpoints } }

    /// Of `listed` (endpoint to the peer id the control plane listed there), the ids the connections do
    /// not rule out, in one look: not banned at some address, not unreachable (see `unreachablePeers`),
    /// and not displaced (an open connection at that endpoint answered as another id).
    public func listedMembers(_ listed: [String: PeerId]) -> [PeerId] {
        withState { s in
            let there = s.openEndpoints
            let out = s.unreachable.union(s.banned.map(\.peerId))
            return listed.compactMap { endpoint, id in
                if let connected = there[endpoint], connected != id { return nil }
                return out.contains(id) ? nil : id
            }
        }
    }

    /// Whether this IP address is banned for this content (every peer id there).
    public func isBanned(address host: String) -> Bool {
        let host = PeerAddress.canonicalHost(host)
        return withState { $0.bannedHosts.contains(host) }
    }

    /// Peer ids of the open connections.
    public var connectedPeers: [PeerId] {
        withState { s in s.peers.filter { $0.value.connection.isOpen }.map(\.key) }
    }

    /// Of the open connections: how many peers have said what they hold (a bitfield or a `have`), and
    /// how many of those hold pieces. What a member arriving in a swarm knows of it so far.
    public var holdingsHeard: (told: Int, holding: Int) {
        holdingsHeard(where: { _ in true })
    }

    /// `holdingsHeard`, of the open connections to `peers` only.
    public func holdingsHeard(from peers: Set<PeerId>) -> (told: Int, holding: Int) {
        holdingsHeard(where: peers.contains)
    }

    private func holdingsHeard(where included: (PeerId) -> Bool) -> (told: Int, holding: Int) {
        let told = withState { s in
            s.peers.compactMap { id, peer in peer.connection.isOpen && included(id) ? peer.connection.toldHoldings : nil }
        }
        return (told.count, told.filter { $0 > 0 }.count)
    }

    /// Peer ids whose last connection failed or broke (refused, timed out, dropped) and that are not
    /// connected now: most likely gone. A listed peer we never tried is not among them.
    public var unreachablePeers: Set<PeerId> { withState { $0.unreachable } }

    /// The highest piece index announced by each open connection that does not announce every piece
    /// (a peer still downloading), less `excluded`: where the swarm's readers are.
    public func announcedFrontiers(excluding excluded: (PeerId) -> Bool) -> [PeerId: Int] {
        let open = withState { s in s.peers.filter { $0.value.connection.isOpen }.map { ($0.key, $0.value.connection) } }
        var out: [PeerId: Int] = [:]
        for (id, connection) in open where !excluded(id) {
            if let highest = connection.highestAnnouncedIfIncomplete { out[id] = highest }
        }
        return out
    }

    /// Per open connection not `excluded` that announced some pieces but not all (a peer still
    /// downloading): the lowest piece it lacks and the highest it announced. Where the swarm's readers
    /// are, the slowest and the furthest.
    public func announcedSpans(excluding excluded: (PeerId) -> Bool) -> [PeerId: (lowestMissing: Int, highest: Int)] {
        let open = withState { s in s.peers.filter { $0.value.connection.isOpen }.map { ($0.key, $0.value.connection) } }
        var out: [PeerId: (lowestMissing: Int, highest: Int)] = [:]
        for (id, connection) in open where !excluded(id) {
            if let span = connection.announcedSpanIfIncomplete { out[id] = span }
        }
        return out
    }

    /// The open connections that claim to be fetching `index` from HTTP now (`PeerMessage.fetching`),
    /// with how long ago each claim was first heard.
    public func claims(of index: Int) -> [(peer: PeerId, ageSeconds: Double)] {
        guard index >= 0, index < layout.pieceCount else { return [] }
        let now = ContinuousClock.now
        return connections.compactMap { id, connection in connection.claimed(index).map { (id, (now - $0).seconds) } }
    }

    /// The pieces some open connection not `excluded` claims to be fetching from HTTP now, in claims
    /// first heard less than `seconds` ago.
    public func claimedPieces(within seconds: Double, excluding excluded: (PeerId) -> Bool) -> Set<Int> {
        let since = ContinuousClock.now - .seconds(seconds)
        var out: Set<Int> = []
        for (id, connection) in connections where !excluded(id) {
            out.formUnion(connection.claims.filter { $0.value > since }.keys)
        }
        return out
    }

    /// Every connection with its peer id, taken under the lock once; each is asked outside it.
    private var connections: [(PeerId, PeerConnection)] { withState { s in s.peers.map { ($0.key, $0.value.connection) } } }

    /// How many pieces a connected `peer` has announced; `nil` when it is not connected.
    public func piecesAnnounced(by peer: PeerId) -> Int? {
        withState { s in s.peers[peer].flatMap { $0.connection.isOpen ? $0.connection.piecesAvailable : nil } }
    }

    /// Whether `peer` is connected, has been for at least `seconds`, and announced no piece at all.
    public func announcedNothing(_ peer: PeerId, connectedFor seconds: Double) -> Bool {
        withState { s in
            guard let connected = s.peers[peer], connected.connection.isOpen else { return false }
            return connected.connection.piecesAvailable == 0 && ContinuousClock.now - connected.connectedAt >= .seconds(seconds)
        }
    }

    /// The pieces some connected peer not `excluded` announced.
    public func announcedPieces(excluding excluded: (PeerId) -> Bool) -> Bitfield {
        var out = Bitfield(pieceCount: layout.pieceCount)
        for (id, connection) in connections where !excluded(id) {
            if let announced = connection.announced { out.formUnion(announced) }
        }
        return out
    }

    /// What we know about each connected peer, for status displays.
    public var peerInfo: [SwarmPeerInfo] {
        withState { s in
            s.peers.map { id, peer in
                SwarmPeerInfo(peerId: id, endpoint: peer.endpoint, bytesPerSecond: peer.rate,
                              downloadedBytes: peer.downloadedBytes, piecesAvailable: peer.connection.piecesAvailable,
                              isChokingUs: peer.connection.isChoking,
                              badPieces: s.badPieceCounts[peer.identity] ?? 0)
            }
        }
    }

    /// Disconnects every peer and waits until all connections are gone. Later fetches throw `.closed`.
    public func close() async {
        let (tasks, connections) = withState { s in
            s.closed = true
            let connections = s.peers.values.map(\.connection)
            s.peers.removeAll()
            return (Array(s.tasks.values), connections)
        }
        for connection in connections { connection.close() }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    // MARK: - Internals

    private func isHealthy(_ peer: ConnectedPeer, now: ContinuousClock.Instant) -> Bool {
        peer.connection.isOpen && (peer.backoffUntil.map { $0 <= now } ?? true)
    }

    /// Starts connections to known addresses while there is room.
    private func fillConnections() {
        let now = ContinuousClock.now
        withState { s in
            guard !s.closed else { return }
            var active = s.peers.count + s.known.values.filter(\.connecting).count
            // Full (the usual case in a large swarm, asked on every join answer): no order to make.
            guard active < maxPeers else { return }
            // Fewest failures first, and in a random order among equals. In the endpoints' order every
            // member of a large swarm connected to the same lowest 16 addresses: those hubs downloaded
            // only from one another, and a piece that another member fetched from the CDN never reached
            // them, nor anyone else (100 peers: the first members waited the 30 s hold for pieces held
            // since the third second, and owners fetched them again). A random pick gives each member
            // its own 16, and a piece spreads from whoever fetched it.
            let order = s.known.map { ($0.value.failures, UInt64.random(in: 0 ... .max), $0.key) }
                .sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
            for endpoint in order where active < maxPeers {
                guard var known = s.known[endpoint], !known.connecting, known.connectedAs == nil,
                      known.retryAt.map({ $0 <= now }) ?? true else { continue }
                if let id = known.address.peerId, s.peers[id] != nil { continue }
                known.connecting = true
                s.known[endpoint] = known
                active += 1
                let taskId = s.nextTaskId
                s.nextTaskId += 1
                let address = known.address
                s.tasks[taskId] = Task { await self.runPeer(address, endpoint: endpoint, taskId: taskId) }
            }
        }
    }

    /// One connection's life: connect, serve, and account for how it ended.
    private func runPeer(_ address: PeerAddress, endpoint: String, taskId: Int) async {
        var attached: PeerConnection?
        let reason = await PeerConnection.run(
            address: address, swarmHash: swarmHash, ourPeerId: ourPeerId, layout: layout, ours: ours,
            configuration: configuration, logger: logger, onAnnounce: { [weak self] piece in self?.announced(piece: piece) }
        ) { connection in
            guard attach(connection, endpoint: endpoint) else { return false }
            attached = connection
            return true
        }
        detach(attached, endpoint: endpoint, reason: reason, taskId: taskId)
        fillConnections()
    }

    private func attach(_ connection: PeerConnection, endpoint: String) -> Bool {
        let id = connection.remotePeerId
        let accepted = withState { s in
            if s.isRefused(Identity(peerId: id, host: connection.remoteHost)) {
                // Not retried until the control plane lists the endpoint again.
                s.known[endpoint] = nil
                return false
            }
            guard !s.closed, s.peers[id] == nil else { return false }
            s.peers[id] = ConnectedPeer(connection: connection, endpoint: endpoint)
            s.hostOf[id] = connection.remoteHost
            s.known[endpoint]?.connecting = false
            s.known[endpoint]?.connectedAs = id
            return true
        }
        if accepted { logger.debug("peer connected", metadata: ["peer": "\(id)", "endpoint": "\(endpoint)"]) }
        return accepted
    }

    private func detach(_ connection: PeerConnection?, endpoint: String, reason: PeerError, taskId: Int) {
        let now = ContinuousClock.now
        withState { s in
            s.tasks[taskId] = nil
            if let connection, s.peers[connection.remotePeerId]?.connection === connection {
                s.peers[connection.remotePeerId] = nil
            }
            if reason == .connectedToSelf {
                s.ourEndpoints.insert(endpoint)
                s.known[endpoint] = nil
                return
            }
            guard var known = s.known[endpoint] else { return }
            known.connecting = false
            known.connectedAs = nil
            if reason != .closed, reason != .cancelled {
                known.failures += 1
                let retry = now + configuration.backoff(afterFailures: known.failures)
                known.retryAt = max(known.retryAt ?? retry, retry)
            }
            s.known[endpoint] = known
        }
        if reason != .closed, reason != .cancelled {
            logger.debug("peer connection ended", metadata: ["endpoint": "\(endpoint)", "reason": "\(reason)"])
        }
    }

    /// The best candidate for `piece`, marked as fetching it.
    private func choose(piece: Int, length: Int, excluding tried: Set<PeerId>) -> (PeerId, PeerConnection)? {
        let now = ContinuousClock.now
        return withState { s in
            // Not measured yet: assumed at least as fast as the best, so every new peer gets tried.
            let optimistic = max(s.peers.values.compactMap(\.rate).max() ?? 0, 100e6)
            var best: (id: PeerId, choked: Int, seconds: Double)?
            for (id, peer) in s.peers where !tried.contains(id) && !peer.piecesInFlight.contains(piece) {
                guard isHealthy(peer, now: now), !s.sentBadCopy(of: piece, peer), peer.connection.has(piece) else { continue }
                let choked = peer.connection.isChoking ? 1 : 0
                let seconds = Double(peer.connection.queuedBytes + length) / max(peer.rate ?? optimistic, 1)
                if let current = best, (current.choked, current.seconds) <= (choked, seconds) { continue }
                best = (id, choked, seconds)
            }
            guard let chosen = best?.id, var peer = s.peers[chosen] else { return nil }
            peer.piecesInFlight.insert(piece)
            s.peers[chosen] = peer
            return (chosen, peer.connection)
        }
    }

    /// Books the outcome of one attempt: rate on success, back-off (and maybe a drop) on failure.
    private func finishAttempt(_ id: PeerId, piece: Int, result: Result<PeerConnection.Delivery, PeerError>) {
        let now = ContinuousClock.now
        var dropped: [(PeerConnection, String)] = []
        withState { s in
            guard var peer = s.peers[id] else { return }
            peer.piecesInFlight.remove(piece)
            switch result {
            case .success(let delivery):
                let sample = Double(delivery.bytes.count) / max(delivery.seconds, 1e-6)
                peer.rate = peer.rate.map { 0.7 * $0 + 0.3 * sample } ?? sample
                peer.samples += 1
                peer.downloadedBytes += delivery.bytes.count
                peer.consecutiveFailures = 0
                peer.backoffUntil = nil
                s.peers[id] = peer
                s.lastSource[piece] = peer.identity
                s.known[peer.endpoint]?.failures = 0
                dropped = dropSlowPeers(&s, now: now)
            case .failure(.timedOut):
                peer.consecutiveFailures += 1
                peer.backoffUntil = now + configuration.backoff(afterFailures: peer.consecutiveFailures)
                s.peers[id] = peer
                if peer.consecutiveFailures >= configuration.maxConsecutiveFailures {
                    s.peers[id] = nil
                    if var known = s.known[peer.endpoint] {
                        // Reconnecting a peer that keeps failing waits longer each time.
                        known.failures += 1
                        known.retryAt = now + configuration.backoff(afterFailures: known.failures + 1)
                        s.known[peer.endpoint] = known
                    }
                    dropped.append((peer.connection, "\(peer.consecutiveFailures) failures in a row"))
                }
            case .failure:
                s.peers[id] = peer
            }
        }
        for (connection, why) in dropped {
            logger.info("dropping peer: \(why)", metadata: ["peer": "\(connection.remotePeerId)"])
            connection.close()
        }
        if !dropped.isEmpty { fillConnections() }
    }

    /// Drops peers much slower than the measured peers' typical rate, when they have nothing in flight
    /// and are not the only source of a piece we lack (`onlySource`).
    private func dropSlowPeers(_ s: inout State, now: ContinuousClock.Instant) -> [(PeerConnection, String)] {
        let measured = s.peers.filter { $0.value.samples >= configuration.slowPeerMinSamples && $0.value.rate != nil }
        let rates = measured.values.compactMap(\.rate)
        guard let reference = Self.slowPeerReference(rates) else { return [] }
        var dropped: [(PeerConnection, String)] = []
        for (id, peer) in measured where peer.rate! * configuration.slowPeerFactor < reference && peer.piecesInFlight.isEmpty
            && !onlySource(id, s) {
            s.peers[id] = nil
            s.known[peer.endpoint]?.retryAt = now + .seconds(configuration.slowPeerBackoffSeconds)
            dropped.append((peer.connection, "\(Int(peer.rate!)) B/s against \(Int(reference)) B/s for the typical peer"))
        }
        return dropped
    }

    /// Whether peer `id` is the only open connection that announced a piece we lack, or claims to be
    /// fetching one from HTTP (a claim heard within `freshClaimSeconds`). A slow peer is dropped in
    /// favour of faster sources, and for such a piece there is none but the origin: in a 100-peer swarm
    /// an eldest member busy with its upload slots delivered 18 times slower than the typical peer, was
    /// dropped right after fetching a piece it owned, and the member that dropped it fetched that piece
    /// from the origin again (fleet-bench).
    private func onlySource(_ id: PeerId, _ s: State) -> Bool {
        guard let connection = s.peers[id]?.connection else { return false }
        let others = s.peers.filter { $0.key != id }.map(\.value.connection)
        let fresh = ContinuousClock.now - .seconds(Self.freshClaimSeconds)
        func offers(_ peer: PeerConnection, _ piece: Int) -> Bool {
            peer.has(piece) || (peer.claimed(piece).map { $0 > fresh } ?? false)
        }
        return (0..<layout.pieceCount).contains { piece in
            !ours.contains(piece) && offers(connection, piece) && !others.contains { offers($0, piece) }
        }
    }

    /// How long a `fetching` claim counts as a piece on its way, for `onlySource`: the longest the engine
    /// waits for a claimant (`PeeringConfiguration`'s longest owner wait, 5 s).
    static let freshClaimSeconds = 5.0

    /// The rate a slow peer is compared with: with two measured peers the better one, with more their
    /// median (the upper one of an even count). Against the best of many, one lucky burst (a piece
    /// that came at 40 MB/s while every server was busy) made ordinary members look ten times slower:
    /// a mount of eight on two busy cores dropped five of its seven peers, and with them the pieces
    /// they owned (swarm-bench, N = 8). `nil` with fewer than two.
    public static func slowPeerReference(_ rates: [Double]) -> Double? {
        guard rates.count >= 2 else { return nil }
        let sorted = rates.sorted()
        return sorted[sorted.count / 2]
    }
}

/// One connected peer as the swarm sees it.
public struct SwarmPeerInfo: Sendable, Equatable {
    public var peerId: PeerId
    /// host:port we connected to.
    public var endpoint: String
    /// Measured download rate, `nil` before the first piece.
    public var bytesPerSecond: Double?
    /// Piece bytes received from it.
    public var downloadedBytes: Int
    /// Pieces it announced (bitfield and `have`).
    public var piecesAvailable: Int
    /// Whether it is choking us now.
    public var isChokingUs: Bool
    /// Pieces it sent that failed SHA-256.
    public var badPieces: Int
}
