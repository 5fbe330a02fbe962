@testable import DOEngine
import DOCore
import Foundation
import Logging
import Synchronization
import XCTest

/// The piece scheduler on fake sources and a fake clock: no network, no FUSE, milliseconds of real time.
final class SchedulerTests: XCTestCase {
    private let content = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    private let pieceSize = 1024
    private var layout: PieceLayout { PieceLayout(contentLength: content.count, pieceSize: pieceSize) }

    private func hash(_ index: Int) -> SHA256Digest { SHA256.hash(Array(content[layout.range(ofPiece: index)])) }

    private func scheduler(_ clock: FakeClock, maxAttempts: Int = 4) -> PieceScheduler {
        var limits = PieceScheduler.Limits()
        limits.maxAttempts = maxAttempts
        return PieceScheduler(table: SourceTable(clock: clock), limits: limits, label: "test", logger: Logger(label: "test"))
    }

    private func source(_ name: String, _ kind: SourceKind, _ behaviour: FakeBehaviour, _ clock: FakeClock,
                        queuedSeconds: Double? = nil) -> FakeSource {
        FakeSource(name, kind: kind, behaviour, content: content, clock: clock, queuedSeconds: queuedSeconds)
    }

    /// Fetches pieces 0-2 with `peer` first and a fast CDN behind it: the peer never answers within its
    /// budget, so each piece comes from the CDN and the peer times out three times in a row. Returns the
    /// scheduler, the set (the CDN still in it) and the seconds each piece took. `actions` gives, for the
    /// instant a piece starts, what to do at which instants of its fetch.
    private func fetchThreePastATimingOutPeer(_ peer: FakeSource, clock: FakeClock,
                                              actions: (_ startedAt: Double) -> [(at: Double, run: @Sendable () -> Void)] = { _ in [] })
        async throws -> (PieceScheduler, FakeSourceSet, [Double]) {
        let s = scheduler(clock)
        let set = FakeSourceSet([peer, source("cdn", .cdn, .fast(0.1), clock)])
        var times: [Double] = []
        for index in 0..<3 {
            let (delivery, took) = try await fetch(s, index, set, clock: clock, actions: actions(clock.now))
            XCTAssertEqual(delivery.source.name, "cdn", "piece \(index)")
            times.append(took)
        }
        return (s, set, times)
    }

    /// Fetches piece `index` on the fake clock; the delivery and the fake seconds it took.
    private func fetch(_ scheduler: PieceScheduler, _ index: Int, _ set: any PieceSourceSet, clock: FakeClock, verified: Bool = true,
                       actions: [(at: Double, run: @Sendable () -> Void)] = []) async throws -> (PieceScheduler.Delivery, Double) {
        let range = layout.range(ofPiece: index)
        let expected = verified ? hash(index) : nil
        return try await runOnFakeClock(clock, actions: actions) {
            try await scheduler.fetch(piece: index, range: range, expected: expected, from: set)
        }
    }

    func testAFastSourceDeliversTheVerifiedPieceAloneWithoutAHedge() async throws {
        let clock = FakeClock()
        let fast = source("cdn", .cdn, .fast(0.1), clock)
        let spare = source("spare", .cdn, .fast(0.1), clock)
        let s = scheduler(clock)
        let (delivery, took) = try await fetch(s, 1, FakeSourceSet([fast, spare]), clock: clock)
        XCTAssertEqual(delivery.bytes, Array(content[1024..<2048]))
        XCTAssertEqual(delivery.source.name, "cdn")
        XCTAssertEqual(took, 0.1, accuracy: 0.01)
        XCTAssertEqual(spare.counts.requests, 0, "no hedge within the budget")
        let row = try XCTUnwrap(s.table.scores.first { $0.source == "cdn" })
        XCTAssertEqual(row.pieces, 1)
        XCTAssertEqual(row.bytes, 1024)
        XCTAssertEqual(try XCTUnwrap(row.p95Seconds), 0.1, accuracy: 0.01)
    }

