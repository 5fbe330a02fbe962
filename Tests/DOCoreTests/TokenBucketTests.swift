import DOCore
import XCTest

/// The byte bucket behind DO's bandwidth policies, driven by a hand-held clock.
final class TokenBucketTests: XCTestCase {
    func testAFullBucketLetsItsCapacityGoAtOnceThenPacesAtTheRate() {
        var bucket = TokenBucket(tokens: 100, now: 0)
        XCTAssertEqual(bucket.take(100, rate: 1000, capacity: 100, now: 0), 0)
        // 500 more bytes at 1000 B/s: half a second of debt.
        XCTAssertEqual(bucket.take(500, rate: 1000, capacity: 100, now: 0), 0.5, accuracy: 1e-9)
        // Another 500 right behind: it waits for both.
        XCTAssertEqual(bucket.take(500, rate: 1000, capacity: 100, now: 0), 1.0, accuracy: 1e-9)
    }

    func testIdleTimeRefillsNoMoreThanTheCapacity() {
        var bucket = TokenBucket(tokens: 0, now: 0)
        bucket.refill(rate: 1000, capacity: 250, now: 60)
        XCTAssertEqual(bucket.tokens, 250)
        XCTAssertEqual(bucket.take(250, rate: 1000, capacity: 250, now: 60), 0)
        XCTAssertEqual(bucket.take(1000, rate: 1000, capacity: 250, now: 60), 1.0, accuracy: 1e-9)
    }

    func testManyTakesAverageToTheRate() {
        // 32 MiB in 1 MiB takes at 8 MiB/s, with a quarter second of burst: the last may go after 3.75 s.
        let rate = 8.0 * 1_048_576, capacity = rate / 4
        var bucket = TokenBucket(tokens: capacity, now: 0)
        var clock = 0.0
        for _ in 0..<32 { clock += bucket.take(1 << 20, rate: rate, capacity: capacity, now: clock) }
        XCTAssertEqual(clock, 3.75, accuracy: 1e-6)
    }

    func testAClockThatGoesBackwardsGivesNoTokens() {
        var bucket = TokenBucket(tokens: 0, now: 10)
        bucket.refill(rate: 1000, capacity: 1000, now: 5)
        XCTAssertEqual(bucket.tokens, 0)
    }
}
