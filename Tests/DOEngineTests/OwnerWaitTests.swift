@testable import DOEngine
import DOCore
import DOSwarm
import Logging
import XCTest

/// How long a backup waits for a piece's owner before it goes to HTTP itself: one owner wait (the
/// CDN's budget, 1 s before anything is measured), longer while our own HTTP fetches of the content are
/// slower than that, and counted from when our view of the swarm was ready, or the owner's may have
/// been (it joined after us); and once HTTP may go, which
/// peers still come before it. Driven through `ContentSourceSet.eligible` on scheduler time, against a
/// real peer server on loopback.
final class OwnerWaitTests: XCTestCase {
    private struct Backup {
        let members: TwoMembers
        /// A piece the other member owns and nobody announced: we are its first backup.
        let piece: Int
        /// A piece we own, which the other member announced.
        let ours: Int

        var swarm: SessionSwarm { members.swarm }
        var set: ContentSourceSet { members.set }
        var clock: FakeClock { members.clock }
        var other: PeerId { members.other }
    }

    /// We and one other member, which announces one piece we own and none of its own (and first joined
    /// `otherJoinedAfterUs` seconds after us, when given).
    private func backup(otherJoinedAfterUs: Double? = nil) async throws -> Backup {
        let m = try await TwoMembers.start(self, name: "owner waits", otherJoinedAfterUs: otherJoinedAfterUs, shares: { ours, theirs in
            guard let mine = ours.first, !theirs.isEmpty else { throw XCTSkip("the ids gave one member every piece") }
            return ([mine], [])
        })
        let piece = m.theirs[0]
        XCTAssertEqual(m.swarm.ranked(above: piece, excluding: { _ in false }), [m.other], "we are the piece's first backup")
        return Backup(members: m, piece: piece, ours: m.ours[0])
    }

    /// Starts a fetch of our piece from a CDN that takes `seconds` on the fake clock, through the set's
    /// HTTP gate, and returns once the gate counts it.
    private func startOwnFetch(_ b: Backup, seconds: Double) async throws -> Task<Void, Never> {
        let gate = try XCTUnwrap(b.set.httpGate)
        let cdn = FakeSource("cdn", kind: .cdn, .fast(seconds), content: [UInt8](repeating: 7, count: 16), clock: b.clock)
        let fetch = gate.wrap(cdn, piece: b.ours, cap: 0)
        let task = Task { _ = try? await fetch.fetch(range: 0..<16) }
        let deadline = ContinuousClock.now + .seconds(5)
        while gate.inFlight == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
        XCTAssertEqual(gate.inFlight, 1, "our own fetch is in flight")
        return task
    }

