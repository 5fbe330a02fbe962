@testable import DOControlPlane
import DOCore
import DOHTTP
import Foundation
import XCTest

/// Who a join hands out: same content, the requester's LAN (its public address: DO's NAT rule) or group, never
/// the requester itself, at most PeersWanted.
///
/// Every request of a test comes from 127.0.0.1, so the server trusts `X-Forwarded-For` here to give
/// each simulated peer its own public address, as it would behind a proxy.
final class JoinTests: XCTestCase {
    private var server: ServerFixture!
    private let content = "DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc="
    private let otherContent = "DO-buHwDcx4lLv9nxU5SNauNKu_RKobyINgUYeHrFOhUOQ="

    override func setUp() async throws {
        server = try await ServerFixture.start("join") { $0.trustedProxies = ["127.0.0.1"] }
    }

    override func tearDown() async throws {
        await server.stop()
    }

    private func peerId(_ n: Int) -> String { String(format: "%038x%02x", 0, n) }

    /// Joins as peer `n` from public address `external`; returns the peer numbers handed out.
    @discardableResult
    private func join(_ n: Int, from external: String, content: String? = nil, ip: String? = nil, mask: String? = nil,
                      group: String? = nil, scope: String? = nil, wanted: String? = nil) async throws -> Set<Int> {
        let body = JoinRequest(peerId: peerId(n), reportedIp: ip, subnetMask: mask, peersWanted: wanted, groupId: group,
                               scope: scope, port: String(7000 + n))
        let response = try await server.post("/array/\(content ?? self.content)/join/", TestSupport.json(body),
                                             headers: [(name: "X-Forwarded-For", value: "10.9.9.9, \(external)")])
        XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self))
        let answer = try TestSupport.decode(JoinResponse.self, response.body)
        for peer in answer.peers { XCTAssertEqual(peer.port, 7000 + Int(peer.peerId.suffix(2), radix: 16)!) }
        return Set(answer.peers.map { Int($0.peerId.suffix(2), radix: 16)! })
    }

    func testLANModeHandsOutOnlyPeersBehindTheSamePublicAddressButNeverSelf() async throws {
        try await join(1, from: "198.51.100.1", ip: "10.0.0.5", mask: "255.255.255.0")
        // Same private subnet behind another public address: another home, not this LAN.
        try await join(2, from: "198.51.100.2", ip: "10.0.0.6", mask: "255.255.255.0")
        try await join(3, from: "198.51.100.1", ip: "192.168.5.5", mask: "255.255.255.0") // same public address
        try await join(4, from: "203.0.113.9", ip: "172.16.0.4", mask: "255.255.0.0")     // elsewhere
        try await join(5, from: "198.51.100.1", content: otherContent, ip: "10.0.0.7", mask: "255.255.255.0")
        let peers = try await join(1, from: "198.51.100.1", ip: "10.0.0.5", mask: "255.255.255.0")
        XCTAssertEqual(peers, [3])
        let internet = try await join(6, from: "203.0.113.7", scope: "3")
        XCTAssertEqual(internet, [], "LAN-mode members are not handed to an Internet-mode stranger")
    }

    func testMembersReachingTheControlPlaneFromPrivateAddressesShareOneLAN() async throws {
        // No NAT between them and the control plane: they are on its own network.
        try await join(1, from: "10.0.0.5")
        try await join(2, from: "192.168.7.7")
        try await join(3, from: "198.51.100.3")
        let peers = try await join(4, from: "127.0.0.9")
        XCTAssertEqual(peers, [1, 2])
    }

    func testARestrictedUploadMemberWithPortZeroGetsPeersAndIsNeverListed() async throws {
        try await join(1, from: "198.51.100.1")
        let body = JoinRequest(peerId: peerId(2), restrictedUpload: "1", port: "0")
        let response = try await server.post("/array/\(content)/join/", TestSupport.json(body),
                                             headers: [(name: "X-Forwarded-For", value: "198.51.100.1")])
        XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self))
        let answer = try TestSupport.decode(JoinResponse.self, response.body)
        XCTAssertEqual(answer.peers.map(\.peerId), [peerId(1)])
        let third = try await join(3, from: "198.51.100.1")
        XCTAssertEqual(third, [1], "a member that uploads nothing is not handed out")
        let noRestriction = try await server.post("/array/\(content)/join/", TestSupport.json(JoinRequest(peerId: peerId(4), port: "0")),
                                                  headers: [(name: "X-Forwarded-For", value: "198.51.100.1")])
        XCTAssertEqual(noRestriction.status, 400, "Port 0 without RestrictedUpload is still refused")
    }

    func testAPeerIsToldToConnectToItsReportedAddressElseItsPublicOne() async throws {
        try await join(1, from: "198.51.100.1", ip: "10.0.0.5", mask: "255.255.255.0")
        try await join(2, from: "198.51.100.1")
        let response = try await server.post("/array/\(content)/join/", TestSupport.json(JoinRequest(peerId: peerId(3))),
                                             headers: [(name: "X-Forwarded-For", value: "198.51.100.1")])
        let answer = try TestSupport.decode(JoinResponse.self, response.body)
        XCTAssertEqual(Set(answer.peers.map { JoinPeer(peerId: $0.peerId, ip: $0.ip, port: $0.port) }), [JoinPeer(peerId: peerId(1), ip: "10.0.0.5", port: 7001),
                                           JoinPeer(peerId: peerId(2), ip: "198.51.100.1", port: 7002)])
    }

    func testGroupModeAddsSameGroupPeersAcrossNetworks() async throws {
        try await join(1, from: "198.51.100.1", ip: "10.1.0.1", mask: "255.255.0.0", group: "site-a", scope: "2")
        try await join(2, from: "198.51.100.2", ip: "10.2.0.1", mask: "255.255.0.0", group: "site-a", scope: "2")
        try await join(3, from: "198.51.100.3", ip: "10.3.0.1", mask: "255.255.0.0", group: "site-b", scope: "2")
        // Same group, but LAN mode: it only peers on its own LAN, so it is not handed to peer 1.
        try await join(4, from: "198.51.100.4", ip: "10.4.0.1", mask: "255.255.0.0", group: "site-a", scope: "1")
        // Same LAN (public address) as peer 1, no group: LAN peers stay visible in Group mode.
        try await join(5, from: "198.51.100.1", ip: "10.1.0.2", mask: "255.255.0.0", scope: "1")
        let peers = try await join(1, from: "198.51.100.1", ip: "10.1.0.1", mask: "255.255.0.0", group: "site-a", scope: "2")
        XCTAssertEqual(peers, [2, 5])
    }

    func testInternetModeSeesEveryoneWhoAlsoAllowsIt() async throws {
        try await join(1, from: "198.51.100.1", scope: "3")
        try await join(2, from: "198.51.100.2", scope: "3")
        try await join(3, from: "198.51.100.3", scope: "1")
        try await join(4, from: "198.51.100.4", group: "g", scope: "2")
        let peers = try await join(5, from: "203.0.113.1", scope: "3")
        XCTAssertEqual(peers, [1, 2])
    }

    func testHTTPOnlyAndSimpleModePeersAreNeitherListedNorGivenPeers() async throws {
        try await join(1, from: "198.51.100.1")
        let httpOnly = try await join(2, from: "198.51.100.1", scope: "0")
        XCTAssertEqual(httpOnly, [])
        let simple = try await join(3, from: "198.51.100.1", scope: "99")
        XCTAssertEqual(simple, [])
        let lan = try await join(4, from: "198.51.100.1")
        XCTAssertEqual(lan, [1])
    }

    func testPeersWantedCapsTheAnswer() async throws {
        for n in 1...12 { try await join(n, from: "198.51.100.\(n)", scope: "3", wanted: "0") }
        let three = try await join(20, from: "198.51.100.20", scope: "3", wanted: "3")
        XCTAssertEqual(three.count, 3)
        let none = try await join(21, from: "198.51.100.21", scope: "3", wanted: "0")
        XCTAssertEqual(none.count, 0)
        let all = try await join(22, from: "198.51.100.22", scope: "3")
        XCTAssertEqual(all.count, 14)
    }

    func testRejoiningReplacesTheMemberInsteadOfAddingAnother() async throws {
        try await join(1, from: "198.51.100.1", ip: "10.0.0.1", mask: "255.255.255.0")
        try await join(1, from: "198.51.100.1", ip: "10.0.0.2", mask: "255.255.255.0")
        let rejoined = try await join(2, from: "198.51.100.1")
        XCTAssertEqual(rejoined, [1])
    }

    func testAnswersSayWhenTheRequesterAndEachPeerFirstJoinedAndARejoinKeepsIt() async throws {
        func answer(_ n: Int) async throws -> JoinResponse {
            let body = JoinRequest(peerId: peerId(n), scope: "3", port: String(7000 + n))
            let response = try await server.post("/array/\(content)/join/", TestSupport.json(body),
                                                 headers: [(name: "X-Forwarded-For", value: "198.51.100.\(n)")])
            XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self))
            return try TestSupport.decode(JoinResponse.self, response.body)
        }
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let first = try await answer(1)
        let joined1 = try XCTUnwrap(first.joinedMs, "the answer says when the requester first joined")
        XCTAssertGreaterThanOrEqual(joined1, before)
        try await Task.sleep(for: .milliseconds(20))
        let second = try await answer(2)
        let joined2 = try XCTUnwrap(second.joinedMs)
        XCTAssertGreaterThan(joined2, joined1, "the later member joined later")
        XCTAssertEqual(second.peers.map(\.joinedMs), [joined1], "a listed peer carries its first join")
        try await Task.sleep(for: .milliseconds(20))
        let rejoined = try await answer(1)
        XCTAssertEqual(rejoined.joinedMs, joined1, "a re-join keeps the first join")
        let third = try await answer(2)
        XCTAssertEqual(third.peers.map(\.joinedMs), [joined1])
    }

    func testMembersExpireAndSwarmsStayBounded() throws {
        var limits = MembershipLimits()
        limits.maxMembersPerContent = 3
        let swarms = SwarmMembership(limits)
        let now = Date()
        func member(_ n: Int, lifetime: TimeInterval) -> SwarmMember {
            SwarmMember(peerId: peerId(n), ip: "10.0.0.\(n)", port: 7680, externalIp: "198.51.100.1", subnet: nil,
                        groupId: "", mode: .lan, expiresAt: now.addingTimeInterval(lifetime))
        }
        _ = try swarms.join(content: "c", member: member(1, lifetime: 10), wanted: 0, record: true, now: now)
        _ = try swarms.join(content: "c", member: member(2, lifetime: 100), wanted: 0, record: true, now: now)
        _ = try swarms.join(content: "c", member: member(3, lifetime: 100), wanted: 0, record: true, now: now)
        _ = try swarms.join(content: "c", member: member(4, lifetime: 100), wanted: 0, record: true, now: now)
        XCTAssertEqual(Set(swarms.members(of: "c", now: now).map(\.peerId)), [peerId(2), peerId(3), peerId(4)],
                       "the member closest to expiry made room")
        let later = now.addingTimeInterval(200)
        XCTAssertEqual(try swarms.join(content: "c", member: member(5, lifetime: 300), wanted: 10, record: true, now: later), [],
                       "expired members are never handed out")
        XCTAssertEqual(swarms.members(of: "c", now: later).map(\.peerId), [peerId(5)])

        // All swarms together are bounded too: made-up content IDs cannot grow memory without end.
        limits.maxMembersPerContent = 10
        limits.maxMembersTotal = 2
        let capped = SwarmMembership(limits)
        _ = try capped.join(content: "a", member: member(1, lifetime: 100), wanted: 0, record: true, now: now)
        _ = try capped.join(content: "b", member: member(2, lifetime: 100), wanted: 0, record: true, now: now)
        _ = try capped.join(content: "c", member: member(3, lifetime: 100), wanted: 0, record: true, now: now)
        XCTAssertEqual(capped.members(of: "c", now: now), [])
        _ = try capped.join(content: "a", member: member(1, lifetime: 200), wanted: 0, record: true, now: now)
        XCTAssertEqual(capped.members(of: "a", now: now).first?.expiresAt, now.addingTimeInterval(200), "members can still re-join")
    }
}