    func testAWithholdingPeerIsHedgedAfterItsBudgetCancelledAndChargedATimeout() async throws {
        let clock = FakeClock()
        let withholder = source("peer w", .peer, .withholding, clock)
        let cdn = source("cdn", .cdn, .fast(0.2), clock)
        let s = scheduler(clock)
        let (delivery, took) = try await fetch(s, 0, FakeSourceSet([withholder, cdn]), clock: clock)
        XCTAssertEqual(delivery.source.name, "cdn")
        XCTAssertEqual(delivery.bytes, Array(content[0..<1024]))
        let budget = s.table.configuration.initialBudgetSeconds
        XCTAssertEqual(took, budget + 0.2, accuracy: 0.05, "the read waits one budget, then the CDN's own time")
        XCTAssertEqual(withholder.counts.cancelled, 1, "the loser is cancelled")
        XCTAssertEqual(s.table.scores.first { $0.source == "peer w" }?.timeouts, 1)
        XCTAssertEqual(withholder.counts.badPiecesCharged, 0, "a withholder sent no bad byte: no ban")
    }

    func testASlowPeerLosesItsRequestsAndIsDroppedAfterThreeTimeoutsInARow() async throws {
        let clock = FakeClock()
        let slow = source("peer slow", .peer, .fast(30), clock)
        let (s, set, times) = try await fetchThreePastATimingOutPeer(slow, clock: clock)
        for (index, took) in times.enumerated() {
            XCTAssertLessThan(took, 1.5, "piece \(index) never waits on the slow peer beyond its budget")
        }
        XCTAssertEqual(slow.counts.dropped, 1, "dropped at its third timeout in a row")
        XCTAssertNotNil(s.table.scores.first { $0.source == "peer slow" }?.droppedSeconds)
        let (_, took) = try await fetch(s, 3, set, clock: clock)
        XCTAssertEqual(slow.counts.requests, 3, "a dropped peer is not asked again")
        XCTAssertEqual(took, 0.1, accuracy: 0.01, "with the slow peer dropped, no budget is spent on it")
    }

    func testAPeerWhoseRequestsEachTimedOutQueuedBehindItsChokeIsNotAskedWhileDroppedButStaysConnectedAndKeepsItsPieces() async throws {
        let clock = FakeClock()
        let busy = source("peer busy", .peer, .fast(30), clock, queuedSeconds: 1)
        let (s, set, _) = try await fetchThreePastATimingOutPeer(busy, clock: clock)
        XCTAssertNotNil(s.table.scores.first { $0.source == "peer busy" }?.droppedSeconds, "dropped at its third timeout in a row")
        XCTAssertEqual(busy.counts.dropped, 0, "a busy drop is not charged: the swarm keeps its connection")
        XCTAssertTrue(s.table.mayOwn("peer busy"), "and it keeps the pieces it owns")
        let (_, took) = try await fetch(s, 3, set, clock: clock)
        XCTAssertEqual(busy.counts.requests, 3, "not asked while the busy drop lasts (until its choke is 5 s old)")
        XCTAssertEqual(took, 0.1, accuracy: 0.01)
    }

    func testAPeerChokingUsWhenEachBudgetRanOutIsABusyDropThoughItUnchokedUsBeforeTheCDNDelivered() async throws {
        let clock = FakeClock()
        let busy = source("peer busy", .peer, .fast(30), clock, queuedSeconds: 1)
        let budget = SchedulerConfiguration().initialBudgetSeconds
        // Each piece: it chokes us from the start; its budget runs out 1 s in, queued behind that choke;
        // it unchokes us 50 ms later, before the CDN (asked at the overrun) delivers.
        let (s, _, _) = try await fetchThreePastATimingOutPeer(busy, clock: clock) { startedAt in
            [(at: startedAt, run: { @Sendable in busy.setQueued(1) }), (at: startedAt + budget + 0.05, run: { @Sendable in busy.setQueued(nil) })]
        }
        XCTAssertNotNil(s.table.scores.first { $0.source == "peer busy" }?.droppedSeconds, "dropped at its third timeout in a row")
        XCTAssertEqual(busy.counts.dropped, 0, "each request waited unsent behind its choke: a busy drop, not a silent one")
        XCTAssertTrue(s.table.mayOwn("peer busy"), "and it keeps the pieces it owns")
    }

