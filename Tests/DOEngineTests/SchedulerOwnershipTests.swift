@testable import DOEngine
import DOSwarm
import XCTest

/// Who fetches a piece from the CDN and when the others may (`PieceOwnership`), and which pieces a
/// member fetches ahead for the swarm (`ServeAhead`): pure rules, no clock, no network.
final class SchedulerOwnershipTests: XCTestCase {
    private let members = (0..<100).map { i in PeerId(bytes: [UInt8(i), 7, 1] + [UInt8](repeating: UInt8(i), count: 13) + [0, 0, 0, 0])! }

    func testEveryMemberWithTheSameViewNamesTheSameSingleOwnerForEachPiece() {
        let members = Array(self.members.prefix(40))
        for piece in 0..<16 {
            let owners = members.filter { PieceOwnership.owns($0, piece: piece, members: members) }
            XCTAssertEqual(owners.count, 1, "piece \(piece) has exactly one owner")
            for member in members {
                let above = PieceOwnership.ranked(above: member, piece: piece, members: members)
                XCTAssertEqual(above.first ?? member, owners[0], "every member names the same owner of piece \(piece)")
            }
        }
    }

    func testTheRankAboveAMemberIsTheSameOrderForEveryoneAndExcludesItself() {
        let piece = 5
        let order = members.sorted { PieceOwnership.rank($0, piece) > PieceOwnership.rank($1, piece) }
        for (k, member) in order.enumerated() {
            let above = PieceOwnership.ranked(above: member, piece: piece, members: members)
            XCTAssertEqual(above, Array(order[..<k]), "the \(k)-th member has the \(k) before it above it, best first")
            XCTAssertFalse(above.contains(member))
        }
    }

    func testOwnershipIsSpreadOverTheMembers() {
        let few = Array(members.prefix(8))
        var owned: [PeerId: Int] = [:]
        for piece in 0..<800 {
            owned[few.first { PieceOwnership.owns($0, piece: piece, members: few) }!, default: 0] += 1
        }
        XCTAssertEqual(owned.count, 8, "every member owns some pieces")
        XCTAssertTrue(owned.values.allSatisfy { $0 > 50 && $0 < 150 }, "about 100 each: \(owned.values.sorted())")
    }

