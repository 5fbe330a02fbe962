@testable import DOControlPlane
import Foundation
import XCTest

/// An instance's views of swarms (`SwarmViewCache`): used while younger than `maxStaleness`, read
/// again by the next write once older than `refreshAfter`, and patched with the instance's own writes.
final class SwarmViewCacheTests: XCTestCase {
    private func member(_ n: Int) -> SwarmMember {
        SwarmMember(peerId: String(format: "%040x", n), ip: "192.0.2.\(n)", port: 7680, externalIp: "192.0.2.\(n)", subnet: nil,
                    groupId: "", mode: .internet, expiresAt: Date().addingTimeInterval(600))
    }

    func testASwarmIsColdUntilReadThenUsedAndRefreshedAndColdAgainPastMaxStaleness() throws {
        let cache = SwarmViewCache(.init(refreshAfter: .milliseconds(200), maxStaleness: .milliseconds(600)))
        XCTAssertEqual(cache.plan(["c"]).cold, ["c"], "never read: read before deciding")
        cache.store(["c": [member(1).peerId: member(1)]], asked: ["c", "empty"], readAt: cache.now)
        let fresh = cache.plan(["c", "empty"])
        XCTAssertEqual(fresh.cold, [])
        XCTAssertEqual(fresh.refresh, [])
        XCTAssertEqual(fresh.views["c"].map { Array($0.keys) }, [member(1).peerId])
        XCTAssertEqual(fresh.views["empty"]?.count, 0, "a swarm read empty is a view too")
        Thread.sleep(forTimeInterval: 0.3)
        let due = cache.plan(["c"])
        XCTAssertEqual(due.cold, [])
        XCTAssertEqual(due.refresh, ["c"], "older than refreshAfter: used, and read again by the write")
        Thread.sleep(forTimeInterval: 0.4)
        XCTAssertEqual(cache.plan(["c"]).cold, ["c"], "older than maxStaleness: not used")
    }

    func testAnOlderReadNeverReplacesANewerViewAndOwnWritesArePatchedIn() throws {
        let cache = SwarmViewCache()
        let early = cache.now
        cache.store(["c": [member(1).peerId: member(1)]], asked: ["c"], readAt: cache.now)
        cache.store(["c": [member(9).peerId: member(9)]], asked: ["c"], readAt: early)
        XCTAssertEqual(cache.plan(["c"]).views["c"].map { Set($0.keys) }, [member(1).peerId], "the later read is kept")
        cache.apply(upserts: [(content: "c", member: member(2)), (content: "unseen", member: member(3))],
                    evictions: [(content: "c", peerId: member(1).peerId)])
        XCTAssertEqual(cache.plan(["c"]).views["c"].map { Set($0.keys) }, [member(2).peerId])
        XCTAssertEqual(cache.plan(["unseen"]).cold, ["unseen"], "a write does not make a view of a swarm never read")
    }

    func testBeyondMaxMembersViewsAreDropped() throws {
        var freshness = SwarmViewCache.Freshness()
        freshness.maxMembers = 10
        let cache = SwarmViewCache(freshness)
        cache.store(["a": Dictionary(uniqueKeysWithValues: (1...6).map { (member($0).peerId, member($0)) })], asked: ["a"], readAt: cache.now)
        cache.store(["b": Dictionary(uniqueKeysWithValues: (7...12).map { (member($0).peerId, member($0)) })], asked: ["b"], readAt: cache.now)
        let plan = cache.plan(["a", "b"])
        XCTAssertEqual(plan.cold.sorted(), ["a", "b"], "12 members over a cap of 10: every fresh view is dropped")
    }
}
