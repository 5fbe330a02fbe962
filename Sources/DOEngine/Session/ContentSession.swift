import DOCore
import DOSwarm
import Dispatch
import Foundation
import Logging
import Synchronization

/// One open content: its layout, its trust mode, its sources, and the pieces being fetched for it.
///
/// The read path lives here:
///   read(offset, length) -> pieces covering it -> local piece store? -> reply
///                                           \-> single flight per piece -> sources in turn
///                                               -> verify (SHA-256 vs PHF) -> commit -> reply
/// A piece is fetched at most once at a time however many readers wait for it (`PieceFlights`), by the
/// `PieceScheduler` over this content's `ContentSourceSet` (peers, cache hosts, CDN); a verified-mode
/// piece is never handed out before its hash matched. Failed tries are retried on the next source with
/// back-off, up to `maxAttemptsPerPiece` CDN failures, and the reader gets the error after that.
///
/// The read deadline is what the application sees: one deadline covers every piece of a read, and a
/// piece whose read failed (deadline or error) stays failed for `failedPieceHoldSeconds`, so the
/// kernel's immediate retry of the same pages fails at once instead of waiting a whole deadline again.
public final class ContentSession: Sendable {
    public let url: String
    public let layout: PieceLayout
    public let mode: ContentMode
    /// The content's own URLs (CDN), tried in turn.
    let sources: [HTTPSource]
    /// Cache servers, tried before the CDN for each piece.
    let cacheHosts: CacheHosts?
    let store: PieceStore
    let config: EngineConfiguration
    let logger: Logger
    /// Set for a simple session caused by a transient failure: after this instant, ask again.
    public let revalidateAt: ContinuousClock.Instant?
    /// The content's swarm, when it is shared with peers (verified, large enough, peering on).
    public let swarm: SessionSwarm?
    /// The origin's `Last-Modified` when the content was opened (simple mode's probe; for verified
    /// content, the date kept beside its PHF or asked with one HEAD, see `Engine.openVerified`).
    public let lastModified: Date?
    private let flights = PieceFlights()
    /// Verified pieces whose disk write runs behind the readers' replies (see `PendingWrites`).
    private let pendingWrites: PendingWrites
    /// Pieces being fetched ahead for the swarm (see `startServingAhead`).
    private let servingAhead = Mutex<Set<Int>>([])
    /// The one source loop, and the sources it chooses from.
    private let scheduler: PieceScheduler
    private let sourceSet: ContentSourceSet
    private let bytesBySource = Mutex(Traffic())
    /// When the content was last read (shared with the cache listing, see `CachedContents`).
    public let lastUse: LastUse
    /// Verified mode: the kept count of stored pieces.
    private let tally: PieceTally?
    /// The last window `prefetch` was asked for: stored pieces in it were read ahead already.
    private let readAhead = Mutex<Range<Int>>(0..<0)
    /// Who is told of a piece once its fetch has handed it to its readers (see `prefetch(_:fetched:)`).
    private let fetchedWatchers = Mutex<[Int: @Sendable (PieceBuffer) -> Void]>([:])
    /// Pieces whose last read failed, with the error and until when it is repeated without waiting.
    private let failures = Mutex<[Int: (until: ContinuousClock.Instant, error: FetchError)]>([:])
    private let repeating = RepeatingLog()
    /// What names this content in a log line (`content=DO-…` when verified, `url=…` when simple);
    /// every line the session logs carries it.
    public let logMetadata: Logger.Metadata
    /// The URL as shown in logs and attributes (credentials redacted).
    public var displayURL: String { RedactedURL.redacted(url) }

