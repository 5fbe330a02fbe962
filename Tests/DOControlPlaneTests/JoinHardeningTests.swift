@testable import DOControlPlane
import DOCore
import DOHTTP
import Foundation
import Synchronization
import XCTest

/// Swarm membership cannot be spoofed or flooded: a member is where its join came from, a peer id
/// belongs to one address, and one address can neither fill a swarm nor join without limit.
///
/// The HTTP tests send each simulated peer's requests from its own loopback address (127.0.0.x, bound
/// with `HTTPClientConfiguration.localAddress`), so the server sees real, distinct connection addresses.
final class JoinHardeningTests: XCTestCase {
    private var server: ServerFixture!
    private let content = "DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc="
    private static let clients = Mutex<[String: HTTPClient]>([:])

    override func setUp() async throws {
        server = try await ServerFixture.start("join-hardening")
    }

    override func tearDown() async throws {
        await server.stop()
    }

    private func peerId(_ n: Int) -> String { String(format: "%038x%02x", 0, n) }

    /// An HTTP client whose requests leave from `address`.
    private func client(from address: String) -> HTTPClient {
        Self.clients.withLock { clients in
            if let c = clients[address] { return c }
            var config = HTTPClientConfiguration()
            config.localAddress = address
            let c = HTTPClient(configuration: config)
            clients[address] = c
            return c
        }
    }

    private func join(_ peer: String, from address: String, reportedIp: String? = nil, port: Int = 7680,
                      scope: String = "1", wanted: String? = nil, headers: [(name: String, value: String)] = []) async throws -> HTTPResponse {
        let body = JoinRequest(peerId: peer, reportedIp: reportedIp, subnetMask: reportedIp == nil ? nil : "255.255.255.0",
                               peersWanted: wanted, scope: scope, port: String(port))
        return try await ControlPlaneTransport(http: client(from: address))
            .post(server.baseURL + "/array/\(content)/join/", json: TestSupport.json(body), maxBytes: 1 << 20, headers: headers)
    }

