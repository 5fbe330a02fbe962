import DOCore
import Logging
import NIOCore
import Synchronization

/// One peer connected to our server, after a handshake for a content we hold: its choke state,
/// its queued requests, and the single task that writes to it.
///
/// Two tasks share the state below (under one lock): the reader (messages from the peer, run by
/// `PeerServer`) and the sender (`sendLoop`, the only writer: control messages first, then blocks);
/// the process's `ConnectionTicker` runs `tick` (keep-alives, `have` for new pieces, taking back an
/// idle slot). Other sessions only call
/// `slotGranted()`; the server reads `activity` when it must drop a connection for a newcomer.
final class ServerSession: Sendable {
    /// A block the peer asked for.
    struct BlockRequest: Equatable {
        var piece: Int
        var begin: Int
        var length: Int
    }

    private enum Work {
        case send(PeerMessage)
        case serve(BlockRequest, epoch: Int)
        /// Our slot's turn is over (`PeerServerConfiguration.slotTurnSeconds`): the peer is choked; the
        /// slot goes to the peer waiting first.
        case endTurn
    }

    private struct State {
        var peerInterested = false
        /// We choke until a slot is ours and the peer wants data (BitTorrent semantics: requests that
        /// arrive while choked are dropped, so a `choke` also voids the queue).
        var amChoking = true
        var holdsSlot = false
        /// Bumped by every choke, so a block prepared before a choke is not sent after it.
        var chokeEpoch = 0
        var control: [PeerMessage] = []
        var requests = CircularBuffer<BlockRequest>()
        var advertised: Bitfield
        /// The slot's idle clock: last request, or when the slot was granted.
        var lastRequestAt: ContinuousClock.Instant
        /// Eviction's idle clock: last request accepted (or the session's start). Unlike
        /// `lastRequestAt`, a slot grant does not reset it.
        var requestedAt: ContinuousClock.Instant
        /// Since when the current slot is held.
        var slotSince: ContinuousClock.Instant?
        /// The piece whose blocks went out last in this slot: a turn ends only between two pieces.
        var servingPiece: Int?
        /// Our slot was taken from us and is being handed on (`handOnSlot`): until then the slot table
        /// still counts it ours, and an `interested` must not take it back.
        var handingOn = false
        /// When the last block went out.
        var lastBlockAt: ContinuousClock.Instant?
        var lastWriteAt: ContinuousClock.Instant
        var lastHaveCheckAt: ContinuousClock.Instant
        /// When we last choked the peer because a piece could not be served.
        var rejectedAt: ContinuousClock.Instant?
        var finished = false
    }

    let id: Int
    let content: SharedContent
    let remotePeerId: PeerId
    let channel: Channel
    private let server: PeerServer
    private let configuration: PeerServerConfiguration
    private let logger: Logger
    private let state: Mutex<State>
    private let wakeStream: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation

