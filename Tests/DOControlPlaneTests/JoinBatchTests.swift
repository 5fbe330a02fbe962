@testable import DOControlPlane
import Foundation
import XCTest

/// A batch of joins written together (`JoinBatch`, the PostgreSQL store's group commit) decides as
/// if its joins had come one after the other: each sees the ones before it.
final class JoinBatchTests: XCTestCase {
    private let now = Date(timeIntervalSince1970: 1_800_000_000)

    private func member(_ n: Int, _ address: String, lifetime: TimeInterval = 600) -> SwarmMember {
        SwarmMember(peerId: String(format: "%040x", n), ip: address, port: 7680, externalIp: address, subnet: nil,
                    groupId: "", mode: .internet, expiresAt: now.addingTimeInterval(lifetime))
    }

    private func join(_ content: String, _ member: SwarmMember, record: Bool = true) -> PendingJoin {
        PendingJoin(content: content, member: member, wanted: 50, record: record, now: now)
    }

    func testJoinsOfOneBatchAreHandedTheOnesBeforeThemAndNeverThemselves() throws {
        let batch = JoinBatch([join("c", member(1, "192.0.2.1")), join("c", member(2, "192.0.2.2")), join("d", member(3, "192.0.2.3"))],
                              snapshot: SwarmSnapshot(), limits: MembershipLimits(), roomForNew: 10)
        XCTAssertEqual(try batch.answers[0].get().peers, [])
        XCTAssertEqual(try batch.answers[1].get().peers.map(\.peerId), [member(1, "192.0.2.1").peerId])
        XCTAssertEqual(try batch.answers[2].get().peers, [], "another swarm's members are not handed out")
        XCTAssertEqual(batch.upserts.count, 3)
        XCTAssertEqual(batch.admittedNew, 3)
        XCTAssertEqual(Set(batch.bindings.keys), Set([1, 2, 3].map { String(format: "%040x", $0) }))
    }

    func testAPeerIdBoundEarlierInTheBatchOrInTheDatabaseRefusesAnotherAddress() throws {
        var snapshot = SwarmSnapshot()
        snapshot.bindings[member(9, "x").peerId] = PeerIdBinding(address: "198.51.100.9", until: now.addingTimeInterval(60))
        let batch = JoinBatch([join("c", member(1, "192.0.2.1")), join("d", member(1, "192.0.2.66")), join("c", member(9, "192.0.2.9"))],
                              snapshot: snapshot, limits: MembershipLimits(), roomForNew: 10)
        XCTAssertNoThrow(try batch.answers[0].get())
        for refused in [1, 2] {
            guard case .failure(.peerIdBoundElsewhere) = batch.answers[refused] else {
                return XCTFail("join \(refused) should be refused: \(batch.answers[refused])")
            }
        }
        XCTAssertEqual(batch.upserts.keys.map(\.content), ["c"], "only the first join is written")
        XCTAssertEqual(batch.bindings.values.map(\.address), ["192.0.2.1"])
    }

    func testAMemberEvictedThenBackInTheSameBatchIsUpsertedAndNotDeleted() throws {
        var limits = MembershipLimits()
        limits.maxMembersPerAddress = 1
        let first = member(1, "192.0.2.1", lifetime: 100), second = member(2, "192.0.2.1", lifetime: 200)
        let back = member(1, "192.0.2.1", lifetime: 300)
        let batch = JoinBatch([join("c", first), join("c", second), join("c", back)],
                              snapshot: SwarmSnapshot(), limits: limits, roomForNew: 10)
        // 2 evicts 1 (one member per address), then 1 comes back and evicts 2.
        XCTAssertEqual(batch.upserts.values.map(\.peerId), [first.peerId])
        XCTAssertEqual(batch.upserts.values.first?.expiresAt, back.expiresAt)
        XCTAssertEqual(Set(batch.evictions.keys.map(\.peerId)), [second.peerId], "no row is both deleted and upserted")
        XCTAssertEqual(batch.evictions.values.first, first.peerId, "the deletion is gated on the evicting peer id's binding")
    }

    func testBeyondTheRoomForNewMembersJoinsAreAnsweredButNotWrittenWhileKnownMembersRenew() throws {
        var snapshot = SwarmSnapshot()
        let known = member(1, "192.0.2.1")
        snapshot.swarms["c"] = [known.peerId: known]
        let renewed = member(1, "192.0.2.1", lifetime: 900)
        let batch = JoinBatch([join("c", member(2, "192.0.2.2")), join("c", member(3, "192.0.2.3")), join("c", renewed)],
                              snapshot: snapshot, limits: MembershipLimits(), roomForNew: 1)
        XCTAssertEqual(batch.admittedNew, 1)
        XCTAssertEqual(Set(batch.upserts.values.map(\.peerId)), [member(2, "x").peerId, known.peerId])
        XCTAssertEqual(Set(try batch.answers[1].get().peers.map(\.peerId)), [known.peerId, member(2, "x").peerId],
                       "the member beyond the room is still answered")
    }

    func testExpiredMembersInTheSnapshotAreNeitherHandedOutNorCountedAgainstAnAddress() throws {
        var limits = MembershipLimits()
        limits.maxMembersPerAddress = 1
        var snapshot = SwarmSnapshot()
        let stale = member(1, "192.0.2.1", lifetime: -1)
        snapshot.swarms["c"] = [stale.peerId: stale]
        let batch = JoinBatch([join("c", member(2, "192.0.2.1"))], snapshot: snapshot, limits: limits, roomForNew: 10)
        XCTAssertEqual(try batch.answers[0].get().peers, [])
        XCTAssertEqual(batch.evictions, [:], "an expired member does not take the address's place")
    }

    func testAPeerIdTheDatabaseRefusesIsRefusedAndHandedToNoOtherJoinAndNotAppliedToTheViews() throws {
        let impostor = member(1, "192.0.2.66"), honest = member(2, "192.0.2.2"), looker = member(3, "192.0.2.3")
        let batch = JoinBatch([join("c", impostor), join("c", honest), join("c", looker, record: false)],
                              snapshot: SwarmSnapshot(), limits: MembershipLimits(), roomForNew: 10)
        XCTAssertEqual(batch.checks.map { $0.peerId }, [looker.peerId], "a join that binds nothing has its peer id checked")
        let refused = [JoinBatch.Refused(peerId: impostor.peerId, address: "192.0.2.66"): now.addingTimeInterval(60)]
        let answers = batch.answers(refused: refused)
        guard case .failure(.peerIdBoundElsewhere(let until)) = answers[0] else { return XCTFail("\(answers[0])") }
        XCTAssertEqual(until, now.addingTimeInterval(60))
        XCTAssertEqual(try answers[1].get().peers, [], "the refused member is not handed out")
        XCTAssertEqual(try answers[2].get().peers.map(\.peerId), [honest.peerId])
        XCTAssertEqual(batch.written(refused: refused).map { $0.member.peerId }, [honest.peerId])
        XCTAssertEqual(batch.answers(refused: [:]).count, 3)
        XCTAssertEqual(Set(try batch.answers(refused: [:])[2].get().peers.map(\.peerId)), [impostor.peerId, honest.peerId],
                       "without a refusal both are handed out")
    }
}
