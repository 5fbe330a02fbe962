@testable import DOEngine
import DOCore
import DOSwarm
import Logging
import XCTest

/// Piece owners come from the swarm's eldest members, by the first-join times the control plane gives
/// (`PeeringConfiguration.ownersAmongEldest`, `PieceOwnership.eldest`): a member that joined later owns
/// nothing and has every one of them above it; without times, every member may own, as before.
final class EldestOwnersTests: XCTestCase {
    private let members = (0..<20).map { i in PeerId(bytes: [UInt8(i), 9, 3] + [UInt8](repeating: UInt8(i), count: 17))! }

    func testTheEldestAreTheEarliestFirstJoinsTiesByPeerIdAndNobodyWhenATimeIsMissing() {
        let us = members[0]
        var joined: [PeerId: Int64] = [:]
        for (i, member) in members.enumerated() { joined[member] = 1_000 + Int64(i / 2) }  // two at each instant
        let others = members.dropFirst()
        XCTAssertEqual(PieceOwnership.eldest(5, us: us, members: others, joined: joined), Set(members.prefix(5)),
                       "the five earliest, the tie at the fifth place broken by peer id")
        joined[us] = 2_000
        XCTAssertEqual(PieceOwnership.eldest(5, us: us, members: others, joined: joined), Set(members[1...5]),
                       "a member that joined last is not among them")
        XCTAssertEqual(PieceOwnership.eldest(50, us: us, members: others, joined: joined), Set(members), "a small swarm: everyone")
        XCTAssertNil(PieceOwnership.eldest(0, us: us, members: others, joined: joined), "0: everyone may own")
        joined[members[7]] = nil
        XCTAssertNil(PieceOwnership.eldest(5, us: us, members: others, joined: joined), "a member without a time: everyone may own")
    }

    func testAMemberOutsideTheEldestRanksThemAllAboveItInTheOrderTheyRankThemselves() {
        let eldest = Array(members.prefix(6))
        for piece in 0..<32 {
            let order = PieceOwnership.ranked(piece: piece, members: eldest)
            XCTAssertEqual(Set(order), Set(eldest))
            let owner = order[0]
            XCTAssertEqual(PieceOwnership.ranked(above: owner, piece: piece, members: eldest), [], "the first of the order owns it")
            for (k, member) in order.enumerated() {
                XCTAssertEqual(PieceOwnership.ranked(above: member, piece: piece, members: eldest), Array(order[..<k]),
                               "each of the eldest sees the same order above it")
            }
        }
    }

    /// Three listed members with real peer servers; we joined as `ourRank` (0 first) among the four, or
    /// with no times at all. The youngest listed member announces `youngestHolds(us, others)`. Returns
    /// once our view is ready.
    private func swarm(ourRank: Int?, eldest: Int, youngestHolds: (PeerId, [PeerId]) -> Set<Int> = { _, _ in [] })
        async throws -> (SessionSwarm, us: PeerId, others: [PeerId]) {
        let layout = PieceLayout(contentLength: 32 << 20)
        let hash = SHA256.hash(Array("eldest".utf8))
        let us = PeerId.random()
        let others = (0..<3).map { _ in PeerId.random() }
        let held = youngestHolds(us, others)
        var listed: [(PeerId, Int)] = []
        for peer in others {
            listed.append(try await heldPiecesServer(peer == others[2] ? held : [], hash: hash, layout: layout, id: peer))
        }
        var directory = FixedListing(peers: listed)
        if let ourRank {
            var order = others
            order.insert(us, at: ourRank)
            for (i, peer) in order.enumerated() { directory.joinedMs[peer] = 1_764_790_000_000 + Int64(i) * 250 }
        }
        var config = PeeringConfiguration(downloadMode: 3, groupId: nil, peerId: us, reportedIp: "127.0.0.1", port: 7680)
        config.ownersAmongEldest = eldest
        let session = SessionSwarm(contentId: try ContentId("DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc="),
                                   hashOfHashes: hash, layout: layout, config: config, directory: directory,
                                   logger: Logger(label: "test"))
        session.start { 0 }
        let deadline = ContinuousClock.now + .seconds(5)
        while (session.secondsUntilReady() != 0 || session.memberCount < 3) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        XCTAssertEqual(session.memberCount, 3, "the three listed members are members")
        XCTAssertEqual(session.secondsUntilReady(), 0, "our view is ready")
        return (session, us, others)
    }

