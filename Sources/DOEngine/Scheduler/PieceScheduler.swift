import DOCore
import Foundation
import Logging

/// The one source loop: every piece, from whichever source, is fetched, verified and charged here.
///
/// ## One piece
/// The source set names the eligible sources, best first. The scheduler asks the first one and gives
/// the request a budget (`SourceTable.budget`: the source's recent p95 piece time, bounded, and never
/// less than what the source expects for its own queue). When the budget expires before the first
/// byte (a source that is receiving gets another budget, up to `maxBudgetSeconds` in all) or with
/// nothing delivered, the next eligible source starts in parallel (a hedge), up
/// to `maxParallelSources` at once; the first answer that passes SHA-256 wins and the others are
/// cancelled. A loser that had overrun its budget is charged a timeout (a peer is dropped after a few
/// in a row); one that had not is not charged at all.
///
/// An answer that fails verification is discarded, charged as a bad piece (the source's own rules
/// decide bans) and the next source is asked; an error is charged as a failure. Nothing is delivered
/// before it is verified (simple mode, which has no hashes, excepted).
///
/// ## When nobody is eligible
/// Peers that do not have a piece yet are not asked; the scheduler waits for news from the source set
/// (a peer announced a piece: an event, not a poll) or for the instant the set says its answer may
/// change (the owner's wait ends). When every eligible source failed, a new round starts after a
/// back-off (doubling), with every source eligible again. The piece fails when a CDN answer is
/// permanent (404), after `maxAttempts` CDN failures, after `giveUpSeconds`, or when no source is left.
///
/// Time comes from a `SchedulerClock`, so unit tests run the loop on a fake clock with fake sources.
public final class PieceScheduler: Sendable {
    /// Retry limits (the engine's: `maxAttemptsPerPiece`, back-off, the read deadline).
    public struct Limits: Sendable {
        public var maxAttempts = 4
        public var initialBackoffSeconds = 0.25
        public var maxBackoffSeconds = 5.0
        public var giveUpSeconds = 60.0

        public init() {}
    }

    /// A verified piece and who sent it.
    public struct Delivery: Sendable {
        /// The piece, verified (in verified mode): only this struct carries it out of the scheduler.
        public var piece: PieceBuffer
        public var source: any PieceSource
        public var seconds: Double
        /// Seconds from the start of the piece's fetch to its verified answer.
        public var waitedSeconds: Double = 0
        /// The notes the source set kept for the piece (why HTTP sources were opened, say).
        public var notes: Set<String> = []

        /// A copy of the piece's bytes.
        public var bytes: [UInt8] { piece.bytes }
    }

    public let table: SourceTable
    let limits: Limits
    let logger: Logger
    private let repeating = RepeatingLog()
    /// What names the content in messages (its display URL).
    let label: String
    var clock: any SchedulerClock { table.clock }

    public init(table: SourceTable, limits: Limits = .init(), label: String, logger: Logger) {
        self.table = table
        self.limits = limits
        self.label = label
        self.logger = logger
    }

    private enum Event: Sendable {
        case answered(attempt: Int, Result<PieceBuffer, FetchError>, seconds: Double)
        case budgetExpired(attempt: Int)
        /// News from the source set, or the instant it named.
        case wake
        /// A back-off ended: a new round.
        case retry
    }

    private struct Attempt {
        let source: any PieceSource
        let fetch: Task<Void, Never>
        let timer: Task<Void, Never>
        let startedAt: Double
        var expired = false
        /// How long the source had choked us when the budget ran out, the request unsent behind it
        /// (`PieceSource.queuedSeconds`); `nil` when it was sent. What the timeout says of the source
        /// (`SourceTable.recordTimeout`) is judged on this, not on the choke when another source
        /// delivers: a busy peer has often unchoked us by then, and its queued requests counted as
        /// silent ones (in a 100-peer run, 2 of 3 extra origin copies followed such silent drops of
        /// the piece's first fetcher).
        var queuedAtOverrun: Double?

        func cancel() {
            fetch.cancel()
            timer.cancel()
        }
    }

