import DOCore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A connection we opened to a peer, to download pieces of one content from it.
///
/// After the handshake (the peer must echo our swarm hash, must not be us, and must carry the peer id
/// the control plane announced) we learn what it has from its bitfield and `have` messages.
///
/// We are `interested` while the peer has a piece we lack (`OurPieces`) or we are fetching from it, and
/// say `notInterested` as soon as neither holds (BitTorrent semantics). A peer server gives its upload
/// slots only to interested peers, and before this a member that had everything kept its slots at
/// every peer until their idle timeout: 3,534 slots sat idle 10 s each with peers queued for them in
/// one 100-peer run, and late members' pieces waited there until their hold ran out and came from the
/// origin again. `fetch` splits a piece into 16 KiB blocks; the connection keeps up to
/// `maxOutstandingRequests` of them requested at once (across all pieces in flight) while the peer
/// unchokes us, and assembles each piece in place, in the page-aligned buffer (`PieceBuffer`) the
/// engine stores and serves as it is.
///
/// A `choke` voids every request in flight (BitTorrent semantics). A piece choked for the first time
/// goes back to the queue, its voided blocks first, and is asked again when the peer unchokes us: a
/// dofs server whose slot turn is over (`PeerServerConfiguration.slotTurnSeconds`) chokes between two
/// pieces, while the next one we asked for is on its way, and failing that piece made 422-707 pieces
/// of a 100-peer run look elsewhere (2 of 9 extra origin copies in six runs). Choked a second time it
/// fails with `.choked`: a server refusing a piece (no longer held, failed re-verification) says so by
/// choking. We then re-send `interested`, which a dofs server answers with `unchoke` when a slot is
/// ours. A piece also fails when no block of it arrives for `stallTimeoutSeconds` while unchoked, at
/// its deadline, or when the connection closes.
///
/// Two tasks share the state (one lock), the reader (in `run`) and the sender (the only writer), with
/// the process's `ConnectionTicker` (stalls, keep-alives).
final class PeerConnection: Sendable {
    struct BlockKey: Hashable {
        var piece: Int
        var begin: Int
    }

    private struct Fetch {
        let piece: Int
        /// Written block by block here, never shared before its last block: then it is the delivery.
        let buffer: PieceBuffer
        var blocksLeft: Int
        var blocksOutstanding = 0
        var firstRequestAt: ContinuousClock.Instant?
        var lastProgressAt: ContinuousClock.Instant
        /// A choke voided requests of this piece once (it was queued again); the next choke fails it.
        var chokedOnce = false
        var continuation: CheckedContinuation<Result<Delivery, PeerError>, Never>
        var timer: Scheduled<Void>?

        /// Writes a received block into the piece buffer; true when it was the piece's last block.
        /// Every block of the piece is requested once and counted once, so a complete piece has had
        /// every byte written (a pooled buffer may hold an older piece's bytes until then). Into a
        /// `[UInt8]` then copied to a `PieceBuffer`, each piece cost a zeroed 1 MiB allocation and a
        /// 1 MiB copy more (7% of a swarm peer's CPU, peer-cpu-bench).
        mutating func receive(_ data: [UInt8], at begin: Int) -> Bool {
            data.withUnsafeBytes { buffer.fill(at: begin, from: $0) }
            blocksLeft -= 1
            blocksOutstanding -= 1
            lastProgressAt = .now
            return blocksLeft == 0
        }
    }

    /// A completed piece and how long its transfer took (first request to last block).
    struct Delivery: Sendable {
        var bytes: PieceBuffer
        var seconds: Double
    }

    private struct State {
        var peerHas: Bitfield
        /// The peer has said what it holds (a bitfield or a `have`; our peer server always opens with
        /// a bitfield, an empty one too).
        var peerToldHoldings = false
        /// The highest piece in `peerHas`, kept as announcements arrive.
        var highestAnnounced: Int?
        var peerChoking = true
        /// Since when the peer has choked us: the connection's start, or its last `choke`.
        var chokedSince = ContinuousClock.now
        var closedReason: PeerError?
        var closeRequested = false
        var nextFetchId: UInt64 = 0
        var fetches: [UInt64: Fetch] = [:]
        /// Blocks not yet requested, in the order pieces were asked for.
        var pending = CircularBuffer<(key: BlockKey, length: Int, fetch: UInt64)>()
        /// Blocks requested and not yet received, with the fetches waiting for them (oldest first).
        var outstanding: [BlockKey: (length: Int, fetches: [UInt64])] = [:]
        var outstandingCount = 0
        var control: [PeerMessage] = []
        var lastWriteAt: ContinuousClock.Instant
        var unsolicitedBytes = 0
        var downloadedBytes = 0
        /// When the last block of any piece arrived.
        var lastBlockAt: ContinuousClock.Instant?
        /// What we last told the peer: `interested` (true) or `notInterested`; a connection starts out
        /// not interested, as in BitTorrent.
        var amInterested = false
        /// Pieces the peer said it is fetching from HTTP (`fetching`) and has not announced yet, with
        /// when we first heard each (see `claim(_:in:)`).
        var claims: [Int: ContinuousClock.Instant] = [:]
    }