    func testTheOwnerGoesAtOnceAndEachBackupOneWaitLaterNeverPastTheLongestWait() {
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 0, startedAt: 10, wait: 1.5, maxWait: 5), 10)
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 1, startedAt: 10, wait: 1.5, maxWait: 5), 11.5)
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 2, startedAt: 10, wait: 1.5, maxWait: 5), 13)
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 3, startedAt: 10, wait: 1.5, maxWait: 5), 14.5)
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 4, startedAt: 10, wait: 1.5, maxWait: 5), 15)
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 99, startedAt: 10, wait: 1.5, maxWait: 5), 15)
    }

    func testABusyOwnerGetsOneWaitMoreWithinTheLongestWaitAndItsOwnFetchStillGoesAtOnce() {
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 0, startedAt: 10, wait: 1.5, maxWait: 5, ownerBusy: true), 10,
                       "the owner itself never waits")
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 1, startedAt: 10, wait: 1.5, maxWait: 5, ownerBusy: true), 13)
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 2, startedAt: 10, wait: 1.5, maxWait: 5, ownerBusy: true), 14.5)
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 3, startedAt: 10, wait: 1.5, maxWait: 5, ownerBusy: true), 15)
        XCTAssertEqual(PieceOwnership.httpOpensAt(above: 1, startedAt: 10, wait: 1.5, maxWait: 5, ownerBusy: false), 11.5)
    }

    func testMembersBelowTheTimedBackupsKeepOffHTTPWhileTheSwarmMovesAndGoOnceItStallsOrTheHoldEnds() {
        func hold(above: Int, now: Double, peersHaveIt: Bool = false, movedAt: Double = 10) -> Double? {
            PieceOwnership.lateBackupHold(above: above, timedBackups: 1, now: now, startedAt: 10, peersHaveIt: peersHaveIt,
                                          swarmMovedAt: movedAt, stallSeconds: 5, maxHoldSeconds: 30)
        }
        // The owner's timed backup goes on the clock, whatever the swarm does.
        XCTAssertNil(hold(above: 0, now: 15))
        XCTAssertNil(hold(above: 1, now: 15, peersHaveIt: true, movedAt: 14))
        // Below it: held while the connected peers announced something within the stall window...
        XCTAssertEqual(hold(above: 2, now: 15, movedAt: 14), 19)
        XCTAssertEqual(hold(above: 60, now: 21, movedAt: 20), 25)
        // ...or a trusted peer has the piece (then until the hold ends)...
        XCTAssertEqual(hold(above: 2, now: 25, peersHaveIt: true, movedAt: 10), 40)
        // ...and let go once the swarm announced nothing for the stall window, or at the hold's end.
        XCTAssertNil(hold(above: 2, now: 19, movedAt: 14))
        XCTAssertNil(hold(above: 2, now: 15, movedAt: 10))
        XCTAssertEqual(hold(above: 2, now: 38, movedAt: 37), 40, "never past the hold's end")
        XCTAssertNil(hold(above: 2, now: 40, peersHaveIt: true, movedAt: 39.9))
    }

    func testServingAheadFetchesOnlyOwnedPiecesNobodyHasAroundTheFrontierLowestFirstWithinTheLimit() {
        let owned: Set<Int> = [3, 20, 30, 34, 35, 36, 40, 60]
        let had: Set<Int> = [35]
        let pieces = ServeAhead.pieces(frontier: 30, window: 10, pieceCount: 100, limit: 3,
                                       wanted: { !had.contains($0) }, owned: { owned.contains($0) })
        XCTAssertEqual(pieces, [20, 30, 34], "20...40 around 30, 35 is had, 3 and 60 are outside, three at most")
        let all = ServeAhead.pieces(frontier: 30, window: 10, pieceCount: 100, limit: 10,
                                    wanted: { !had.contains($0) }, owned: { owned.contains($0) })
        XCTAssertEqual(all, [20, 30, 34, 36, 40])
    }

    func testServingAheadReachesBackForPiecesTheFrontierLeftBehindWhileAReaderLacksThemWithinTheLookBehind() {
        let owned: Set<Int> = [10, 20, 40, 60, 95]
        let pick = { (lowest: Int?) in
            ServeAhead.pieces(frontier: 100, lowestMissing: lowest, window: 16, lookBehind: 64, pieceCount: 128, limit: 10,
                              wanted: { _ in true }, owned: { owned.contains($0) })
        }
        XCTAssertEqual(pick(nil), [95], "no reader known: the window around the frontier only")
        XCTAssertEqual(pick(50), [60, 95], "a reader lacks 50 on: the holes from there, lowest first")
        XCTAssertEqual(pick(15), [40, 60, 95], "never more than 64 pieces below the frontier")
        XCTAssertEqual(pick(99), [95], "a reader inside the window changes nothing")
        let floored = ServeAhead.pieces(frontier: 100, lowestMissing: 15, window: 16, lookBehind: 64, floor: 50, pieceCount: 128,
                                        limit: 10, wanted: { _ in true }, owned: { owned.contains($0) })
        XCTAssertEqual(floored, [60, 95], "nothing below the floor: pieces the swarm had passed when we arrived")
        let two = ServeAhead.pieces(frontier: 100, lowestMissing: 50, window: 16, lookBehind: 64, pieceCount: 128, limit: 1,
                                    wanted: { _ in true }, owned: { owned.contains($0) })
        XCTAssertEqual(two, [60], "the hole a reader meets first goes first")
    }

    func testServingAheadDoesNothingWithoutAFrontierOrPastTheContentsEnd() {
        XCTAssertEqual(ServeAhead.pieces(frontier: nil, window: 16, pieceCount: 100, limit: 4, wanted: { _ in true }, owned: { _ in true }), [])
        XCTAssertEqual(ServeAhead.pieces(frontier: 98, window: 4, pieceCount: 100, limit: 10, wanted: { _ in true }, owned: { _ in true }),
                       [94, 95, 96, 97, 98, 99])
        XCTAssertEqual(ServeAhead.pieces(frontier: 5, window: 16, pieceCount: 100, limit: 0, wanted: { _ in true }, owned: { _ in true }), [])
    }

    func testAMemberServingAheadTakesAboutItsShareOfTheWindow() {
        let few = Array(members.prefix(8))
        var total = 0
        for member in few {
            total += ServeAhead.pieces(frontier: 100, window: 16, pieceCount: 1000, limit: 100, wanted: { _ in true },
                                       owned: { PieceOwnership.owns(member, piece: $0, members: few) }).count
        }
        XCTAssertEqual(total, 33, "the 33 pieces of the window are each fetched by exactly one of the eight")
    }

    func testServingAheadIgnoresAPeerThatTimedOutUntilItDeliversButNotOneThatFailedOnce() {
        let table = SourceTable(clock: FakeClock())
        table.recordFailure("peer busy", kind: .peer)
        XCTAssertFalse(table.distrusts("peer busy"), "a choke or a busy peer still has what it announced")
        table.recordTimeout("peer withholds", kind: .peer, requestedAt: 0)
        XCTAssertTrue(table.distrusts("peer withholds"), "a request that timed out with nothing delivered")
        table.recordSuccess("peer withholds", kind: .peer, bytes: 1, seconds: 0.1)
        XCTAssertFalse(table.distrusts("peer withholds"), "a good piece ends it")
        XCTAssertFalse(table.distrusts("peer unknown"))
    }

    func testAPeerVouchesForWhatItAnnouncesUntilItTimesOutHavingNeverDeliveredOrIsDropped() {
        let clock = FakeClock()
        let table = SourceTable(clock: clock)
        XCTAssertTrue(table.vouches("peer unknown"))
        table.recordTimeout("peer withholds", kind: .peer, requestedAt: 0)
        XCTAssertFalse(table.vouches("peer withholds"), "a timeout with nothing ever delivered: a withholder, perhaps")
        table.recordSuccess("peer starved", kind: .peer, bytes: 1, seconds: 0.1)
        clock.advance(to: 1)
        table.recordTimeout("peer starved", kind: .peer, requestedAt: 1)
        XCTAssertTrue(table.distrusts("peer starved"), "its last request timed out")
        XCTAssertTrue(table.vouches("peer starved"), "but it delivered before: slow, and what it announced is there")
        for owed in 0..<table.configuration.dropAfterTimeouts {
            table.recordOwnerMiss("peer starved", waitingSince: 2 + Double(owed))
        }
        XCTAssertFalse(table.mayOwn("peer starved"))
        XCTAssertTrue(table.vouches("peer starved"), "an owner that missed its pieces is behind, not lying")
        for at in 2...3 { table.recordTimeout("peer starved", kind: .peer, requestedAt: Double(at)) }
        XCTAssertTrue(table.isDropped("peer starved"))
        XCTAssertFalse(table.vouches("peer starved"), "dropped for timing out: it vouches for nothing until the drop ends")
        XCTAssertTrue(table.mayBelieve("peer starved"), "but what it announced before may still be believed")
        for at in 4...6 { table.recordTimeout("peer withholds", kind: .peer, requestedAt: Double(at)) }
        clock.advance(to: 10 + table.configuration.dropSeconds)
        XCTAssertTrue(table.vouches("peer starved"), "the drop ended")
        XCTAssertFalse(table.isDropped("peer withholds"))
        XCTAssertFalse(table.vouches("peer withholds"), "a drop ending does not give a withholder its word back")
        table.recordBadPiece("peer starved", kind: .peer)
        XCTAssertFalse(table.mayBelieve("peer starved"), "nor is a peer that sent a bad piece believed")
    }

    func testARequestThatTimedOutUnsentInABusyPeersQueueLeavesItsWordButNotOnceThePeerHasChokedUsLongerThanABusyQueue() {
        let table = SourceTable(clock: FakeClock())
        let busy = table.configuration.busyQueueSeconds
        table.recordTimeout("peer busy", kind: .peer, requestedAt: 0, queuedSeconds: busy / 2)
        table.recordTimeout("peer busy", kind: .peer, requestedAt: 0, queuedSeconds: busy)
        XCTAssertTrue(table.mayBelieve("peer busy"), "queued unsent behind others: the peer never had the request")
        XCTAssertTrue(table.vouches("peer busy"))
        XCTAssertTrue(table.distrusts("peer busy"), "its last request still timed out")
        table.recordTimeout("peer chokes", kind: .peer, requestedAt: 0, queuedSeconds: busy + 0.5)
        XCTAssertFalse(table.mayBelieve("peer chokes"), "choked that long: a withholder may choke everyone")
        table.recordTimeout("peer silent", kind: .peer, requestedAt: 0, queuedSeconds: nil)
        XCTAssertFalse(table.mayBelieve("peer silent"), "sent and unanswered, as before")
    }

    func testADropForTimeoutsThatEachWaitedBehindAYoungChokeLeavesThePeerItsPiecesAndItsWordButOneSilentTimeoutInTheStreakDoesNot() {
        let clock = FakeClock()
        let table = SourceTable(clock: clock)
        let young = table.configuration.busyQueueSeconds / 2
        let drops = (1...3).map { at in table.recordTimeout("peer busy", kind: .peer, requestedAt: Double(at), queuedSeconds: young) }
        XCTAssertEqual(drops, [nil, nil, .busy])
        XCTAssertTrue(table.isDropped("peer busy"), "it gets no request from us")
        XCTAssertTrue(table.mayOwn("peer busy"), "it serves others first: it still fetches the pieces it owns")
        XCTAssertTrue(table.vouches("peer busy"))
        XCTAssertFalse(table.distrusts("peer busy"))

        let mixed = [young, nil, young].map { queued in table.recordTimeout("peer mixed", kind: .peer, requestedAt: 1, queuedSeconds: queued) }
        XCTAssertEqual(mixed, [nil, nil, .silent], "one request sent and unanswered makes the drop one for silence")
        let old = (1...3).map { _ in table.recordTimeout("peer chokes", kind: .peer, requestedAt: 1, queuedSeconds: 2 * young + 1) }
        XCTAssertEqual(old, [nil, nil, .silent], "a choke older than a busy queue is a withholder's as well")
        for name in ["peer mixed", "peer chokes"] {
            XCTAssertFalse(table.mayOwn(name), name)
            XCTAssertFalse(table.vouches(name), name)
            XCTAssertTrue(table.distrusts(name), name)
        }
        clock.advance(to: young - 0.1)
        XCTAssertTrue(table.isDropped("peer busy"))
        clock.advance(to: young)
        XCTAssertFalse(table.isDropped("peer busy"), "a busy drop lasts until the choke is a busy queue old")
        XCTAssertTrue(table.isDropped("peer mixed"))
        let later = table.recordTimeout("peer busy", kind: .peer, requestedAt: young, queuedSeconds: 2 * young + 0.5)
        XCTAssertNil(later)
        XCTAssertFalse(table.mayBelieve("peer busy"), "still choked us after that: its word ends, as a choking withholder's does")

        clock.advance(to: 10)
        table.recordTimeout("peer recovers", kind: .peer, requestedAt: 10, queuedSeconds: nil)
        table.recordSuccess("peer recovers", kind: .peer, bytes: 1, seconds: 1)
        clock.advance(to: 11)
        let afresh = (1...3).map { _ in table.recordTimeout("peer recovers", kind: .peer, requestedAt: 11, queuedSeconds: young) }
        XCTAssertEqual(afresh, [nil, nil, .busy], "a good piece ends the streak, its silent timeout with it")
    }
}