    func testALyingSourceIsChargedAndItsBytesAreNeverDelivered() async throws {
        let clock = FakeClock()
        let liar = source("peer liar", .peer, .lying(0.01), clock)
        let cdn = source("cdn", .cdn, .fast(0.1), clock)
        let s = scheduler(clock)
        let (delivery, took) = try await fetch(s, 2, FakeSourceSet([liar, cdn]), clock: clock)
        XCTAssertEqual(delivery.bytes, Array(content[2048..<3072]))
        XCTAssertEqual(SHA256.hash(delivery.bytes), hash(2))
        XCTAssertEqual(delivery.source.name, "cdn")
        XCTAssertEqual(liar.counts.badPiecesCharged, 1, "the liar is charged once, by its own rules")
        XCTAssertEqual(liar.counts.requests, 1, "and not asked again for that piece")
        XCTAssertEqual(s.table.scores.first { $0.source == "peer liar" }?.badPieces, 1)
        XCTAssertEqual(took, 0.11, accuracy: 0.02, "the next source is asked at once, without waiting a budget")
    }

    func testAFailingSourceFallsToTheNextAtOnce() async throws {
        let clock = FakeClock()
        let broken = source("cache host a", .cache, .failing(0.05, .httpStatus(url: "a", status: 503)), clock)
        let cdn = source("cdn", .cdn, .fast(0.1), clock)
        let s = scheduler(clock)
        let (delivery, took) = try await fetch(s, 0, FakeSourceSet([broken, cdn]), clock: clock)
        XCTAssertEqual(delivery.source.name, "cdn")
        XCTAssertEqual(took, 0.15, accuracy: 0.02)
        XCTAssertEqual(broken.counts.failuresCharged, 1, "the failure is charged to the source (DO's bans live behind it)")
    }

    func testAFlappingSourceIsRetriedAfterABackOffAndItsAnswerServed() async throws {
        let clock = FakeClock()
        let flapping = source("cdn", .cdn, .flapping(0.05), clock)
        let s = scheduler(clock)
        let (delivery, took) = try await fetch(s, 3, FakeSourceSet([flapping]), clock: clock)
        XCTAssertEqual(delivery.bytes, Array(content[3072..<4096]))
        XCTAssertEqual(flapping.counts.requests, 2)
        XCTAssertEqual(took, 0.05 + 0.25 + 0.05, accuracy: 0.02, "one failure, the first back-off, one success")
    }

    func testASourceThatAlwaysFailsGivesPieceUnavailableAfterMaxAttempts() async throws {
        let clock = FakeClock()
        let dead = source("cdn", .cdn, .failing(0.01, .transport(.connectFailed(url: "cdn", detail: "refused"))), clock)
        let s = scheduler(clock, maxAttempts: 3)
        do {
            _ = try await fetch(s, 0, FakeSourceSet([dead]), clock: clock)
            XCTFail("a dead CDN cannot deliver")
        } catch let error as FetchError {
            guard case .pieceUnavailable = error else { return XCTFail("expected pieceUnavailable, got \(error)") }
            XCTAssertEqual(error.errno, EIO)
        }
        XCTAssertEqual(dead.counts.requests, 3, "asked exactly maxAttempts times")
    }

    func testAMissingContentOnTheCDNFailsAtOnceAsENOENT() async throws {
        let clock = FakeClock()
        let gone = source("cdn", .cdn, .failing(0.01, .httpStatus(url: "cdn", status: 404)), clock)
        let s = scheduler(clock)
        do {
            _ = try await fetch(s, 0, FakeSourceSet([gone]), clock: clock)
            XCTFail("a 404 cannot deliver")
        } catch let error as FetchError {
            XCTAssertEqual(error.errno, ENOENT, "\(error)")
        }
        XCTAssertEqual(gone.counts.requests, 1, "a permanent answer is not retried")
    }