    func testTheYoungestOfFourOwnsNothingWhenTwoEldestOwnAndHasBothAboveItForEveryPiece() async throws {
        let (session, _, others) = try await swarm(ourRank: 3, eldest: 2)
        defer { Task { await session.stop() } }
        for piece in 0..<32 {
            let above = session.ranked(above: piece, excluding: { _ in false })
            XCTAssertEqual(above, PieceOwnership.ranked(piece: piece, members: others.prefix(2)),
                           "piece \(piece): the two eldest, in their own order, and nobody else")
        }
    }

    func testWhenEveryOneOfTheEldestIsPassedOverTheYoungerMembersRankAmongAllMembers() async throws {
        let (session, us, others) = try await swarm(ourRank: 3, eldest: 2)
        defer { Task { await session.stop() } }
        let passedOver = Set(others.prefix(2))
        for piece in 0..<32 {
            XCTAssertEqual(session.ranked(above: piece, excluding: { passedOver.contains($0) }),
                           PieceOwnership.ranked(above: us, piece: piece, members: [others[2]]),
                           "piece \(piece): the eldest out (misses), we and the other young member share the pieces")
            XCTAssertEqual(session.ranked(above: piece, excluding: { $0 == others[0] }),
                           PieceOwnership.ranked(piece: piece, members: [others[1]]), "one of the eldest left: it owns them all")
        }
    }

    func testOneOfTheEldestOwnsItsShareAmongThemOnly() async throws {
        let (session, us, others) = try await swarm(ourRank: 0, eldest: 2)
        defer { Task { await session.stop() } }
        var owned = 0
        for piece in 0..<32 {
            let above = session.ranked(above: piece, excluding: { _ in false })
            XCTAssertEqual(above, PieceOwnership.ranked(above: us, piece: piece, members: [others[0]]),
                           "piece \(piece): ranked among the two eldest, we and the first listed")
            if above.isEmpty { owned += 1 }
        }
        XCTAssertGreaterThan(owned, 5, "we own about half the pieces: \(owned)")
        XCTAssertLessThan(owned, 27)
    }

    /// We are the eldest of four, owners drawn from the `eldest` eldest; the youngest member announces
    /// every piece we own but the last. Returns how many HTTP sources `eligible` offers, at once, for a
    /// held piece and the unheld one, after `record` told the source table about the youngest member.
    private func httpOffered(eldest: Int, record: (SourceTable, String) -> Void = { _, _ in })
        async throws -> (held: Int, unheld: Int) {
        try await withOwnedPieces(eldest: eldest) { set, table, youngest, held, unheld in
            record(table, youngest)
            func http(_ piece: Int) -> Int {
                var progress = PieceProgress(startedAt: 0)
                return set.eligible(piece: piece, progress: &progress, now: 0).httpCount
            }
            return (http(held), http(unheld))
        }
    }

    /// Runs `body` with the source set of the swarm `httpOffered` describes, its table, the youngest
    /// member's source name, a piece we own that it announced and one we own that nobody announced.
    private func withOwnedPieces<R>(eldest: Int,
                                    _ body: (ContentSourceSet, SourceTable, String, Int, Int) throws -> R) async throws -> R {
        var owned: [Int] = []
        let (session, _, others) = try await swarm(ourRank: 0, eldest: eldest) { us, others in
            let owners = eldest >= 4 ? [us] + others : [us, others[0]]
            owned = (0..<32).filter { PieceOwnership.owns(us, piece: $0, members: owners) }
            return Set(owned.dropLast())
        }
        defer { Task { await session.stop() } }
        guard owned.count >= 2, let unheld = owned.last else { throw XCTSkip("the ids gave us fewer than two pieces") }
        let deadline = ContinuousClock.now + .seconds(5)
        while !session.swarm.hasPeer(withPiece: owned[0]) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertTrue(session.swarm.hasPeer(withPiece: owned[0]), "the youngest member's bitfield is in")
        let table = SourceTable(clock: FakeClock())
        return try body(ContentSourceSet.withUnansweredCDN(swarm: session, table: table), table,
                        PeerSource.name(of: others[2]), owned[0], unheld)
    }

    func testInASwarmLargerThanItsEldestAnOwnerTakesAPiecePeersHoldFromThemNotFromTheCDN() async throws {
        let offered = try await httpOffered(eldest: 2)
        XCTAssertEqual(offered.held, 0, "a piece we own that a trusted peer announced is taken from peers while the swarm moves")
        XCTAssertEqual(offered.unheld, 1, "a piece we own that nobody holds goes to the CDN at once")
    }