    /// Fetches piece `index` (bytes `range` of the content), checked against `expected` when given.
    public func fetch(piece index: Int, range: Range<Int>, expected: SHA256Digest?,
                      from set: any PieceSourceSet) async throws(FetchError) -> Delivery {
        let (events, sink) = AsyncStream<Event>.makeStream()
        let clock = self.clock
        let config = table.configuration
        var progress = PieceProgress(startedAt: clock.now)
        var attempts: [Int: Attempt] = [:]
        var nextAttempt = 0
        var helpers: [Task<Void, Never>] = []
        var wakeAt: Double?
        var retryPending = false
        var failedThisRound = false
        var cdnFailures = 0
        var backoff = limits.initialBackoffSeconds
        var last = "no source configured"
        var permanent: FetchError?
        /// False once the set answered no source, no instant and no news to wait for: nothing will change.
        var hopeful = true

        // Read before the set is first asked, so that news arriving between that answer and the
        // watcher's first wait is not lost.
        let firstSeen = set.newsGeneration
        let news: Task<Void, Never>? = !set.mayBringNews ? nil : Task {
            var seen = firstSeen
            while !Task.isCancelled {
                await set.waitForNews(about: index, after: seen)
                guard !Task.isCancelled else { return }
                seen = set.newsGeneration
                sink.yield(.wake)
            }
        }
        defer {
            news?.cancel()
            for attempt in attempts.values { attempt.cancel() }
            for helper in helpers { helper.cancel() }
            sink.finish()
        }

        func wake(at time: Double, with event: Event) {
            helpers.append(Task {
                try? await clock.sleep(until: time)
                if !Task.isCancelled { sink.yield(event) }
            })
        }

        func start(_ source: any PieceSource) {
            let id = nextAttempt
            nextAttempt += 1
            let started = clock.now
            let budget = min(max(table.budget(source.name), (source.expectedSeconds ?? 0) * config.budgetFactor),
                             config.maxBudgetSeconds)
            let fetch = Task {
                let result: Result<PieceBuffer, FetchError>
                do throws(FetchError) {
                    result = .success(try await source.fetchPiece(range: range))
                } catch {
                    result = .failure(error)
                }
                sink.yield(.answered(attempt: id, result, seconds: clock.now - started))
            }
            let timer = Task {
                try? await clock.sleep(until: started + budget)
                if !Task.isCancelled { sink.yield(.budgetExpired(attempt: id)) }
            }
            attempts[id] = Attempt(source: source, fetch: fetch, timer: timer, startedAt: started)
            progress.inFlight.insert(source.name)
        }

        /// Starts the next eligible source when none is working on the piece, or when every one working
        /// on it has overrun its budget (a hedge), up to `maxParallelSources` at once. Peers that overran
        /// hold those places from HTTP sources too, unless the set says HTTP overtakes them
        /// (`httpOvertakesPeers`): then an HTTP source starts in one place more. Sixteen withholders
        /// that joined first were asked three at a time, each for its full timeout, before the CDN (51 s
        /// for a piece the set had opened to HTTP after 5); but on starved cores slow peers deliver, and
        /// an HTTP place beside every three of them sent the origin four to five copies of a 100-peer run.
        func launch() {
            let busy = attempts.values
            guard busy.isEmpty || busy.allSatisfy(\.expired) else { return }
            let full = busy.count >= max(1, config.maxParallelSources)
            if full, busy.contains(where: { $0.source.kind != .peer }) { return }
            let now = clock.now
            let eligible = set.eligible(piece: index, progress: &progress, now: now)
            hopeful = !eligible.sources.isEmpty || eligible.reconsiderAt != nil || eligible.newsMayHelp
            if let at = eligible.reconsiderAt, at > now, wakeAt.map({ at < $0 || $0 <= now }) ?? true {
                wakeAt = at
                wake(at: at, with: .wake)
            }
            if full, !eligible.httpOvertakesPeers { return }
            for source in eligible.sources where (!full || source.kind != .peer) && !progress.inFlight.contains(source.name)
                && !progress.spent.contains(source.name) && !table.isDropped(source.name) && source.mayStart() {
                start(source)
                return
            }
        }

        func trouble(_ kind: SourceKind) {
            if progress.firstTrouble[kind] == nil { progress.firstTrouble[kind] = clock.now }
        }

        func failure() -> FetchError {
            // A content URL that is gone (404, 410) reads as a missing file, as the README promises.
            if let permanent, permanent.errno != EIO {
                repeating.log(logger, .error, kind: "gone \(label)", "piece \(index) of \(label): \(permanent)")
                return permanent
            }
            let failure = FetchError.pieceUnavailable(index: index, attempts: max(cdnFailures, progress.round + 1), last: last)
            repeating.log(logger, .error, kind: "unavailable \(label)", "\(label): \(failure)")
            return failure
        }

        /// Verifies and charges one answer: the piece when it is good (the source's success recorded),
        /// `nil` when it failed or was bad (charged, the source spent for this round).
        func judge(_ source: any PieceSource, _ result: Result<PieceBuffer, FetchError>, seconds: Double) -> PieceBuffer? {
            switch result {
            case .success(let bytes):
                if let expected, SHA256.hash(bytes) != expected {
                    EngineMetrics.piecesFailedVerification[source.kind]?.increment()
                    table.recordBadPiece(source.name, kind: source.kind)
                    let banned = source.chargeBadPiece(index: index)
                    let failure = FetchError.pieceFailedVerification(index: index, source: source.name)
                    logger.error("piece \(index) of \(label) from \(RedactedURL.redacted(source.name)) failed SHA-256 verification; discarded\(banned ? "; banned" : "")",
                                 metadata: source.logMetadata)
                    last = failure.description
                    progress.spent.insert(source.name)
                    failedThisRound = true
                    trouble(source.kind)
                    if source.kind == .cdn { cdnFailures += 1 }
                    return nil
                }
                table.recordSuccess(source.name, kind: source.kind, bytes: bytes.count, seconds: seconds)
                return bytes
            case .failure(let error):
                table.recordFailure(source.name, kind: source.kind)
                source.chargeFailure(error)
                repeating.log(logger, .warning, kind: "fetch \(source.name)",
                              "piece \(index) of \(label) from \(RedactedURL.redacted(source.name)): \(error)",
                              metadata: source.logMetadata)
                last = error.description
                progress.spent.insert(source.name)
                failedThisRound = true
                trouble(source.kind)
                if source.kind == .cdn {
                    cdnFailures += 1
                    if error.isPermanent { permanent = error }
                }
                return nil
            }
        }

        func loop() async throws(FetchError) -> Delivery {
            var iterator = events.makeAsyncIterator()
            launch()
            while true {
                if attempts.isEmpty {
                    // Nobody works on the piece: decide whether to wait, retry or give up.
                    if permanent != nil || cdnFailures >= limits.maxAttempts || clock.now - progress.startedAt >= limits.giveUpSeconds {
                        throw failure()
                    }
                    if !hopeful, !failedThisRound, !retryPending { throw failure() }
                    if failedThisRound, !retryPending {
                        retryPending = true
                        wake(at: clock.now + backoff, with: .retry)
                        backoff = min(backoff * 2, limits.maxBackoffSeconds)
                    }
                    if !retryPending, wakeAt.map({ $0 <= clock.now }) ?? true {
                        // Nothing failed and nothing will change on its own; a peer may still announce it,
                        // but only within the give-up time.
                        wakeAt = progress.startedAt + limits.giveUpSeconds
                        wake(at: wakeAt!, with: .wake)
                    }
                }
                guard let event = await iterator.next() else {
                    throw FetchError.pieceUnavailable(index: index, attempts: progress.round + 1, last: "the fetch was cancelled")
                }
                switch event {
                case .wake:
                    break
                case .retry:
                    retryPending = false
                    failedThisRound = false
                    progress.round += 1
                    progress.spent.removeAll()
                case .budgetExpired(let id):
                    guard var attempt = attempts[id] else { break }
                    let elapsed = clock.now - attempt.startedAt
                    if attempt.source.isReceiving, elapsed < config.maxBudgetSeconds {
                        // Its first byte came: another budget rather than a hedge (bounded in all).
                        let again = min(table.budget(attempt.source.name), config.maxBudgetSeconds - elapsed)
                        attempt.timer.cancel()
                        let renewed = Task {
                            try? await clock.sleep(until: clock.now + again)
                            if !Task.isCancelled { sink.yield(.budgetExpired(attempt: id)) }
                        }
                        attempts[id] = Attempt(source: attempt.source, fetch: attempt.fetch, timer: renewed,
                                               startedAt: attempt.startedAt)
                        break
                    }
                    attempt.expired = true
                    attempt.queuedAtOverrun = attempt.source.queuedSeconds
                    attempts[id] = attempt
                    trouble(attempt.source.kind)
                    logger.debug("piece \(index): \(attempt.source.name) overran its budget; hedging\(attempt.queuedAtOverrun.map { "; it has choked us for \(Int($0 * 1000)) ms" } ?? "")",
                                 metadata: attempt.source.logMetadata)
                    EngineMetrics.hedges.increment()
                case .answered(let id, let result, let seconds):
                    guard let attempt = attempts.removeValue(forKey: id) else { break }
                    attempt.timer.cancel()
                    let source = attempt.source
                    progress.inFlight.remove(source.name)
                    if let bytes = judge(source, result, seconds: seconds) {
                        for (_, loser) in attempts {
                            loser.cancel()
                            guard loser.expired else { continue }
                            // A source still sending is slow, not silent: charged, never dropped for it.
                            switch table.recordTimeout(loser.source.name, kind: loser.source.kind, requestedAt: loser.startedAt,
                                                       stillSending: loser.source.isReceiving, queuedSeconds: loser.queuedAtOverrun) {
                            case .silent?:
                                logger.info("dropping \(loser.source.name): \(config.dropAfterTimeouts) timeouts in a row",
                                            metadata: loser.source.logMetadata)
                                loser.source.chargeDropped()
                            case .busy?:
                                logger.info("dropping \(loser.source.name) as a source: \(config.dropAfterTimeouts) timeouts in a row, each queued behind its choke; it stays connected and keeps the pieces it owns",
                                            metadata: loser.source.logMetadata)
                            case nil:
                                break
                            }
                        }
                        attempts.removeAll()
                        logger.trace("piece \(index): from \(RedactedURL.redacted(source.name)) in \(seconds) s",
                                     metadata: source.logMetadata)
                        return Delivery(piece: bytes, source: source, seconds: seconds,
                                        waitedSeconds: clock.now - progress.startedAt, notes: progress.notes)
                    }
                }
                if permanent == nil { launch() }
            }
        }

        // A lone CDN URL and a set that brings no news (no swarm, no cache host): nobody could hedge it,
        // so its first request runs in this task, without the event stream, the request's own task and
        // its budget timer (the task switches that were most of a small file's scheduling cost). A
        // failure or a bad answer is judged as in the loop, which then goes on from there (back-off,
        // retries, charges), so only the first try of a piece changes path.
        if !set.mayBringNews {
            let eligible = set.eligible(piece: index, progress: &progress, now: clock.now)
            if eligible.reconsiderAt == nil, eligible.sources.count == 1, let lone = eligible.sources.first,
               lone.kind == .cdn, !table.isDropped(lone.name) {
                let started = clock.now
                progress.inFlight.insert(lone.name)
                let result: Result<PieceBuffer, FetchError>
                do throws(FetchError) {
                    result = .success(try await lone.fetchPiece(range: range))
                } catch {
                    result = .failure(error)
                }
                progress.inFlight.remove(lone.name)
                let seconds = clock.now - started
                if let bytes = judge(lone, result, seconds: seconds) {
                    return Delivery(piece: bytes, source: lone, seconds: seconds,
                                    waitedSeconds: clock.now - progress.startedAt, notes: progress.notes)
                }
                if permanent != nil { throw failure() }
                if Task.isCancelled {
                    throw FetchError.pieceUnavailable(index: index, attempts: progress.round + 1, last: "the fetch was cancelled")
                }
            }
        }

        let outcome: Result<Delivery, FetchError> = await withTaskCancellationHandler {
            do throws(FetchError) {
                return .success(try await loop())
            } catch {
                return .failure(error)
            }
        } onCancel: {
            sink.finish()
        }
        return try outcome.get()
    }
}
