@testable import DOControlPlane
import Synchronization
import XCTest

/// `GroupCommit` (the PostgreSQL membership store's batches): an item alone runs at once, items that
/// arrive within `minInterval` of the last batch's start leave together, each with its own answer.
final class GroupCommitTests: XCTestCase {
    func testItemsArrivingWithinTheIntervalLeaveInOneBatchAndEachGetsItsOwnAnswer() async throws {
        let batches = Mutex<[[Int]]>([])
        let commit = GroupCommit<Int, Int>(maxBatch: 100, maxConcurrentBatches: 2, minInterval: .seconds(1)) { items in
            batches.withLock { $0.append(items) }
            return items.map { .success($0 * 10) }
        }
        let first = try await commit.submit(0)
        XCTAssertEqual(first, 0)
        // The next items come well within a second of the first batch's start: they wait for it, together.
        let answers = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for n in 1...20 { group.addTask { (n, try await commit.submit(n)) } }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        XCTAssertEqual(answers, Dictionary(uniqueKeysWithValues: (1...20).map { ($0, $0 * 10) }), "each item its own answer")
        let sizes = batches.withLock { $0.map(\.count) }
        XCTAssertEqual(sizes, [1, 20], "one batch for the lone first item, one for the 20 that came within the interval")
    }

    func testWithoutAnIntervalAnItemThatFindsAFreeSlotRunsAloneAndABatchNeverExceedsMaxBatch() async throws {
        let sizes = Mutex<[Int]>([])
        let commit = GroupCommit<Int, Int>(maxBatch: 8, maxConcurrentBatches: 1) { items in
            sizes.withLock { $0.append(items.count) }
            return items.map { .success($0) }
        }
        for n in 0..<3 { _ = try await commit.submit(n) }
        XCTAssertEqual(sizes.withLock { $0 }, [1, 1, 1], "one after the other, nothing waits")
        try await withThrowingTaskGroup(of: Int.self) { group in
            for n in 0..<100 { group.addTask { try await commit.submit(n) } }
            for try await _ in group {}
        }
        let all = sizes.withLock { $0 }
        XCTAssertEqual(all.reduce(0, +), 103)
        XCTAssertLessThanOrEqual(all.max() ?? 0, 8)
    }
}