    init(id: Int, content: SharedContent, remotePeerId: PeerId, channel: Channel, server: PeerServer, logger: Logger) {
        self.id = id
        self.content = content
        self.remotePeerId = remotePeerId
        self.channel = channel
        self.server = server
        self.configuration = server.configuration
        self.logger = logger
        let now = ContinuousClock.now
        state = Mutex(State(advertised: Bitfield(pieceCount: content.layout.pieceCount),
                            lastRequestAt: now, requestedAt: now, lastWriteAt: now, lastHaveCheckAt: now))
        (wakeStream, wakeContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// The opening messages after our handshake: the bitfield of what we hold now, then a `fetching`
    /// claim for each piece on its way from HTTP.
    func start() {
        let have = content.have()
        let fetching = content.fetching()
        state.withLock { s in
            s.advertised = have
            s.control.append(.bitfield(have.bytes))
            for piece in fetching { Self.queueClaim(piece, in: &s) }
        }
        wake()
    }

    /// Handles one message from the peer; throws (closing the connection) when it breaks a limit.
    func receive(_ message: PeerMessage) throws(PeerError) {
        var releaseSlot = false
        try state.withLock { s throws(PeerError) in
            switch message {
            case .interested:
                s.peerInterested = true
                if !s.holdsSlot, !s.handingOn, server.slots.acquire(id) {
                    s.holdsSlot = true
                    s.slotSince = .now
                    s.lastRequestAt = .now
                }
                if s.holdsSlot, s.amChoking {
                    s.amChoking = false
                    s.rejectedAt = nil
                    s.control.append(.unchoke)
                }
            case .notInterested:
                s.peerInterested = false
                Self.choke(&s)
                releaseSlot = true
                s.holdsSlot = false
            case .request(let piece, let begin, let length):
                guard !s.amChoking else { return }
                let request = try validate(piece: piece, begin: begin, length: length)
                guard s.requests.count < configuration.maxOutstandingRequests else {
                    throw .misbehaved("more than \(configuration.maxOutstandingRequests) outstanding requests")
                }
                s.requests.append(request)
                s.lastRequestAt = .now
                s.requestedAt = s.lastRequestAt
            case .cancel(let piece, let begin, let length):
                let request = BlockRequest(piece: Int(piece), begin: Int(begin), length: Int(length))
                if let i = s.requests.firstIndex(of: request) { s.requests.remove(at: i) }
            default:
                break
            }
        }
        if releaseSlot { server.releaseSlot(of: id) }
        wake()
    }

    /// Another session freed a slot and `UploadSlots` gave it to us.
    func slotGranted() {
        let giveBack = state.withLock { s in
            guard s.peerInterested, !s.finished else { return true }
            s.holdsSlot = true
            s.slotSince = .now
            s.lastRequestAt = .now
            if s.amChoking {
                s.amChoking = false
                s.control.append(.unchoke)
            }
            return false
        }
        if giveBack { server.releaseSlot(of: id) } else { wake() }
    }

    /// What the server weighs when it must drop a connection for a newcomer (see `ConnectionActivity`).
    var activity: ConnectionActivity {
        state.withLock { s in
            ConnectionActivity(idleSince: s.requestedAt,
                               slotStalledSince: s.holdsSlot ? [s.slotSince, s.lastBlockAt].compactMap { $0 }.max() : nil)
        }
    }

    /// The connection ended: stop the tasks and hand our slot (or queue place) on.
    func finish() {
        state.withLock { s in
            s.finished = true
            s.holdsSlot = false
            s.requests.removeAll()
        }
        wakeContinuation.finish()
        server.releaseSlot(of: id)
    }

    /// The only writer: sends control messages, then serves queued blocks while the peer is unchoked.
    ///
    /// The work queued at a wake-up goes out in batches of up to `sendBatchBytes` (blocks of one piece
    /// at most, since the next piece may have to be read and hashed first), in queue order, one write
    /// (and one flush, one `writev`) per batch: a downloader asks for 64 blocks at once, and one
    /// event-loop task and one system call per 16 KiB block kept eight mounts' servers on two busy cores
    /// at ~14 MB/s each while their CPUs were mostly idle, waiting on hops (swarm-bench, N = 8).
    func sendLoop(_ outbound: NIOAsyncChannelOutboundWriter<PeerFrame>) async throws {
        let remote = channel.remoteAddress?.ipAddress
        for await _ in wakeStream {
            var batch: [PeerFrame] = []
            var batchBytes = 0
            var blocks = 0
            var batchPiece: Int?
            func flush() async throws {
                guard !batch.isEmpty else { return }
                try await outbound.write(contentsOf: batch)
                noteWrite(block: blocks > 0)
                batch.removeAll(keepingCapacity: true)
                batchBytes = 0
                blocks = 0
            }
            while let work = nextWork() {
                switch work {
                case .send(let message):
                    batch.append(.message(message))
                    batchBytes += 64
                case .endTurn:
                    try await flush()
                    logger.debug("upload slot handed on: its turn is over and another peer waits", metadata: ["peer": "\(remotePeerId)"])
                    handOnSlot()
                case .serve(let request, let epoch):
                    // Blocks of the piece before go out first: this one may have to be read and hashed.
                    if request.piece != batchPiece { try await flush() }
                    batchPiece = request.piece
                    guard let bytes = try await server.verifiedPieces.verifiedPiece(request.piece, of: content) else {
                        reject(piece: request.piece)
                        continue
                    }
                    // Choked (or cancelled as a whole) while the piece was being verified: not sent.
                    guard state.withLock({ $0.chokeEpoch == epoch }) else { continue }
                    let block = Array(bytes[request.begin..<(request.begin + request.length)])
                    if let limiter = configuration.uploadLimiter, !(await limiter.admit(bytes: block.count, to: remote)) {
                        reject(piece: request.piece, reason: "the upload policy refuses more bytes")
                        continue
                    }
                    // Counted when handed to the socket, so a downloader never holds bytes we have not counted.
                    server.recordUpload(swarmHash: content.swarmHash, bytes: block.count)
                    batch.append(.message(.piece(piece: UInt32(request.piece), begin: UInt32(request.begin), data: block)))
                    batchBytes += block.count
                    blocks += 1
                }
                if batchBytes >= Self.sendBatchBytes { try await flush() }
            }
            try await flush()
        }
    }

    /// Bytes of blocks (and messages) written at once (see `sendLoop`): 16 blocks of 16 KiB, a quarter
    /// of a piece, so a piece goes out in four writes while a batch never holds much memory.
    static let sendBatchBytes = 256 * 1024

    /// How often `tick` runs.
    var tickInterval: Double {
        let turn = configuration.slotTurnSeconds > 0 ? configuration.slotTurnSeconds / 2 : .infinity
        return max(0.05, min(1.0, configuration.slotIdleSeconds / 4, turn, configuration.haveRefreshSeconds,
                             configuration.keepAliveSeconds / 2))
    }

    /// Periodic duties: keep-alives, `have` for newly verified pieces, handing on an idle slot or one
    /// whose turn is over. Run by the process's `ConnectionTicker`.
    func tick() {
        let now = ContinuousClock.now
        let needsHaveCheck = state.withLock { now - $0.lastHaveCheckAt >= .seconds(configuration.haveRefreshSeconds) }
        let have = needsHaveCheck ? content.have() : nil
        var reclaimed = false
        let send = state.withLock { s -> Bool in
            if let have {
                s.lastHaveCheckAt = now
                for piece in 0..<have.pieceCount where have[piece] && !s.advertised[piece] {
                    s.advertised[piece] = true
                    s.control.append(.have(piece: UInt32(piece)))
                }
            }
            // A slot with no request queued is between two pieces: its turn may end there too.
            if s.holdsSlot, s.requests.isEmpty,
               turnIsOver(s) || (now - s.lastRequestAt >= .seconds(configuration.slotIdleSeconds) && server.slots.hasWaiters) {
                Self.choke(&s)
                s.holdsSlot = false
                s.handingOn = true
                reclaimed = true
            }
            // A peer that does not re-send `interested` after a refusal (a plain BitTorrent client) is
            // unchoked anyway once its requests in flight have surely arrived and been dropped.
            if let rejectedAt = s.rejectedAt, now - rejectedAt >= Self.rejectionUnchokeDelay {
                s.rejectedAt = nil
                if s.holdsSlot, s.amChoking, s.peerInterested {
                    s.amChoking = false
                    s.control.append(.unchoke)
                }
            }
            if now - s.lastWriteAt >= .seconds(configuration.keepAliveSeconds), s.control.isEmpty {
                s.control.append(.keepAlive)
            }
            return !s.control.isEmpty
        }
        if reclaimed {
            logger.debug("upload slot handed on: idle, or its turn is over, and another peer waits", metadata: ["peer": "\(remotePeerId)"])
            handOnSlot()
        }
        // The sender only when there is something to send: an idle connection ticks every second.
        if send { wake() }
    }

    /// Announces a piece the engine has just verified, without waiting for the next periodic check.
    func announce(piece: Int) {
        let added = state.withLock { s -> Bool in
            guard piece < s.advertised.pieceCount, !s.advertised[piece] else { return false }
            s.advertised[piece] = true
            s.control.append(.have(piece: UInt32(piece)))
            return true
        }
        if added { wake() }
    }

    /// Tells the peer we are fetching `piece` from HTTP (unless we announced it already).
    func claim(piece: Int) {
        if state.withLock({ Self.queueClaim(piece, in: &$0) }) { wake() }
    }

    /// Queues a `fetching` claim for `piece` unless we advertised it; `true` when queued.
    @discardableResult
    private static func queueClaim(_ piece: Int, in s: inout State) -> Bool {
        guard piece < s.advertised.pieceCount, !s.advertised[piece] else { return false }
        s.control.append(.fetching(piece: UInt32(piece)))
        return true
    }

    private func nextWork() -> Work? {
        state.withLock { s in
            if !s.control.isEmpty { return .send(s.control.removeFirst()) }
            guard !s.amChoking, let request = s.requests.first else { return nil }
            if request.piece != s.servingPiece, turnIsOver(s) {
                Self.choke(&s)
                s.holdsSlot = false
                s.handingOn = true
                return .endTurn
            }
            s.requests.removeFirst()
            s.servingPiece = request.piece
            return .serve(request, epoch: s.chokeEpoch)
        }
    }

    /// Whether our slot has been held for a turn (`slotTurnSeconds`) while another peer waits for one.
    private func turnIsOver(_ s: State) -> Bool {
        guard configuration.slotTurnSeconds > 0, s.holdsSlot, let since = s.slotSince,
              ContinuousClock.now - since >= .seconds(configuration.slotTurnSeconds) else { return false }
        return server.slots.hasWaiters
    }

    /// Gives our slot (taken from us, choked) to the peer waiting first; a peer still interested queues
    /// again, behind the peers that waited.
    private func handOnSlot() {
        server.releaseSlot(of: id)
        let interested = state.withLock { s in
            s.handingOn = false
            return s.peerInterested
        }
        if interested, server.slots.acquire(id) { slotGranted() }
    }

    /// We cannot serve `piece` (no longer held, or it failed its hash): choke the peer, which voids its
    /// queue and fails its fetch at once instead of letting it time out. The peer gets unchoked again
    /// when it says `interested` again (or after a second, for peers that never do); requests it sent
    /// before seeing the choke arrive before that and are dropped, so the choke cannot be mistaken for
    /// one about a later request.
    private func reject(piece: Int, reason: String = "no longer held or failed SHA-256 re-verification") {
        logger.warning("not serving piece: \(reason)", metadata: ["piece": "\(piece)", "peer": "\(remotePeerId)"])
        state.withLock { s in
            Self.choke(&s)
            s.rejectedAt = .now
        }
        wake()
    }

    /// How long a refused peer stays choked if it does not re-send `interested` first.
    private static let rejectionUnchokeDelay = Duration.seconds(1)

    private func validate(piece: UInt32, begin: UInt32, length: UInt32) throws(PeerError) -> BlockRequest {
        let index = Int(piece)
        guard index < content.layout.pieceCount else {
            throw .misbehaved("request for piece \(index) of \(content.layout.pieceCount)")
        }
        guard length > 0, Int(length) <= configuration.maxBlockLength else {
            throw .misbehaved("request for a block of \(length) bytes (limit \(configuration.maxBlockLength))")
        }
        guard Int(begin) + Int(length) <= content.layout.length(ofPiece: index) else {
            throw .misbehaved("request for bytes \(begin)+\(length) past the end of piece \(index)")
        }
        return BlockRequest(piece: index, begin: Int(begin), length: Int(length))
    }

    private func noteWrite(block: Bool = false) {
        let now = ContinuousClock.now
        state.withLock { s in
            s.lastWriteAt = now
            if block { s.lastBlockAt = now }
        }
    }

    private func wake() {
        wakeContinuation.yield()
    }

    private static func choke(_ s: inout State) {
        s.requests.removeAll()
        s.servingPiece = nil
        guard !s.amChoking else { return }
        s.amChoking = true
        s.chokeEpoch += 1
        s.control.append(.choke)
    }
}