    init(url: String, layout: PieceLayout, mode: ContentMode, sources: [HTTPSource], cacheHosts: CacheHosts?,
         store: PieceStore, config: EngineConfiguration, logger: Logger, revalidateAt: ContinuousClock.Instant? = nil,
         swarm: SessionSwarm? = nil, tally: PieceTally? = nil, lastModified: Date? = nil, lastUse: LastUse = LastUse()) {
        self.tally = tally
        self.lastModified = lastModified
        self.lastUse = lastUse
        self.revalidateAt = revalidateAt
        self.swarm = swarm
        self.url = url
        self.layout = layout
        self.mode = mode
        self.sources = sources
        self.cacheHosts = cacheHosts
        self.store = store
        self.config = config
        pendingWrites = PendingWrites(limitBytes: config.writeBehindBytes)
        // Every line of this session names its content, as metadata the log handler prints.
        switch mode {
        case .verified(let phf): logMetadata = ["content": "\(phf.contentId)"]
        case .simple: logMetadata = ["url": "\(RedactedURL.redacted(url))"]
        }
        var logger = logger
        for (key, value) in logMetadata { logger[metadataKey: key] = value }
        self.logger = logger
        let table = SourceTable(configuration: config.scheduler)
        var limits = PieceScheduler.Limits()
        limits.maxAttempts = config.maxAttemptsPerPiece
        limits.initialBackoffSeconds = config.initialBackoffSeconds
        limits.maxBackoffSeconds = config.maxBackoffSeconds
        limits.giveUpSeconds = config.readDeadlineSeconds
        scheduler = PieceScheduler(table: table, limits: limits, label: RedactedURL.redacted(url), logger: logger)
        sourceSet = ContentSourceSet(cdn: sources, cacheHosts: cacheHosts, swarm: swarm, table: table, logger: logger,
                                     httpGate: swarm.map { swarm in
                                         HTTPGate(clock: table.clock, onStart: { swarm.fetchingFromHTTP($0) }, onRelease: { swarm.swarm.nudge() })
                                     })
    }

    /// The pieces on their way from HTTP sources (for a shared content; none otherwise): being fetched,
    /// or fetched and not stored yet (see `SessionSwarm.piecesOnTheirWay`).
    var piecesFetchingFromHTTP: [Int] { swarm?.piecesOnTheirWay ?? [] }

    /// The scored source table: every source asked for this content, best first.
    public var sourceScores: [SourceScore] { scheduler.table.scores }

    /// True once a transiently simple session should be replaced by a fresh lookup.
    public var needsRevalidation: Bool { revalidateAt.map { ContinuousClock.now >= $0 } ?? false }

    public var contentId: ContentId? {
        if case .verified(let phf) = mode { return phf.contentId }
        return nil
    }

    public func key(ofPiece index: Int) -> PieceStore.Key {
        switch mode {
        case .verified(let phf): return .verified(phf.pieces[index])
        case .simple(let content, _): return .unverified(content: content, index: index)
        }
    }

    /// Pieces present in the local store: a kept number, never counted here (a content may claim up to
    /// 2^31 pieces, and this answers an xattr on a FUSE thread).
    public var havePieces: Int {
        switch mode {
        case .verified: return tally?.have ?? 0
        case .simple(let content, _): return store.simplePieceCount(content: content)
        }
    }

    /// Whether every piece of this verified content is stored (simple contents never count as complete).
    public var isComplete: Bool {
        guard case .verified = mode else { return false }
        return havePieces == layout.pieceCount
    }

    /// Bytes per source kind since the content was opened: kept as pieces arrive and reads are answered.
    public var traffic: Traffic { bytesBySource.withLock { $0 } }