    func testAHolderThatOverranABudgetAfterDeliveringUsAPieceStillKeepsTheOwnerOffTheCDN() async throws {
        let offered = try await httpOffered(eldest: 2) { table, youngest in
            table.recordSuccess(youngest, kind: .peer, bytes: 1 << 20, seconds: 0.5)
            table.recordTimeout(youngest, kind: .peer, requestedAt: 1)
        }
        XCTAssertEqual(offered.held, 0, "a starved peer that delivered before is slow, not a withholder: its piece is in the swarm")
        XCTAssertEqual(offered.unheld, 1)
    }

    func testAHolderThatOverranABudgetAndNeverDeliveredDoesNotKeepTheOwnerOffTheCDN() async throws {
        let offered = try await httpOffered(eldest: 2) { table, youngest in
            table.recordTimeout(youngest, kind: .peer, requestedAt: 1)
        }
        XCTAssertEqual(offered.held, 1, "a withholder announces every piece and sends none: its word holds nobody")
        XCTAssertEqual(offered.unheld, 1)
    }

    func testAHolderThatKeptOurRequestQueuedForABusyMomentStillKeepsTheOwnerOffTheCDNButNotOnceItHasChokedUsLonger() async throws {
        let busy = try await httpOffered(eldest: 2) { table, youngest in
            table.recordTimeout(youngest, kind: .peer, requestedAt: 1, queuedSeconds: 2)
        }
        XCTAssertEqual(busy.held, 0, "an eldest member serving others first is busy, not a withholder: its piece is in the swarm")
        XCTAssertEqual(busy.unheld, 1)
        let choking = try await httpOffered(eldest: 2) { table, youngest in
            table.recordTimeout(youngest, kind: .peer, requestedAt: 1, queuedSeconds: table.configuration.busyQueueSeconds + 1)
        }
        XCTAssertEqual(choking.held, 1, "a peer that has choked us that long may be a withholder that chokes everyone")
    }

    func testAPieceSeenHeldStaysHeldForItsFetchWhenItsHolderIsDroppedButAFreshFetchGoesToTheCDN() async throws {
        let (seen, fresh) = try await withOwnedPieces(eldest: 2) { set, table, youngest, held, _ in
            var progress = PieceProgress(startedAt: 0)
            XCTAssertEqual(set.eligible(piece: held, progress: &progress, now: 0).httpCount, 0, "held by a connected peer")
            table.recordSuccess(youngest, kind: .peer, bytes: 1 << 20, seconds: 0.5)
            for at in 1...3 { table.recordTimeout(youngest, kind: .peer, requestedAt: Double(at)) }
            XCTAssertTrue(table.isDropped(youngest), "three timeouts in a row drop the holder")
            var freshProgress = PieceProgress(startedAt: 1)
            return (set.eligible(piece: held, progress: &progress, now: 1).httpCount,
                    set.eligible(piece: held, progress: &freshProgress, now: 1).httpCount)
        }
        XCTAssertEqual(seen, 0, "the piece is in the swarm: its owner waits for peers while the swarm moves")
        XCTAssertEqual(fresh, 1, "a fetch that never saw it held by a peer it may believe goes to the CDN")
    }

    func testAWithholderSeenHoldingAPieceHoldsItsOwnerOffTheCDNNoLongerThanItsFirstTimeout() async throws {
        let (before, after) = try await withOwnedPieces(eldest: 2) { set, table, youngest, held, _ in
            var progress = PieceProgress(startedAt: 0)
            let before = set.eligible(piece: held, progress: &progress, now: 0).httpCount
            table.recordTimeout(youngest, kind: .peer, requestedAt: 0.5)
            return (before, set.eligible(piece: held, progress: &progress, now: 1).httpCount)
        }
        XCTAssertEqual(before, 0, "a peer that announced the piece and never failed us is believed")
        XCTAssertEqual(after, 1, "it timed out having delivered nothing: the piece it announced is not in the swarm for us")
    }

    func testInASwarmNoLargerThanItsEldestAnOwnerStillGoesToTheCDNAtOnce() async throws {
        let offered = try await httpOffered(eldest: 16)
        XCTAssertEqual(offered.held, 1, "every member is among the eldest: the owner's CDN is offered beside the peer, as before")
        XCTAssertEqual(offered.unheld, 1)
    }

    func testWithoutFirstJoinTimesEveryMemberMayOwnAsBefore() async throws {
        let (session, us, others) = try await swarm(ourRank: nil, eldest: 2)
        defer { Task { await session.stop() } }
        for piece in 0..<32 {
            XCTAssertEqual(session.ranked(above: piece, excluding: { _ in false }),
                           PieceOwnership.ranked(above: us, piece: piece, members: others), "piece \(piece)")
        }
    }
}