    func testABackupWaitsOneOwnerWaitWhenNoFetchOfOurOwnIsSlowerThanThat() async throws {
        let b = try await backup()
        defer { Task { await b.swarm.stop() } }
        var progress = PieceProgress(startedAt: 0)
        let first = b.set.eligible(piece: b.piece, progress: &progress, now: 0)
        XCTAssertEqual(first.httpCount, 0, "the owner has its chance")
        XCTAssertEqual(first.reconsiderAt, 1, "one owner wait: the initial budget")
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &progress, now: 1).httpCount, 1, "then the backup goes")
    }

    func testWhileAnHTTPFetchOfOurOwnHasTakenLongerThanAnOwnerWaitTheBackupWaitsOnUntilItEnds() async throws {
        let b = try await backup()
        defer { Task { await b.swarm.stop() } }
        let fetch = try await startOwnFetch(b, seconds: 3)
        var progress = PieceProgress(startedAt: 0)
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &progress, now: 0).httpCount, 0)
        b.clock.advance(to: 2)
        let waiting = b.set.eligible(piece: b.piece, progress: &progress, now: 2)
        XCTAssertEqual(waiting.httpCount, 0, "our own piece has taken 2 s so far: the owner's cannot have come sooner")
        XCTAssertEqual(waiting.reconsiderAt, 5, "held until the longest owner wait, or until our fetch ends (news)")
        XCTAssertTrue(waiting.newsMayHelp)
        b.clock.advance(to: 3)
        await fetch.value
        XCTAssertEqual(b.set.httpGate?.inFlight, 0)
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &progress, now: 3).httpCount, 1,
                       "our fetch ended: one owner wait again, long gone")
    }

    func testAnOwnFetchThatNeverEndsHoldsTheBackupNoLongerThanTheLongestOwnerWait() async throws {
        let b = try await backup()
        defer { Task { await b.swarm.stop() } }
        let fetch = try await startOwnFetch(b, seconds: 60)
        defer { fetch.cancel() }
        var progress = PieceProgress(startedAt: 0)
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &progress, now: 0).httpCount, 0)
        b.clock.advance(to: 4.9)
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &progress, now: 4.9).httpCount, 0)
        b.clock.advance(to: 5)
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &progress, now: 5).httpCount, 1,
                       "the longest owner wait (5 s) bounds it, however slow our own fetch")
    }

    func testAPieceAskedForBeforeOurViewWasReadyWaitsForItsOwnerFromWhenItWas() async throws {
        let b = try await backup()
        defer { Task { await b.swarm.stop() } }
        var early = PieceProgress(startedAt: -0.8)
        let first = b.set.eligible(piece: b.piece, progress: &early, now: 0)
        XCTAssertEqual(first.httpCount, 0)
        XCTAssertEqual(first.reconsiderAt, 1, "one owner wait from the view, not 0.2 s from the piece's start")
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &early, now: 0.5).httpCount, 0)
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &early, now: 1).httpCount, 1)
        var later = PieceProgress(startedAt: 2)
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &later, now: 2).reconsiderAt, 3,
                       "a piece asked for after the view was ready waits from its own start")
    }

    func testAnOwnerThatJoinedAfterUsHasItsChanceFromWhenItsOwnViewMayBeReadyNotFromOurs() async throws {
        let b = try await backup(otherJoinedAfterUs: 1)
        defer { Task { await b.swarm.stop() } }
        var progress = PieceProgress(startedAt: 0)
        let first = b.set.eligible(piece: b.piece, progress: &progress, now: 0)
        XCTAssertEqual(first.httpCount, 0)
        // Our first join answer, placed on the scheduler's clock by that first look.
        let ourJoin = try XCTUnwrap(b.set.firstJoinAnswered.value, "the first look placed our first join")
        XCTAssertLessThanOrEqual(ourJoin, 0)
        let ownerReady = ourJoin + 1 + SessionSwarm.viewSettlingSeconds
        XCTAssertEqual(first.reconsiderAt ?? 0, ownerReady + 1, accuracy: 1e-9,
                       "one owner wait from the owner's join plus its arrivals' hold (1.8 s), not from our view (1 s)")
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &progress, now: ownerReady + 0.9).httpCount, 0)
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &progress, now: ownerReady + 1).httpCount, 1, "then the backup goes")
    }

    func testAnOwnerThatJoinedBeforeUsHasItsChanceFromOurViewAsWithoutJoinTimes() async throws {
        let b = try await backup(otherJoinedAfterUs: -2)
        defer { Task { await b.swarm.stop() } }
        var progress = PieceProgress(startedAt: 0)
        let first = b.set.eligible(piece: b.piece, progress: &progress, now: 0)
        XCTAssertEqual(first.httpCount, 0)
        XCTAssertEqual(first.reconsiderAt, 1, "its view was settled before ours was ready")
        XCTAssertEqual(b.set.eligible(piece: b.piece, progress: &progress, now: 1).httpCount, 1)
    }

    func testOnceHTTPMayGoItOvertakesThePeersThatHaveThePieceOnlyWhenTheSwarmAnnouncedNothingNewForAWhile() async throws {
        let b = try await backup()
        defer { Task { await b.swarm.stop() } }
        let stall = b.swarm.config.swarmStallSeconds
        var progress = PieceProgress(startedAt: 0)
        let moving = b.set.eligible(piece: b.ours, progress: &progress, now: 0)
        XCTAssertEqual(moving.sources.map(\.kind), [.peer, .cdn], "we own the piece: HTTP may go, after the peer that has it")
        XCTAssertFalse(moving.httpOvertakesPeers)
        XCTAssertEqual(moving.reconsiderAt, stall, "looked at again when the swarm would count as stalled")
        let stalled = b.set.eligible(piece: b.ours, progress: &progress, now: stall)
        XCTAssertEqual(stalled.sources.map(\.kind), [.cdn, .peer],
                       "nothing new for \(stall) s: sixteen withholders were otherwise asked, each for its full timeout, before the CDN")
        XCTAssertTrue(stalled.httpOvertakesPeers)
    }
}