    /// The same, as JSON (`user.dofs.sources`).
    public var sourcesJSON: String {
        let counts = traffic
        let fields = SourceKind.allCases.map { "\"\($0.rawValue)\":\(counts[$0])" }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// Pieces being fetched now (reads, readahead and prefetch together).
    public var piecesInFlight: Int { flights.count }

    /// Peers of the content's swarm now connected, and identities or addresses banned; zeros without a swarm.
    public var peers: (connected: Int, banned: Int) { swarm?.swarm.peerCounts ?? (0, 0) }

    /// Counts `bytes` of a read answered from the piece cache.
    private func servedLocally(_ bytes: Int) {
        bytesBySource.withLock { $0.local += bytes }
        EngineMetrics.bytes[.local]?.increment(by: bytes)
        EngineMetrics.cacheHits.increment()
        lastUse.touch()
    }

    // MARK: Reads

    /// Serves a read from the piece store alone, without waiting: `nil` if any piece is missing.
    public func readLocal(offset: Int, length: Int) -> [UInt8]? {
        let end = min(offset + length, layout.contentLength)
        guard offset < end else { return [] }
        var complete = true
        let out = [UInt8](unsafeUninitializedCapacity: end - offset) { buf, initialised in
            let whole = UnsafeMutableRawBufferPointer(buf)
            for index in layout.pieces(coveringOffset: offset, length: end - offset) {
                let piece = layout.range(ofPiece: index)
                let lo = max(offset, piece.lowerBound), hi = min(end, piece.upperBound)
                let slice = UnsafeMutableRawBufferPointer(rebasing: whole[(lo - offset)..<(hi - offset)])
                guard store.read(key(ofPiece: index), offset: lo - piece.lowerBound, length: hi - lo, into: slice) else {
                    complete = false
                    break
                }
            }
            initialised = complete ? end - offset : 0
        }
        guard complete else { return nil }
        releasePiecesReadToTheirEnd(offset: offset, end: end)
        servedLocally(end - offset)
        return out
    }

    /// Serves a read from pieces held in memory (committed lately, see `RecentPieces`, or being written,
    /// see `PendingWrites`): slices of them, no copy; `nil` unless every piece the read covers is held.
    /// A piece read to its last byte is let go from memory: a sequential reader is done with it.
    public func readRecent(offset: Int, length: Int) -> [PieceSlice]? {
        let end = min(offset + length, layout.contentLength)
        guard offset < end else { return [] }
        var parts: [PieceSlice] = []
        for index in layout.pieces(coveringOffset: offset, length: end - offset) {
            let piece = layout.range(ofPiece: index)
            guard let bytes = store.recentPieceBuffer(key(ofPiece: index)) ?? pendingWrites.buffer(index),
                  bytes.count == piece.count else { return nil }
            parts.append(PieceSlice(bytes, (max(offset, piece.lowerBound) - piece.lowerBound)..<(min(end, piece.upperBound) - piece.lowerBound)))
        }
        releasePiecesReadToTheirEnd(offset: offset, end: end)
        servedLocally(end - offset)
        return parts
    }

    /// Piece `index` was handed whole to where its readers will read it (the kernel's page cache): memory
    /// lets it go as if it was read, instead of holding it for a read that will not come here.
    public func handedOver(piece index: Int) {
        let piece = layout.range(ofPiece: index)
        releasePiecesReadToTheirEnd(offset: piece.lowerBound, end: piece.upperBound)
    }

    /// Lets go from memory (`RecentPieces`) of the pieces a read from `offset` to `end` covered to their
    /// last byte: a sequential reader is done with them, and the tier keeps room for the pieces ahead.
    private func releasePiecesReadToTheirEnd(offset: Int, end: Int) {
        for index in layout.pieces(coveringOffset: offset, length: end - offset) where end >= layout.range(ofPiece: index).upperBound {
            // A piece still being written is let go by its write, which would otherwise hand it to the tier.
            if !pendingWrites.markRead(index) { store.releaseRecent(key(ofPiece: index)) }
        }
    }

    /// Hands `body` the open piece file and the offset within it when the read lies inside one stored
    /// piece, so the reply can go from the file to the kernel without a copy; `nil` otherwise.
    public func withLocalPieceFile<R>(offset: Int, length: Int, _ body: (_ fd: Int32, _ offset: Int, _ length: Int) -> R) -> R? {
        let end = min(offset + length, layout.contentLength)
        let indices = layout.pieces(coveringOffset: offset, length: end - offset)
        guard indices.count == 1 else { return nil }
        let start = layout.range(ofPiece: indices.lowerBound).lowerBound
        let answer = store.withOpenPiece(key(ofPiece: indices.lowerBound)) { fd, _ in body(fd, offset - start, end - offset) }
        if answer != nil { servedLocally(end - offset) }
        return answer
    }

    /// Serves a read, fetching missing pieces; fails after the read deadline.
    ///
    /// The answer is a list of slices of whole pieces, so a read inside one piece (the common case:
    /// the kernel reads in aligned blocks) is answered without copying the piece again.
    public func read(offset: Int, length: Int) async throws(FetchError) -> [PieceSlice] {
        let end = min(offset + length, layout.contentLength)
        guard offset < end else { return [] }
        lastUse.touch()
        EngineMetrics.cacheMisses.increment()
        let indices = layout.pieces(coveringOffset: offset, length: end - offset)
        // One deadline for the whole read, however many pieces it waits for.
        let deadline = ContinuousClock.now + .seconds(config.readDeadlineSeconds)
        for index in indices where !store.contains(key(ofPiece: index)) {
            if let held = heldFailure(index) { throw held }
        }
        // Start every missing piece before waiting for the first, so they come in parallel.
        let pending = indices.map { index in (index, flight(for: index)) }
        var parts: [PieceSlice] = []
        for (index, flight) in pending {
            let bytes: PieceBuffer
            do {
                bytes = try await Deadline.wait(for: flight, until: deadline, seconds: config.readDeadlineSeconds)
            } catch {
                hold(error, forPiece: index)
                throw error
            }
            let piece = layout.range(ofPiece: index)
            let lo = max(offset, piece.lowerBound), hi = min(end, piece.upperBound)
            parts.append(PieceSlice(bytes, (lo - piece.lowerBound)..<(hi - piece.lowerBound)))
        }
        releasePiecesReadToTheirEnd(offset: offset, end: end)
        return parts
    }

    /// The error of a recent failed read of piece `index`, while it is still held.
    private func heldFailure(_ index: Int) -> FetchError? {
        failures.withLock { f in
            guard let held = f[index] else { return nil }
            if ContinuousClock.now < held.until { return held.error }
            f.removeValue(forKey: index)
            return nil
        }
    }

    /// Remembers a failed read of piece `index` for `failedPieceHoldSeconds` (bounded: at most
    /// `maxHeldFailures` pieces, expired ones dropped first).
    private func hold(_ error: FetchError, forPiece index: Int) {
        let now = ContinuousClock.now
        let limit = config.maxHeldFailures
        failures.withLock { f in
            if f.count >= limit {
                f = f.filter { now < $0.value.until }
                if f.count >= limit { f.removeAll() }
            }
            f[index] = (now + .seconds(config.failedPieceHoldSeconds), error)
        }
    }

    /// Starts fetching pieces that are neither stored nor in flight, and asks the kernel to read ahead
    /// the files of stored ones that were not in the last window asked for (their files were written
    /// past the page cache, so a reader would otherwise wait on the disk piece by piece); returns at once.
    /// `fetched` is called with each piece fetched for it (verified, in verified mode), on the fetch's
    /// thread, before the piece's readers get it: it must not block. A piece that was stored already
    /// is not fetched, so not reported; one whose fetch fails is reported by its next fetch that succeeds.
    public func prefetch(_ indices: Range<Int>, fetched: (@Sendable (PieceBuffer) -> Void)? = nil) {
        let indices = indices.clamped(to: 0..<layout.pieceCount)
        let before = readAhead.withLock { last in
            defer { last = indices }
            return last
        }
        for index in indices {
            let key = key(ofPiece: index)
            if !store.contains(key) {
                guard !pendingWrites.contains(index) else { continue }
                if let fetched { fetchedWatchers.withLock { $0[index] = fetched } }
                _ = flight(for: index)
            } else if !before.contains(index) {
                store.readAhead(key)
            }
        }
    }

    // MARK: Serving the swarm

    /// Starts serving ahead for the swarm (see `ServeAhead`) until the swarm stops: whenever a peer
    /// announces pieces (an event), the pieces we own around the swarm's frontier that nobody has are
    /// fetched, at most `serveAheadParallelPieces` at a time; each that ends wakes the loop again.
    func startServingAhead() {
        guard let swarm, case .verified = mode, swarm.config.serveAheadWindowPieces > 0 else { return }
        swarm.runBeside { [weak self] in
            var seen = swarm.swarm.announceGeneration
            while !Task.isCancelled {
                await swarm.swarm.waitForAnnouncement(after: seen)
                seen = swarm.swarm.announceGeneration
                guard let self, !Task.isCancelled else { return }
                self.serveAhead(swarm)
                // Announcements come by the hundred a second in a large swarm: one look per 50 ms is enough.
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    private func serveAhead(_ swarm: SessionSwarm) {
        guard swarm.secondsUntilReady() == 0 else { return }
        let config = swarm.config, table = scheduler.table
        let busy = servingAhead.withLock { $0.count }
        let limit = config.serveAheadParallelPieces - busy
        guard limit > 0 else { return }
        let distrusted = { (peer: PeerId) in table.distrusts(PeerSource.name(of: peer)) }
        let spans = swarm.swarm.announcedSpans(excluding: distrusted).values
        let frontier = spans.map(\.highest).max()
        let mayNotOwn = { (peer: PeerId) in !swarm.mayOwn(peer, table: table) }
        // Taken once for the whole window (up to 145 pieces each looked at): the members, and what the
        // trusted connections announced.
        let members = swarm.memberSet
        guard !members.isEmpty else { return }
        let announced = swarm.swarm.announcedPieces(excluding: distrusted)
        // A piece a peer is fetching from HTTP now comes to the swarm from it (see `ContentSourceSet`).
        let claimed = swarm.swarm.claimedPieces(within: swarm.longestOwnerWait(table), excluding: { distrusted($0) || mayNotOwn($0) })
        let inFlight = servingAhead.withLock { $0 }
        let chosen = ServeAhead.pieces(
            frontier: frontier, lowestMissing: spans.map(\.lowestMissing).min(), window: config.serveAheadWindowPieces,
            lookBehind: config.serveAheadLookBehindPieces, floor: swarm.serveAheadFloor, pieceCount: layout.pieceCount, limit: limit,
            wanted: { !inFlight.contains($0) && !announced[$0] && !claimed.contains($0) && !flights.contains($0)
                && !store.contains(key(ofPiece: $0)) },
            owned: { swarm.ranked(above: $0, members: members, excluding: mayNotOwn).isEmpty })
        for index in chosen {
            servingAhead.withLock { _ = $0.insert(index) }
            let flight = flight(for: index)
            logger.debug("piece \(index): fetching it ahead for the swarm (we own it; frontier \(frontier ?? -1))")
            Task { [weak self] in
                _ = await flight.result
                self?.servingAhead.withLock { _ = $0.remove(index) }
                swarm.swarm.nudge()
            }
        }
    }

    // MARK: Whole content

    /// How far a whole-content fetch has come: pieces and bytes stored (already there or fetched now).
    public struct WholeFetchProgress: Sendable, Equatable {
        public var piecesDone = 0
        public var piecesTotal = 0
        public var bytesDone = 0
        public var bytesTotal = 0
    }

    /// Fetches every piece that is not stored yet, `config.prefetchParallelPieces` at a time, through the
    /// same single flights as reads (a piece a reader is waiting for is not fetched twice). `progress` is
    /// called after each piece. Throws the first piece's failure, after the pieces in flight have ended;
    /// stops starting pieces when the task is cancelled.
    public func fetchWhole(progress: @Sendable (WholeFetchProgress) -> Void) async throws(FetchError) {
        var state = WholeFetchProgress(piecesTotal: layout.pieceCount, bytesTotal: layout.contentLength)
        lastUse.touch()
        let parallel = max(1, config.prefetchParallelPieces)
        let failure: FetchError? = await withTaskGroup(of: (Int, FetchError?).self) { group in
            var next = 0
            var failure: FetchError?
            /// Starts the next piece not stored yet (stored ones count as done on the way); false at the end.
            func startNext() -> Bool {
                while failure == nil, !Task.isCancelled, next < layout.pieceCount {
                    let index = next
                    next += 1
                    if store.contains(key(ofPiece: index)) {
                        state.piecesDone += 1
                        state.bytesDone += layout.length(ofPiece: index)
                        continue
                    }
                    let flight = flight(for: index)
                    group.addTask {
                        switch await flight.result {
                        case .success: return (index, nil)
                        case .failure(let error as FetchError): return (index, error)
                        case .failure(let error): return (index, .pieceUnavailable(index: index, attempts: 0, last: "\(error)"))
                        }
                    }
                    return true
                }
                return false
            }
            for _ in 0..<parallel where !startNext() { break }
            progress(state)
            while let (index, error) = await group.next() {
                if let error {
                    failure = failure ?? error
                } else {
                    state.piecesDone += 1
                    state.bytesDone += layout.length(ofPiece: index)
                }
                _ = startNext()
                progress(state)
            }
            if failure == nil, state.piecesDone < layout.pieceCount {
                failure = .pieceUnavailable(index: -1, attempts: 0, last: "the fetch was cancelled")
            }
            return failure
        }
        if let failure { throw failure }
        // A whole-content fetch ends with every piece stored, not only handed over.
        await pendingWrites.written()
    }

    /// Whether pieces handed to readers ahead of their disk write are still being written.
    public var writesPending: Bool { !pendingWrites.isEmpty }

    /// Returns once every piece handed to readers ahead of its disk write now is written: before its
    /// pieces are counted (`user.dofs.pieces`, status, the cache listing) and at shutdown.
    public func writesDrained() async { await pendingWrites.written() }

    // MARK: Fetching

    private func flight(for index: Int) -> Task<PieceBuffer, any Error> {
        flights.task(for: index) { [self] in
            try await obtain(index)
        }
    }

    /// The one fetch of a piece: from the store if it is there by now, else through the scheduler
    /// (which picks, hedges, verifies and charges the sources; see `PieceScheduler`).
    private func obtain(_ index: Int) async throws(FetchError) -> PieceBuffer {
        let key = key(ofPiece: index)
        if let bytes = pendingWrites.buffer(index) { return bytes }
        if let bytes = store.readPieceBuffer(key, length: layout.length(ofPiece: index)) { return bytes }
        var expected: SHA256Digest?
        if case .verified(let phf) = mode { expected = phf.pieces[index] }
        let delivery: PieceScheduler.Delivery
        do {
            delivery = try await scheduler.fetch(piece: index, range: layout.range(ofPiece: index),
                                                 expected: expected, from: sourceSet)
        } catch {
            swarm?.pieceGivenUp(index)
            throw error
        }
        if delivery.source.kind != .peer {
            logger.debug("piece \(index) from \(delivery.source.kind.rawValue) after \(Int(delivery.waitedSeconds * 1000)) ms: \(ContentSourceSet.whyHTTP(delivery.notes))")
        }
        await deliver(index, key: key, bytes: delivery.piece, from: delivery.source.kind)
        fetchedWatchers.withLock { $0.removeValue(forKey: index) }?(delivery.piece)
        return delivery.piece
    }

    /// Counts, stores and announces a piece that is ready to be served (verified, in verified mode).
    /// The readers get it before its disk write ends while `pendingWrites` has room (write-behind, for
    /// pieces of every size); the swarm hears of it once it is stored, since peers are served from the store.
    private func deliver(_ index: Int, key: PieceStore.Key, bytes: PieceBuffer, from kind: SourceKind) async {
        bytesBySource.withLock { $0[kind] += bytes.count }
        EngineMetrics.bytes[kind]?.increment(by: bytes.count)
        if case .verified = mode { EngineMetrics.piecesVerified[kind]?.increment() }
        swarm?.recordDownload(from: kind, bytes: bytes.count)
        let behind = pendingWrites.admit(index, bytes) { [self] in
            write(key, bytes: bytes)
            // Read meanwhile: the reader is done with it, so the store's memory tier need not hold it.
            pendingWrites.finish(index) { read in if read { store.releaseRecent(key) } }
            swarm?.pieceStored(index)
        }
        if behind { return }
        await commit(key, bytes: bytes)
        swarm?.pieceStored(index)
    }

    /// Stores a piece off the cooperative pool (a write can block on a busy disk). A full or broken
    /// disk costs the cache, not the read: the verified bytes are still served.
    private func commit(_ key: PieceStore.Key, bytes: PieceBuffer) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            BlockingIO.queue.async { [self] in
                write(key, bytes: bytes)
                done.resume()
            }
        }
    }

    /// Stores a piece, on the calling (blocking) thread.
    private func write(_ key: PieceStore.Key, bytes: PieceBuffer) {
        do {
            try store.commit(key, piece: bytes)
        } catch {
            // A full disk fails every piece: one line, then a count (see RepeatingLog).
            repeating.log(logger, .error, kind: "store \((error as? PieceStore.Failure)?.errno ?? EIO)",
                          "piece cache: cannot store a piece (\(error)); serving it uncached")
        }
    }
}

/// Where blocking file writes run: Dispatch threads, never the Swift cooperative pool.
enum BlockingIO {
    static let queue = DispatchQueue(label: "dofs.blocking-io", qos: .userInitiated, attributes: .concurrent)
}

extension FetchError {
    /// Failures that another try of the same request cannot fix.
    var isPermanent: Bool {
        switch self {
        case .httpStatus(_, let s): return (400..<500).contains(s) && s != 408 && s != 429
        case .noRangeSupport, .contentChanged, .transport(.invalidURL): return true
        default: return false
        }
    }
}