    let address: PeerAddress
    let remotePeerId: PeerId
    /// The IP address the connection actually reached (canonical, see `PeerAddress.canonicalHost`):
    /// what bans by address compare, whatever name the control plane listed.
    let remoteHost: String
    let layout: PieceLayout
    private let ours: OurPieces
    private let channel: Channel
    private let configuration: SwarmConfiguration
    private let logger: Logger
    private let state: Mutex<State>
    private let wakeStream: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation

    /// A peer pushing this many bytes we never asked for (since its last useful block) is dropped.
    private static let unsolicitedLimit = 8 << 20

    private init(address: PeerAddress, remotePeerId: PeerId, layout: PieceLayout, ours: OurPieces, channel: Channel,
                 configuration: SwarmConfiguration, logger: Logger) {
        self.address = address
        self.remotePeerId = remotePeerId
        self.remoteHost = PeerAddress.canonicalHost(channel.remoteAddress?.ipAddress ?? address.host)
        self.layout = layout
        self.ours = ours
        self.channel = channel
        self.configuration = configuration
        self.logger = logger
        state = Mutex(State(peerHas: Bitfield(pieceCount: layout.pieceCount), lastWriteAt: .now))
        (wakeStream, wakeContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: - Lifetime

    /// Connects, handshakes, and serves the connection until it closes; returns why it closed.
    /// `onOpen` is called once the handshake checked out; returning false closes the connection at once.
    /// `onAnnounce` is called after a bitfield (with `nil`) or a `have` (with its piece) from the peer that
    /// told us something new has been taken in (see `receive`).
    static func run(address: PeerAddress, swarmHash: [UInt8], ourPeerId: PeerId, layout: PieceLayout, ours: OurPieces,
                    configuration: SwarmConfiguration, logger: Logger,
                    onAnnounce: @escaping @Sendable (Int?) -> Void = { _ in },
                    onOpen: (PeerConnection) -> Bool) async -> PeerError {
        let channel: PeerChannel
        do {
            var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(fractional: configuration.connectTimeoutSeconds))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(
                    minimum: 1024, initial: 64 * 1024, maximum: max(64 * 1024, configuration.receiveBufferMaxBytes)))
            if let local = configuration.localAddress {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: local, port: 0))
            }
            channel = try await bootstrap
                .connect(host: address.host, port: address.port) { channel in
                    PeerChannel.wrapping(channel, role: .client,
                                         handshakeTimeout: configuration.handshakeTimeoutSeconds,
                                         idleTimeout: configuration.idleTimeoutSeconds)
                }
        } catch ChannelError.connectTimeout {
            return .timedOut
        } catch {
            return Task.isCancelled ? .cancelled : .connectFailed("\(error)")
        }

        var connection: PeerConnection?
        var reason: PeerError
        do {
            reason = try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(.handshake(Handshake(swarmHash: swarmHash, peerId: ourPeerId)))
                var frames = inbound.makeAsyncIterator()
                guard case .handshake(let theirs)? = try await frames.next() else { return .refused }
                guard theirs.swarmHash == swarmHash else { return .handshakeMismatch("peer answered for another swarm") }
                guard theirs.peerId != ourPeerId else { return .connectedToSelf }
                if let expected = address.peerId, expected != theirs.peerId {
                    return .handshakeMismatch("expected peer \(expected), got \(theirs.peerId)")
                }
                var logger = logger
                logger[metadataKey: "peer"] = "\(theirs.peerId)"
                let open = PeerConnection(address: address, remotePeerId: theirs.peerId, layout: layout, ours: ours,
                                          channel: channel.channel, configuration: configuration, logger: logger)
                connection = open
                guard onOpen(open) else { return .closed }
                open.start()
                let ticker = ConnectionTicker.every(open.tickInterval)
                let tick = ticker.add { [weak open] in open?.tick() }
                defer { ticker.remove(tick) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await open.sendLoop(outbound) }
                    defer { group.cancelAll() }
                    while let frame = try await frames.next() {
                        guard case .message(let message) = frame else {
                            throw PeerError.misbehaved("a second handshake")
                        }
                        guard try open.receive(message) else { continue }
                        switch message {
                        case .bitfield: onAnnounce(nil)
                        case .have(let piece): onAnnounce(Int(piece))
                        default: break
                        }
                    }
                }
                return .disconnected
            }
        } catch {
            reason = PeerError(closing: error)
        }
        if let connection {
            if connection.state.withLock({ $0.closeRequested }) { reason = .closed }
            connection.finish(reason)
        }
        return reason
    }

    /// Closes the connection; pieces in flight fail with `.closed`.
    func close() {
        state.withLock { $0.closeRequested = true }
        channel.close(promise: nil)
    }

    private func start() {
        state.withLock { updateInterest(&$0) }
        wake()
    }

    /// We hold more pieces now (`Swarm.holds`): a peer with nothing more we lack hears `notInterested`.
    func ourPiecesGrew() {
        let changed = state.withLock { s in
            guard s.amInterested, s.closedReason == nil else { return false }
            return updateInterest(&s)
        }
        if changed { wake() }
    }

    private func finish(_ reason: PeerError) {
        let waiting = state.withLock { s in
            s.closedReason = reason
            s.pending.removeAll()
            s.outstanding.removeAll()
            s.outstandingCount = 0
            let fetches = Array(s.fetches.values)
            s.fetches.removeAll()
            return fetches
        }
        wakeContinuation.finish()
        for fetch in waiting {
            fetch.timer?.cancel()
            fetch.continuation.resume(returning: .failure(reason))
        }
    }

    // MARK: - What the swarm asks

    /// The peer announced `piece` (bitfield or have) and the connection is open.
    func has(_ piece: Int) -> Bool { state.withLock { $0.closedReason == nil && $0.peerHas[piece] } }

    /// When we first heard the peer say it is fetching `piece` from HTTP, while it has not announced
    /// the piece and the connection is open. A promise, not a piece: what it holds back, and for how
    /// long, is the engine's to bound.
    func claimed(_ piece: Int) -> ContinuousClock.Instant? {
        state.withLock { $0.closedReason == nil ? $0.claims[piece] : nil }
    }

    /// The pieces the peer claims now, each with when we first heard it (see `claimed`).
    var claims: [Int: ContinuousClock.Instant] { state.withLock { $0.closedReason == nil ? $0.claims : [:] } }

    /// What the peer announced, while the connection is open (`has` for every piece at once).
    var announced: Bitfield? { state.withLock { $0.closedReason == nil ? $0.peerHas : nil } }

    var isOpen: Bool { state.withLock { $0.closedReason == nil && !$0.closeRequested } }

    /// What the peer has said it holds, while the connection is open: `nil` before its bitfield (or
    /// a first `have`), else how many pieces it announced.
    var toldHoldings: Int? {
        state.withLock { s in s.closedReason == nil && s.peerToldHoldings ? s.peerHas.count : nil }
    }

    /// Whether a block of any piece arrived on this connection within the last `seconds`: the peer
    /// is sending, if slowly, as opposed to one that announces pieces and never sends any.
    func receivedBlock(within seconds: Double) -> Bool {
        state.withLock { s in s.lastBlockAt.map { ContinuousClock.now - $0 < .seconds(seconds) } ?? false }
    }

    /// The peer is choking us (we may not request).
    var isChoking: Bool { state.withLock { $0.peerChoking } }

    /// How long the peer has choked us, `nil` while it does not: our requests wait, unsent, for a slot.
    var chokingSeconds: Double? {
        state.withLock { s in s.peerChoking ? (ContinuousClock.now - s.chokedSince).seconds : nil }
    }

    /// Bytes of pieces in flight on this connection not received yet: the queue a new piece joins.
    var queuedBytes: Int {
        state.withLock { s in s.fetches.values.reduce(0) { $0 + $1.blocksLeft * PeerMessage.blockSize } }
    }

    var downloadedBytes: Int { state.withLock { $0.downloadedBytes } }

    /// How many pieces the peer has announced.
    var piecesAvailable: Int { state.withLock { $0.peerHas.count } }

    /// The highest piece the peer announced, when it announced some but not all (it is downloading).
    var highestAnnouncedIfIncomplete: Int? {
        state.withLock { s in
            guard s.closedReason == nil, let highest = s.highestAnnounced, !s.peerHas.isComplete else { return nil }
            return highest
        }
    }

    /// The lowest piece the peer has not announced and the highest it has, when it announced some but
    /// not all: a sequential reader lacks the pieces from where it reads on.
    var announcedSpanIfIncomplete: (lowestMissing: Int, highest: Int)? {
        state.withLock { s in
            guard s.closedReason == nil, let highest = s.highestAnnounced, let lowest = s.peerHas.firstMissing else { return nil }
            return (lowest, highest)
        }
    }

    /// Downloads piece `piece` (`length` bytes) from this peer, by `deadline`.
    func fetch(piece: Int, length: Int, deadline: ContinuousClock.Instant) async -> Result<Delivery, PeerError> {
        guard piece >= 0, piece < layout.pieceCount, length > 0 else { return .failure(.noPeerHasPiece(piece)) }
        let id = state.withLock { s in
            s.nextFetchId += 1
            return s.nextFetchId
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let refused: PeerError? = state.withLock { s in
                    if let reason = s.closedReason { return reason }
                    if s.closeRequested { return .closed }
                    var fetch = Fetch(piece: piece, buffer: PieceBuffer(count: length), blocksLeft: 0,
                                      lastProgressAt: .now, continuation: continuation)
                    var begin = 0
                    while begin < length {
                        let blockLength = min(PeerMessage.blockSize, length - begin)
                        s.pending.append((BlockKey(piece: piece, begin: begin), blockLength, id))
                        fetch.blocksLeft += 1
                        begin += blockLength
                    }
                    s.fetches[id] = fetch
                    updateInterest(&s)
                    pump(&s)
                    return nil
                }
                if let refused {
                    continuation.resume(returning: .failure(refused))
                    return
                }
                let remaining = max(.zero, deadline - .now)
                let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(remaining.nanoseconds)) {
                    self.complete(id, with: .failure(.timedOut))
                }
                let stillWaiting = state.withLock { s in
                    s.fetches[id]?.timer = timer
                    return s.fetches[id] != nil
                }
                if !stillWaiting { timer.cancel() }
                wake()
            }
        } onCancel: {
            complete(id, with: .failure(.cancelled))
        }
    }

    // MARK: - Messages from the peer

    /// Takes in a `fetching` claim. A claim is kept from the first time it is heard: saying it again
    /// does not make it younger, so a peer cannot hold a piece back for longer by repeating itself. A
    /// piece the peer announced already is not claimed, and past `maxClaimsPerPeer` the oldest claim goes.
    private func claim(_ piece: Int, in s: inout State) {
        guard !s.peerHas[piece], s.claims[piece] == nil else { return }
        if s.claims.count >= max(1, configuration.maxClaimsPerPeer), let oldest = s.claims.min(by: { $0.value < $1.value }) {
            s.claims[oldest.key] = nil
        }
        s.claims[piece] = .now
    }

    /// Takes in one message. Returns whether it told us of holdings we did not know: the peer's first
    /// report, or a piece it had not announced. A peer repeating `have`s of pieces it announced would
    /// otherwise count as a swarm that moves (`Swarm.announcementsHeard`), and hold a member off HTTP
    /// for as long as it kept talking (the late-backup hold, up to 30 s a piece), waking every piece
    /// waiting for news each time.
    private func receive(_ message: PeerMessage) throws(PeerError) -> Bool {
        var done: [(Fetch, Result<Delivery, PeerError>)] = []
        var news = false
        try state.withLock { s throws(PeerError) in
            switch message {
            case .bitfield(let bytes):
                guard let bits = Bitfield(bytes: bytes, pieceCount: layout.pieceCount) else {
                    throw .misbehaved("bitfield of \(bytes.count) bytes for \(layout.pieceCount) pieces")
                }
                news = !s.peerToldHoldings || (0..<layout.pieceCount).contains { bits[$0] && !s.peerHas[$0] }
                s.peerHas = bits
                s.peerToldHoldings = true
                s.highestAnnounced = (0..<layout.pieceCount).last(where: { bits[$0] })
                s.claims = s.claims.filter { !bits[$0.key] }
                updateInterest(&s)
            case .have(let piece):
                guard Int(piece) < layout.pieceCount else {
                    throw .misbehaved("have for piece \(piece) of \(layout.pieceCount)")
                }
                news = !s.peerToldHoldings || !s.peerHas[Int(piece)]
                s.peerHas[Int(piece)] = true
                s.peerToldHoldings = true
                s.highestAnnounced = max(s.highestAnnounced ?? 0, Int(piece))
                s.claims[Int(piece)] = nil
                if !s.amInterested, !ours.contains(Int(piece)) { updateInterest(&s) }
            case .fetching(let piece):
                guard Int(piece) < layout.pieceCount else {
                    throw .misbehaved("fetching claim for piece \(piece) of \(layout.pieceCount)")
                }
                claim(Int(piece), in: &s)
            case .choke:
                if !s.peerChoking { s.chokedSince = .now }
                s.peerChoking = true
                done += voidRequests(&s)
                // Said again, so that a dofs server unchokes us once a slot is ours.
                if s.amInterested { s.control.append(.interested) }
            case .unchoke:
                s.peerChoking = false
                let now = ContinuousClock.now
                for id in s.fetches.keys { s.fetches[id]?.lastProgressAt = now }
            case .piece(let piece, let begin, let data):
                let key = BlockKey(piece: Int(piece), begin: Int(begin))
                guard var entry = s.outstanding[key] else {
                    s.unsolicitedBytes += data.count
                    if s.unsolicitedBytes > Self.unsolicitedLimit {
                        throw .misbehaved("more than \(Self.unsolicitedLimit) bytes of blocks we did not ask for")
                    }
                    return
                }
                guard entry.length == data.count else {
                    throw .misbehaved("block \(piece)+\(begin) of \(data.count) bytes, asked for \(entry.length)")
                }
                let id = entry.fetches.removeFirst()
                if entry.fetches.isEmpty { s.outstanding[key] = nil } else { s.outstanding[key] = entry }
                s.outstandingCount -= 1
                s.unsolicitedBytes = 0
                s.downloadedBytes += data.count
                s.lastBlockAt = .now
                guard let complete = s.fetches[id]?.receive(data, at: key.begin) else { return }
                if complete, let finished = removeFetch(id, from: &s) {
                    let seconds = finished.firstRequestAt.map { (ContinuousClock.now - $0).seconds } ?? 0
                    done.append((finished, .success(Delivery(bytes: finished.buffer, seconds: seconds))))
                }
            default:
                break
            }
            pump(&s)
        }
        resume(done)
        wake()
        return news
    }

    // MARK: - Internals

    /// Tells the peer whether we are interested, when that changed: while we fetch from it, or it has
    /// announced a piece we lack (before its first report: unless we hold everything). True when a
    /// message was queued.
    @discardableResult
    private func updateInterest(_ s: inout State) -> Bool {
        let interested = !s.fetches.isEmpty || (s.peerToldHoldings ? ours.lacksAny(of: s.peerHas) : !ours.isComplete)
        guard s.amInterested != interested else { return false }
        s.amInterested = interested
        s.control.append(interested ? .interested : .notInterested)
        return true
    }

    /// Moves queued blocks to requests while unchoked and under the outstanding limit.
    private func pump(_ s: inout State) {
        guard !s.peerChoking, s.closedReason == nil else { return }
        let now = ContinuousClock.now
        while s.outstandingCount < configuration.maxOutstandingRequests, let next = s.pending.popFirst() {
            guard var fetch = s.fetches[next.fetch] else { continue }
            if fetch.firstRequestAt == nil {
                fetch.firstRequestAt = now
                fetch.lastProgressAt = now
            }
            fetch.blocksOutstanding += 1
            s.fetches[next.fetch] = fetch
            s.outstanding[next.key, default: (next.length, [])].fetches.append(next.fetch)
            s.outstandingCount += 1
            s.control.append(.request(piece: UInt32(next.key.piece), begin: UInt32(next.key.begin),
                                      length: UInt32(next.length)))
        }
    }

    /// Voids every request in flight (a choke): a piece choked for the first time goes back to the head
    /// of the queue, to be asked again when the peer unchokes us; one choked before fails. Returns the
    /// failed fetches.
    private func voidRequests(_ s: inout State) -> [(Fetch, Result<Delivery, PeerError>)] {
        var voided: [UInt64: [(key: BlockKey, length: Int)]] = [:]
        for (key, entry) in s.outstanding {
            for id in entry.fetches { voided[id, default: []].append((key, entry.length)) }
        }
        s.outstanding.removeAll()
        s.outstandingCount = 0
        var failed: [(Fetch, Result<Delivery, PeerError>)] = []
        // Oldest fetch last, so that prepending leaves the queue in the order pieces were asked for.
        for id in voided.keys.sorted(by: >) {
            guard var fetch = s.fetches[id] else { continue }
            guard !fetch.chokedOnce else {
                if let fetch = removeFetch(id, from: &s) { failed.append((fetch, .failure(.choked))) }
                continue
            }
            fetch.chokedOnce = true
            fetch.blocksOutstanding = 0
            // Its time counts from the request that is answered: the wait behind the choke is not the
            // peer's speed.
            fetch.firstRequestAt = nil
            s.fetches[id] = fetch
            for block in voided[id, default: []].sorted(by: { $0.key.begin > $1.key.begin }) {
                s.pending.prepend((block.key, block.length, id))
            }
        }
        return failed
    }

    /// Removes a fetch with all its queued and requested blocks (cancelling the requested ones).
    private func removeFetch(_ id: UInt64, from s: inout State) -> Fetch? {
        guard let fetch = s.fetches.removeValue(forKey: id) else { return nil }
        if fetch.blocksLeft > 0 {
            s.pending.removeAll { $0.fetch == id }
            for (key, entry) in s.outstanding where entry.fetches.contains(id) {
                var rest = entry
                rest.fetches.removeAll { $0 == id }
                s.outstandingCount -= entry.fetches.count - rest.fetches.count
                s.outstanding[key] = rest.fetches.isEmpty ? nil : rest
                if rest.fetches.isEmpty, !s.peerChoking {
                    s.control.append(.cancel(piece: UInt32(key.piece), begin: UInt32(key.begin),
                                             length: UInt32(entry.length)))
                }
            }
        }
        return fetch
    }

    private func complete(_ id: UInt64, with result: Result<Delivery, PeerError>) {
        let fetch = state.withLock { s in
            let fetch = removeFetch(id, from: &s)
            pump(&s)
            return fetch
        }
        if let fetch { resume([(fetch, result)]) }
        wake()
    }

    private func resume(_ done: [(Fetch, Result<Delivery, PeerError>)]) {
        for (fetch, result) in done {
            fetch.timer?.cancel()
            fetch.continuation.resume(returning: result)
        }
    }

    private func sendLoop(_ outbound: NIOAsyncChannelOutboundWriter<PeerFrame>) async throws {
        for await _ in wakeStream {
            while true {
                let batch = state.withLock { s in
                    let batch = s.control
                    s.control.removeAll()
                    if !batch.isEmpty { s.lastWriteAt = .now }
                    return batch
                }
                if batch.isEmpty { break }
                try await outbound.write(contentsOf: batch.map { PeerFrame.message($0) })
            }
        }
    }

    /// How often `tick` runs.
    private var tickInterval: Double {
        max(0.05, min(1.0, configuration.stallTimeoutSeconds / 4, configuration.keepAliveSeconds / 2))
    }

    /// Fails pieces whose transfer stalled; sends keep-alives. Run by the process's `ConnectionTicker`.
    private func tick() {
        let now = ContinuousClock.now
        let (stalled, send) = state.withLock { s in
            if now - s.lastWriteAt >= .seconds(configuration.keepAliveSeconds) { s.control.append(.keepAlive) }
            guard !s.peerChoking, !s.fetches.isEmpty else { return ([Fetch](), !s.control.isEmpty) }
            let ids = s.fetches.filter { $0.value.blocksOutstanding > 0
                && now - $0.value.lastProgressAt >= .seconds(configuration.stallTimeoutSeconds) }.map(\.key)
            let stalled = ids.compactMap { removeFetch($0, from: &s) }
            pump(&s)
            return (stalled, !s.control.isEmpty)
        }
        if !stalled.isEmpty {
            logger.debug("piece transfer stalled", metadata: ["pieces": "\(stalled.map(\.piece))"])
        }
        resume(stalled.map { ($0, .failure(.timedOut)) })
        // The sender only when there is something to send: an idle connection ticks every second.
        if send { wake() }
    }

    private func wake() {
        wakeContinuation.yield()
    }
}

