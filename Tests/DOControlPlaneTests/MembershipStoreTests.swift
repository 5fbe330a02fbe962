@testable import DOControlPlane
import DOCore
import Foundation
import XCTest

/// Both membership stores apply the same rules (`SwarmRules`): the in-memory one of a single
/// instance and the PostgreSQL one a fleet shares. Each scenario runs against both; the PostgreSQL
/// runs need `DOFS_TEST_POSTGRES_URL` (scripts/test.sh starts one) and fail under CI without it.
final class MembershipStoreTests: XCTestCase {
    private var closers: [() async -> Void] = []

    override func tearDown() async throws {
        for close in closers { await close() }
        closers.removeAll()
    }

    /// The stores to run a scenario against, each empty.
    private func stores(_ limits: MembershipLimits = MembershipLimits()) async throws -> [(String, any MembershipStore)] {
        var all: [(String, any MembershipStore)] = [("memory", SwarmMembership(limits))]
        guard let server = ProcessInfo.processInfo.environment["DOFS_TEST_POSTGRES_URL"], !server.isEmpty else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("DOFS_TEST_POSTGRES_URL is not set under CI") }
            return all
        }
        all.append(("postgres", try await postgresInstances(1, limits)[0]))
        return all
    }

    /// `count` PostgreSQL stores on one fresh database, as instances of a fleet have; `[]` without a
    /// PostgreSQL (the memory store has no second instance to share with).
    private func postgresInstances(_ count: Int, _ limits: MembershipLimits = MembershipLimits(),
                                   freshness: SwarmViewCache.Freshness = .init()) async throws -> [any MembershipStore] {
        guard let server = ProcessInfo.processInfo.environment["DOFS_TEST_POSTGRES_URL"], !server.isEmpty else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("DOFS_TEST_POSTGRES_URL is not set under CI") }
            return []
        }
        let name = "dofs_unit_\(UUID().uuidString.prefix(8).lowercased())"
        try Self.psql(server, "CREATE DATABASE \(name)")
        closers.append { try? Self.psql(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        let url = String(server[..<server.lastIndex(of: "/")!]) + "/" + name
        var stores: [any MembershipStore] = []
        for _ in 0..<count {
            let database = try await PostgresDatabase.open(try PostgresTarget(url), maxConnections: 4, logger: TestSupport.logger)
            closers.insert({ await database.close() }, at: 0)
            stores.append(PostgresMembership(database, limits: limits, freshness: freshness))
        }
        return stores
    }

    private static func psql(_ url: String, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw MembershipStoreError(description: "psql \(sql) failed") }
    }

    private func member(_ n: Int, _ address: String, mode: PeeringMode = .internet, lifetime: TimeInterval = 600,
                        now: Date) -> SwarmMember {
        SwarmMember(peerId: String(format: "%040x", n), ip: address, port: 7680, externalIp: address, subnet: nil,
                    groupId: "", mode: mode, expiresAt: now.addingTimeInterval(lifetime))
    }

    func testAFloodFromOneAddressDisplacesOnlyItselfAndAnswersAreDrawnAddressByAddress() async throws {
        var limits = MembershipLimits()
        limits.joinBurstPerAddress = 1_000
        for (name, store) in try await stores(limits) {
            let now = Date()
            let honest = (1...5).map { member($0, "198.51.100.\($0)", now: now) }
            for m in honest { _ = try await store.join(content: "c", member: m, wanted: 0, record: true, now: now) }
            for n in 0..<40 {
                _ = try await store.join(content: "c", member: member(100 + n, "203.0.113.66", now: now.addingTimeInterval(Double(n))),
                                         wanted: 0, record: true, now: now)
            }
            let members = try await store.members(of: "c", now: now)
            XCTAssertEqual(members.filter { $0.externalIp == "203.0.113.66" }.count, limits.maxMembersPerAddress, name)
            XCTAssertEqual(Set(members.filter { $0.externalIp == "203.0.113.66" }.map(\.peerId)),
                           Set((132..<140).map { String(format: "%040x", $0) }), "\(name): the flooder's newest stay")
            XCTAssertEqual(members.count, 5 + limits.maxMembersPerAddress, name)
            let answer = try await store.join(content: "c", member: member(9_999, "192.0.2.1", now: now), wanted: 6, record: false, now: now)
            XCTAssertEqual(Set(answer.map(\.externalIp)).count, 6, "\(name): one member of each of the six addresses")
        }
    }

    func testAPeerIdIsBoundToItsAddressUntilItsMembershipExpires() async throws {
        for (name, store) in try await stores() {
            let now = Date()
            _ = try await store.join(content: "c", member: member(1, "192.0.2.1", lifetime: 100, now: now), wanted: 0, record: true, now: now)
            do {
                _ = try await store.join(content: "d", member: member(1, "192.0.2.2", now: now), wanted: 0, record: true,
                                         now: now.addingTimeInterval(99))
                XCTFail("\(name): the peer id is bound to 192.0.2.1")
            } catch let refusal as JoinRefusal {
                guard case .peerIdBoundElsewhere = refusal else { return XCTFail("\(name): \(refusal)") }
            }
            let later = now.addingTimeInterval(101)
            _ = try await store.join(content: "d", member: member(1, "192.0.2.2", lifetime: 200, now: later), wanted: 0,
                                     record: true, now: later)
            let inD = try await store.members(of: "d", now: later), inC = try await store.members(of: "c", now: later)
            XCTAssertEqual(inD.map(\.externalIp), ["192.0.2.2"], name)
            XCTAssertEqual(inC, [], "\(name): expired members are not listed")
        }
    }

    func testARejoinKeepsTheFirstJoinTimeThatAnswersGiveForTheJoinerAndItsPeers() async throws {
        for (name, store) in try await stores() {
            let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970).rounded())
            func joining(_ n: Int, at seconds: Double) -> SwarmMember {
                var m = member(n, "192.0.2.\(n)", now: start.addingTimeInterval(seconds))
                m.firstJoined = start.addingTimeInterval(seconds)
                return m
            }
            let first = try await store.admit(content: "c", member: joining(1, at: 0), wanted: 10, record: true, now: start)
            XCTAssertEqual(first.firstJoined, start, "\(name): a new member joined now")
            _ = try await store.admit(content: "c", member: joining(2, at: 1), wanted: 10, record: true, now: start.addingTimeInterval(1))
            let again = try await store.admit(content: "c", member: joining(1, at: 5), wanted: 10, record: true,
                                              now: start.addingTimeInterval(5))
            XCTAssertEqual(again.firstJoined, start, "\(name): a re-join keeps the first join time")
            XCTAssertEqual(again.peers.map(\.firstJoined), [start.addingTimeInterval(1)], "\(name): the peer's own first join")
            let third = try await store.admit(content: "c", member: joining(3, at: 6), wanted: 10, record: true,
                                              now: start.addingTimeInterval(6))
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: third.peers.map { ($0.peerId, $0.firstJoined) }),
                           [String(format: "%040x", 1): start, String(format: "%040x", 2): start.addingTimeInterval(1)],
                           "\(name): every peer listed with its first join, the re-joined one's unchanged")
        }
    }

    func testScopesAndExpiryDecideWhoIsHandedOut() async throws {
        for (name, store) in try await stores() {
            let now = Date()
            _ = try await store.join(content: "c", member: member(1, "192.0.2.1", mode: .lan, now: now), wanted: 0, record: true, now: now)
            _ = try await store.join(content: "c", member: member(2, "192.0.2.2", lifetime: 5, now: now), wanted: 0, record: true, now: now)
            let stranger = try await store.join(content: "c", member: member(3, "198.51.100.3", now: now), wanted: 10, record: true,
                                                now: now.addingTimeInterval(1))
            XCTAssertEqual(stranger.map(\.peerId), [String(format: "%040x", 2)], "\(name): a LAN-only member is not handed to a stranger")
            let later = try await store.join(content: "c", member: member(4, "198.51.100.4", now: now), wanted: 10, record: false,
                                             now: now.addingTimeInterval(10))
            XCTAssertEqual(later.map(\.peerId), [String(format: "%040x", 3)], "\(name): expired member 2 is gone, LAN member 1 withheld")
        }
    }

    func testBeyondMaxMembersTotalNewMembersAreAnsweredButNotRecordedWhileKnownOnesStillRenew() async throws {
        var limits = MembershipLimits()
        limits.maxMembersTotal = 3
        for (name, store) in try await stores(limits) {
            let now = Date()
            for n in 1...5 {
                _ = try await store.join(content: n % 2 == 0 ? "even" : "odd", member: member(n, "192.0.2.\(n)", now: now),
                                         wanted: 0, record: true, now: now)
            }
            let even = try await store.members(of: "even", now: now), odd = try await store.members(of: "odd", now: now)
            XCTAssertEqual(even.count + odd.count, 3, "\(name): three members in all: \(even.map(\.peerId)) \(odd.map(\.peerId))")
            XCTAssertEqual(Set((even + odd).map(\.peerId)), Set((1...3).map { String(format: "%040x", $0) }), name)
            let answer = try await store.join(content: "odd", member: member(6, "192.0.2.6", now: now), wanted: 10, record: true, now: now)
            XCTAssertEqual(Set(answer.map(\.peerId)), [String(format: "%040x", 1), String(format: "%040x", 3)],
                           "\(name): a member over the limit is still answered")
            let renewed = member(1, "192.0.2.1", lifetime: 900, now: now)
            _ = try await store.join(content: "odd", member: renewed, wanted: 0, record: true, now: now)
            let after = try await store.members(of: "odd", now: now)
            XCTAssertEqual(after.first { $0.peerId == renewed.peerId }?.expiresAt.timeIntervalSince1970 ?? 0,
                           renewed.expiresAt.timeIntervalSince1970, accuracy: 0.001, "\(name): a known member renews at the limit")
        }
    }

    func testEveryJoinAnsweredAmongManyAtOnceIsAlreadyListedAndSawOnlyOthers() async throws {
        for (name, store) in try await stores() {
            let now = Date()
            let joining = (1...120).map { member($0, "198.51.100.\($0)", now: now) }
            let answers = try await withThrowingTaskGroup(of: (Int, [SwarmMember], [SwarmMember]).self) { group in
                for n in 1...120 {
                    let joiner = joining[n - 1]
                    group.addTask {
                        let answer = try await store.join(content: "c\(n % 3)", member: joiner,
                                                          wanted: 255, record: true, now: now)
                        return (n, answer, try await store.members(of: "c\(n % 3)", now: now))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            XCTAssertEqual(answers.count, 120, name)
            for (n, answer, listed) in answers {
                let me = String(format: "%040x", n)
                XCTAssertTrue(listed.contains { $0.peerId == me }, "\(name): join \(n) is listed once answered")
                XCTAssertFalse(answer.contains { $0.peerId == me }, "\(name): join \(n) is not handed itself")
                XCTAssertTrue(answer.allSatisfy { Int($0.peerId, radix: 16)! % 3 == n % 3 }, "\(name): only its own swarm")
            }
            for c in 0..<3 {
                let members = try await store.members(of: "c\(c)", now: now)
                XCTAssertEqual(members.count, 40, "\(name): swarm c\(c) holds all its joins")
            }
        }
    }

    func testMembersJoinedThroughTwoInstancesAreHandedToEachOtherWithinMaxStaleness() async throws {
        let staleness = 0.4
        let instances = try await postgresInstances(2, freshness: .init(refreshAfter: .seconds(staleness), maxStaleness: .seconds(staleness)))
        guard instances.count == 2 else { return }
        let (a, b) = (instances[0], instances[1])
        let now = Date()
        for round in 0..<5 {
            let x = member(2 * round + 1, "203.0.113.\(2 * round + 1)", now: now)
            let y = member(2 * round + 2, "203.0.113.\(2 * round + 2)", now: now)
            _ = try await a.join(content: "r\(round)", member: x, wanted: 10, record: true, now: now)
            let fromB = try await b.join(content: "r\(round)", member: y, wanted: 10, record: true, now: now)
            XCTAssertEqual(fromB.map(\.peerId), [x.peerId], "round \(round): B, new to the swarm, reads it and hands out A's member")
            try await Task.sleep(for: .seconds(staleness + 0.05))
            let fromA = try await a.join(content: "r\(round)", member: x, wanted: 10, record: true, now: now)
            XCTAssertEqual(fromA.map(\.peerId), [y.peerId], "round \(round): past maxStaleness A hands out B's member")
        }
        // Many at once through both: every one is known to both once maxStaleness has passed.
        let busy = (100..<180).map { member($0, "198.51.100.\($0)", now: now) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for joiner in busy {
                let store = Int(joiner.peerId, radix: 16)! % 2 == 0 ? a : b
                group.addTask {
                    _ = try await store.join(content: "busy", member: joiner, wanted: 5,
                                             record: true, now: now)
                }
            }
            try await group.waitForAll()
        }
        try await Task.sleep(for: .seconds(staleness + 0.05))
        let seenByA = try await a.join(content: "busy", member: member(999, "192.0.2.99", now: now), wanted: 255, record: false, now: now)
        let seenByB = try await b.join(content: "busy", member: member(998, "192.0.2.98", now: now), wanted: 255, record: false, now: now)
        XCTAssertEqual(seenByA.count, 80)
        XCTAssertEqual(Set(seenByA.map(\.peerId)), Set(seenByB.map(\.peerId)))
    }

    func testAnInstanceAnswersFromItsViewUntilTheRefreshItsNextWriteMade() async throws {
        let instances = try await postgresInstances(2, freshness: .init(refreshAfter: .milliseconds(300), maxStaleness: .seconds(600)))
        guard instances.count == 2 else { return }
        let (a, b) = (instances[0], instances[1])
        let now = Date()
        let x = member(1, "203.0.113.1", now: now), y = member(2, "203.0.113.2", now: now), z = member(3, "203.0.113.3", now: now)
        _ = try await a.join(content: "c", member: x, wanted: 10, record: true, now: now)
        _ = try await b.join(content: "c", member: y, wanted: 10, record: true, now: now)
        let own = try await a.join(content: "c", member: z, wanted: 10, record: true, now: now)
        XCTAssertEqual(own.map(\.peerId), [x.peerId], "A's fresh view: its own member, not yet B's")
        try await Task.sleep(for: .milliseconds(350))
        let stale = try await a.join(content: "c", member: z, wanted: 10, record: true, now: now)
        XCTAssertEqual(Set(stale.map(\.peerId)), [x.peerId], "decided from the view; this write reads the swarm again")
        let refreshed = try await a.join(content: "c", member: z, wanted: 10, record: true, now: now)
        XCTAssertEqual(Set(refreshed.map(\.peerId)), [x.peerId, y.peerId], "the refreshed view has B's member")
        let listed = try await b.members(of: "c", now: now)
        XCTAssertEqual(Set(listed.map(\.peerId)), [x.peerId, y.peerId, z.peerId], "every answered join is in the table")
    }
}