    private func peers(_ response: HTTPResponse) throws -> [JoinPeer] {
        XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self))
        // Where each peer is listed; when it joined is `JoinTests`' concern.
        return try TestSupport.decode(JoinResponse.self, response.body).peers.map { JoinPeer(peerId: $0.peerId, ip: $0.ip, port: $0.port) }
    }

    func testAMemberIsListedAtTheAddressItsJoinCameFromWhateverItReports() async throws {
        // The spoof: a join that names a third party's address as its own.
        _ = try await join(peerId(1), from: "127.0.0.2", reportedIp: "192.0.2.77", port: 7001)
        let answer = try peers(try await join(peerId(2), from: "127.0.0.2"))
        XCTAssertEqual(answer, [JoinPeer(peerId: peerId(1), ip: "127.0.0.2", port: 7001)])
        // Forwarding headers from an untrusted client are ignored too.
        _ = try await join(peerId(3), from: "127.0.0.2", port: 7003, headers: [(name: "X-Real-IP", value: "192.0.2.78")])
        let again = try peers(try await join(peerId(2), from: "127.0.0.2"))
        XCTAssertEqual(Set(again.map(\.ip)), ["127.0.0.2"])
    }

    func testAReportedAddressIsBelievedOnlyThroughATrustedProxy() async throws {
        let proxied = try await ServerFixture.start("join-proxy") { $0.trustedProxies = ["127.0.0.9"] }
        defer { Task { await proxied.stop() } }
        func join(_ n: Int, reported: String?) async throws -> [JoinPeer] {
            let body = JoinRequest(peerId: peerId(n), reportedIp: reported, subnetMask: "255.255.255.0", port: String(7000 + n))
            let response = try await ControlPlaneTransport(http: client(from: "127.0.0.9"))
                .post(proxied.baseURL + "/array/\(content)/join/", json: TestSupport.json(body), maxBytes: 1 << 20,
                      headers: [(name: "X-Forwarded-For", value: "198.51.100.7")])
            return try peers(response)
        }
        _ = try await join(1, reported: "10.0.0.5")
        let answer = try await join(2, reported: nil)
        XCTAssertEqual(answer, [JoinPeer(peerId: peerId(1), ip: "10.0.0.5", port: 7001)])
    }

    func testAPeerIdBelongsToTheAddressThatFirstJoinedWithIt() async throws {
        _ = try peers(try await join(peerId(1), from: "127.0.0.2", port: 7001))
        // The impostor: the honest member's peer id, from another address.
        assertRejected(try await join(peerId(1), from: "127.0.0.3", port: 7666), status: 409, reasonContains: "another address")
        let answer = try peers(try await join(peerId(2), from: "127.0.0.2"))
        XCTAssertEqual(answer, [JoinPeer(peerId: peerId(1), ip: "127.0.0.2", port: 7001)], "the honest member is untouched")
        // Its owner re-joins as before.
        _ = try peers(try await join(peerId(1), from: "127.0.0.2", port: 7001))
    }

    func testAPeerIdIsFreeAgainOnceItsMembershipsExpire() throws {
        let swarms = SwarmMembership(MembershipLimits())
        let now = Date()
        func member(_ address: String, lifetime: TimeInterval) -> SwarmMember {
            SwarmMember(peerId: peerId(1), ip: address, port: 7680, externalIp: address, subnet: nil, groupId: "",
                        mode: .lan, expiresAt: now.addingTimeInterval(lifetime))
        }
        _ = try swarms.join(content: "c", member: member("192.0.2.1", lifetime: 100), wanted: 0, record: true, now: now)
        XCTAssertThrowsError(try swarms.join(content: "d", member: member("192.0.2.2", lifetime: 100), wanted: 0, record: true,
                                             now: now.addingTimeInterval(99)))
        let later = now.addingTimeInterval(101)
        XCTAssertNoThrow(try swarms.join(content: "d", member: member("192.0.2.2", lifetime: 200), wanted: 0, record: true, now: later))
    }

    func testTenThousandMembersFromOneAddressNeitherFillTheSwarmNorCrowdOutHonestPeers() throws {
        var limits = MembershipLimits()
        limits.joinBurstPerAddress = 20_000
        let swarms = SwarmMembership(limits)
        let now = Date()
        func member(_ n: Int, _ address: String) -> SwarmMember {
            SwarmMember(peerId: String(format: "%040x", n), ip: address, port: 7680, externalIp: address, subnet: nil,
                        groupId: "", mode: .internet, expiresAt: now.addingTimeInterval(600))
        }
        let honest = (1...5).map { member($0, "198.51.100.\($0)") }
        for m in honest { _ = try swarms.join(content: "c", member: m, wanted: 0, record: true, now: now) }
        for n in 0..<10_000 { _ = try swarms.join(content: "c", member: member(100 + n, "203.0.113.66"), wanted: 0, record: true, now: now) }

        let members = swarms.members(of: "c", now: now)
        XCTAssertEqual(members.filter { $0.externalIp == "203.0.113.66" }.count, limits.maxMembersPerAddress)
        XCTAssertEqual(members.count, 5 + limits.maxMembersPerAddress)
        // Every answer, even a small one, is drawn address by address: the flooder is one address of six.
        for _ in 0..<50 {
            let answer = try swarms.join(content: "c", member: member(99_999, "192.0.2.1"), wanted: 6, record: false, now: now)
            XCTAssertEqual(Set(answer.map(\.externalIp)).count, 6, "one member of each of the six addresses")
        }
    }

    func testAFloodOfJoinsFromOneAddressIsCappedAndHonestPeersAreInEveryAnswer() async throws {
        for n in 1...3 { _ = try peers(try await join(peerId(n), from: "127.0.0.\(10 + n)", scope: "3")) }
        var statuses: [Int: Int] = [:]
        let started = Date()
        for n in 0..<1_000 {
            let body = JoinRequest(peerId: String(format: "%040x", 10_000 + n), scope: "3", port: "7680")
            let response = try await ControlPlaneTransport(http: client(from: "127.0.0.66"))
                .post(server.baseURL + "/array/\(content)/join/", json: TestSupport.json(body), maxBytes: 1 << 20)
            statuses[response.status, default: 0] += 1
        }
        print("1,000 joins from one address: \(statuses)")
        // The burst, plus what the bucket refilled meanwhile; the rest 429.
        let limits = MembershipLimits()
        let refilled = Int(Date().timeIntervalSince(started) * limits.joinsPerSecondPerAddress) + 1
        XCTAssertTrue((Int(limits.joinBurstPerAddress)...Int(limits.joinBurstPerAddress) + refilled).contains(statuses[200] ?? 0),
                      "\(statuses), \(refilled) refilled")
        XCTAssertEqual((statuses[200] ?? 0) + (statuses[429] ?? 0), 1_000)
        let answer = try peers(try await join(peerId(50), from: "127.0.0.50", scope: "3", wanted: "255"))
        XCTAssertEqual(answer.filter { $0.ip == "127.0.0.66" }.count, MembershipLimits().maxMembersPerAddress,
                       "the flooder keeps only its own few places")
        XCTAssertTrue(Set(answer.map(\.ip)).isSuperset(of: ["127.0.0.11", "127.0.0.12", "127.0.0.13"]), "\(answer)")
    }

    func testJoinsFromOneAddressAreRateLimitedAndOthersAreNot() async throws {
        let limited = try await ServerFixture.start("join-rate") {
            $0.membershipLimits.joinsPerSecondPerAddress = 1
            $0.membershipLimits.joinBurstPerAddress = 5
        }
        defer { Task { await limited.stop() } }
        func status(_ n: Int, from address: String) async throws -> Int {
            let body = JoinRequest(peerId: peerId(n), port: "7680")
            return try await ControlPlaneTransport(http: client(from: address))
                .post(limited.baseURL + "/array/\(content)/join/", json: TestSupport.json(body), maxBytes: 1 << 20).status
        }
        var statuses: [Int] = []
        for n in 1...8 { statuses.append(try await status(n, from: "127.0.0.4")) }
        XCTAssertEqual(statuses.prefix(5), [200, 200, 200, 200, 200])
        XCTAssertTrue(statuses.suffix(3).contains(429), "\(statuses)")
        let other = try await status(20, from: "127.0.0.5")
        XCTAssertEqual(other, 200, "another address is not affected")
    }
}