    func testWaitingForAPeersAnnouncementIsAnEventNotAPoll() async throws {
        let clock = FakeClock()
        let peer = source("peer p", .peer, .fast(0.05), clock)
        let set = FakeSourceSet([peer], unannounced: ["peer p"])
        let s = scheduler(clock)
        let (delivery, took) = try await fetch(s, 1, set, clock: clock, actions: [(at: 3.0, run: { set.announce("peer p") })])
        XCTAssertEqual(delivery.source.name, "peer p")
        XCTAssertEqual(took, 3.05, accuracy: 0.02, "asked as soon as it announced the piece")
        XCTAssertLessThanOrEqual(set.eligibleCalls, 3, "the scheduler looked again on the announcement, not every 20 ms")
    }

    func testPiecesDecidedTogetherNeverFetchMoreAtOnceThanTheHTTPCap() async throws {
        // A reader's window is decided at one instant (the first join's answer wakes every piece): a
        // fetch counts from the moment it is started, or every piece sees an empty gate.
        let clock = FakeClock()
        let cdn = source("cdn", .cdn, .fast(0.1), clock)
        let set = CappedFakeSourceSet(cdn, cap: 1)
        let s = scheduler(clock)
        let (pieces, took) = try await runOnFakeClock(clock) { [layout, content] in
            try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                for index in 0..<layout.pieceCount {
                    group.addTask {
                        let range = layout.range(ofPiece: index)
                        let delivery = try await s.fetch(piece: index, range: range, expected: SHA256.hash(Array(content[range])), from: set)
                        return (index, delivery.bytes)
                    }
                }
                var got: [Int: [UInt8]] = [:]
                for try await (index, bytes) in group { got[index] = bytes }
                return got
            }
        }
        XCTAssertEqual(cdn.counts.mostInFlight, 1, "one HTTP fetch at a time, as the cap says")
        XCTAssertEqual(cdn.counts.requests, layout.pieceCount)
        for index in 0..<layout.pieceCount { XCTAssertEqual(pieces[index], Array(content[layout.range(ofPiece: index)])) }
        XCTAssertEqual(took, 0.1 * Double(layout.pieceCount), accuracy: 0.05, "one after the other, each when a place freed")
        XCTAssertEqual(set.gate.inFlight, 0, "every place given back")
    }

    func testAnHTTPFetchIsClaimedAsItStartsAndAPieceTheCapHoldsBackIsNot() async throws {
        final class Claims: Sendable { let pieces = Mutex<[Int]>([]) }
        let clock = FakeClock()
        let cdn = source("cdn", .cdn, .fast(0.1), clock)
        let claims = Claims()
        let gate = HTTPGate(onStart: { piece in claims.pieces.withLock { $0.append(piece) } })
        let first = gate.wrap(cdn, piece: 2, cap: 1), second = gate.wrap(cdn, piece: 3, cap: 1)
        XCTAssertTrue(first.mayStart())
        XCTAssertFalse(second.mayStart(), "the cap is reached: piece 3 neither starts nor is claimed")
        XCTAssertEqual(claims.pieces.withLock { $0 }, [2], "claimed to the peers as the fetch starts")
        let range = layout.range(ofPiece: 2)
        let (bytes, _) = try await runOnFakeClock(clock) { try await first.fetchPiece(range: range).bytes }
        XCTAssertEqual(bytes, Array(content[range]))
        XCTAssertEqual(gate.inFlight, 0, "its place given back once fetched")
        XCTAssertTrue(second.mayStart())
        XCTAssertEqual(claims.pieces.withLock { $0 }, [2, 3])
    }

    func testABudgetFollowsTheSourcesRecentP95WithinItsBounds() async throws {
        let clock = FakeClock()
        let cdn = source("cdn", .cdn, .fast(0.4), clock)
        let s = scheduler(clock)
        XCTAssertEqual(s.table.budget("cdn"), s.table.configuration.initialBudgetSeconds, "not measured: the initial budget")
        for index in 0..<4 { _ = try await fetch(s, index, FakeSourceSet([cdn]), clock: clock) }
        XCTAssertEqual(s.table.budget("cdn"), 0.8, accuracy: 0.02, "twice the p95")
        let table = SourceTable(clock: clock)
        for _ in 0..<5 { table.recordSuccess("quick", kind: .peer, bytes: 1, seconds: 0.001) }
        XCTAssertEqual(table.budget("quick"), table.configuration.minBudgetSeconds, "never below the minimum")
        for _ in 0..<5 { table.recordSuccess("crawl", kind: .peer, bytes: 1, seconds: 60) }
        XCTAssertEqual(table.budget("crawl"), table.configuration.maxBudgetSeconds, "never above the maximum")
    }

    func testTwoWithholdersAndAFastSourceStillDeliverWithinTwoBudgets() async throws {
        let clock = FakeClock()
        let a = source("peer a", .peer, .withholding, clock)
        let b = source("peer b", .peer, .withholding, clock)
        let cdn = source("cdn", .cdn, .fast(0.1), clock)
        let s = scheduler(clock)
        let (delivery, took) = try await fetch(s, 0, FakeSourceSet([a, b, cdn]), clock: clock)
        XCTAssertEqual(delivery.source.name, "cdn")
        XCTAssertEqual(took, 2 * s.table.configuration.initialBudgetSeconds + 0.1, accuracy: 0.05)
        XCTAssertEqual(a.counts.cancelled + b.counts.cancelled, 2, "both withholders' requests are cancelled")
    }

    func testWhenHTTPOvertakesPeersTheCDNStartsBesidePeersThatOverranAndFillEveryPlace() async throws {
        let clock = FakeClock()
        let peers = (0..<5).map { source("peer \($0)", .peer, .withholding, clock) }
        let cdn = source("cdn", .cdn, .fast(0.1), clock)
        let s = scheduler(clock)
        let places = s.table.configuration.maxParallelSources
        let (delivery, took) = try await fetch(s, 0, FakeSourceSet(peers + [cdn], httpOvertakesPeers: true), clock: clock)
        XCTAssertEqual(delivery.source.name, "cdn")
        XCTAssertEqual(took, Double(places) * s.table.configuration.initialBudgetSeconds + 0.1, accuracy: 0.05,
                       "the CDN starts as the last peer's budget runs out, in one place more")
        XCTAssertEqual(peers.map(\.counts.requests), [1, 1, 1, 0, 0], "peers fill their places, and no more are asked")
    }

    func testOtherwiseSlowPeersThatFillEveryPlaceKeepTheCDNWaitingUntilOneDelivers() async throws {
        let clock = FakeClock()
        let peers = (0..<4).map { source("peer \($0)", .peer, .fast(4), clock) }
        let cdn = source("cdn", .cdn, .fast(0.1), clock)
        let s = scheduler(clock)
        let (delivery, took) = try await fetch(s, 0, FakeSourceSet(peers + [cdn]), clock: clock)
        XCTAssertEqual(delivery.source.name, "peer 0", "on starved cores a slow peer delivers")
        XCTAssertEqual(took, 4, accuracy: 0.05)
        XCTAssertEqual(cdn.counts.requests, 0, "the origin was not asked beside three slow peers")
        XCTAssertEqual(peers.map(\.counts.requests), [1, 1, 1, 0])
    }

    func testSimpleModeDeliversWhatTheSourceSentWithoutAHash() async throws {
        let clock = FakeClock()
        let liar = source("cdn", .cdn, .lying(0.01), clock)
        let s = scheduler(clock)
        let (delivery, _) = try await fetch(s, 0, FakeSourceSet([liar]), clock: clock, verified: false)
        XCTAssertEqual(delivery.bytes, content[0..<1024].map { $0 ^ 0xFF }, "no hash, no check: simple mode trusts its origin")
    }

    // A lone CDN URL in a set without news is asked in the fetching task itself (no request task, no
    // budget timer); what it answers is judged exactly as in the loop.

    func testALoneCDNWithoutNewsDeliversTheVerifiedPieceAndIsScored() async throws {
        let clock = FakeClock()
        let cdn = source("cdn", .cdn, .fast(0.1), clock)
        let s = scheduler(clock)
        let (delivery, took) = try await fetch(s, 2, FakeSourceSet([cdn], bringsNews: false), clock: clock)
        XCTAssertEqual(delivery.bytes, Array(content[2048..<3072]))
        XCTAssertEqual(delivery.source.name, "cdn")
        XCTAssertEqual(took, 0.1, accuracy: 0.01)
        XCTAssertEqual(cdn.counts.requests, 1)
        let row = try XCTUnwrap(s.table.scores.first { $0.source == "cdn" })
        XCTAssertEqual(row.pieces, 1)
        XCTAssertEqual(row.bytes, 1024)
    }

    func testALoneLyingCDNWithoutNewsIsChargedEachTimeAndItsBytesNeverDelivered() async throws {
        let clock = FakeClock()
        let liar = source("cdn", .cdn, .lying(0.01), clock)
        let s = scheduler(clock, maxAttempts: 3)
        do {
            _ = try await fetch(s, 1, FakeSourceSet([liar], bringsNews: false), clock: clock)
            XCTFail("a lying CDN cannot deliver a verified piece")
        } catch let error as FetchError {
            guard case .pieceUnavailable = error else { return XCTFail("expected pieceUnavailable, got \(error)") }
            XCTAssertTrue(error.description.contains("SHA-256") || error.description.contains("verification"), "\(error)")
        }
        XCTAssertEqual(liar.counts.requests, 3, "the first try and the loop's retries: maxAttempts in all")
        XCTAssertEqual(liar.counts.badPiecesCharged, 3, "every bad answer is charged, the first one too")
        XCTAssertEqual(s.table.scores.first { $0.source == "cdn" }?.badPieces, 3)
    }

    func testALoneFlappingCDNWithoutNewsIsRetriedAfterTheSameBackOffAsInTheLoop() async throws {
        let clock = FakeClock()
        let flapping = source("cdn", .cdn, .flapping(0.05), clock)
        let s = scheduler(clock)
        let (delivery, took) = try await fetch(s, 3, FakeSourceSet([flapping], bringsNews: false), clock: clock)
        XCTAssertEqual(delivery.bytes, Array(content[3072..<4096]))
        XCTAssertEqual(flapping.counts.requests, 2)
        XCTAssertEqual(flapping.counts.failuresCharged, 1, "the first try's failure is charged")
        XCTAssertEqual(took, 0.05 + 0.25 + 0.05, accuracy: 0.02, "one failure, the first back-off, one success")
    }

    func testALoneCDNWithoutNewsAnswering404FailsAtOnceAsENOENT() async throws {
        let clock = FakeClock()
        let gone = source("cdn", .cdn, .failing(0.01, .httpStatus(url: "cdn", status: 404)), clock)
        let s = scheduler(clock)
        do {
            _ = try await fetch(s, 0, FakeSourceSet([gone], bringsNews: false), clock: clock)
            XCTFail("a 404 cannot deliver")
        } catch let error as FetchError {
            XCTAssertEqual(error.errno, ENOENT, "\(error)")
        }
        XCTAssertEqual(gone.counts.requests, 1, "a permanent answer is not retried")
    }

    func testNoSourceAtAllFailsAtOnce() async throws {
        let clock = FakeClock()
        let s = scheduler(clock)
        do {
            _ = try await fetch(s, 0, FakeSourceSet([]), clock: clock)
            XCTFail("nothing to fetch from")
        } catch let error as FetchError {
            XCTAssertTrue(error.description.contains("no source configured"), "\(error)")
        }
        XCTAssertEqual(clock.now, 0, "no waiting")
    }
}
