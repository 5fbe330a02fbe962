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
        let name = "dofs_unit_\(UUID().uuidString.prefix(8).lowercased())"
        try Self.psql(server, "CREATE DATABASE \(name)")
        let url = String(server[..<server.lastIndex(of: "/")!]) + "/" + name
        let database = try await PostgresDatabase.open(try PostgresTarget(url), maxConnections: 4, logger: TestSupport.logger)
        closers.append {
            await database.close()
            try? Self.psql(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
        all.append(("postgres", PostgresMembership(database, limits: limits)))
        return all
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
}
