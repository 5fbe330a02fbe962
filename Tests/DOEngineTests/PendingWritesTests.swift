import DOCore
@testable import DOEngine
import Synchronization
import XCTest

/// Write-behind: pieces answered to readers while their disk write runs are bounded in bytes, found
/// by index until their write ended, and waited for by a close only as far as they were pending then.
final class PendingWritesTests: XCTestCase {
    private func piece(_ byte: UInt8, count: Int = 4096) -> PieceBuffer {
        PieceBuffer(copying: [UInt8](repeating: byte, count: count))
    }

    func testAPieceIsFoundByIndexWhileItsWriteRunsAndGoneOnceItEnded() {
        let pending = PendingWrites(limitBytes: 1 << 20)
        let gate = DispatchSemaphore(value: 0), wrote = DispatchSemaphore(value: 0)
        let bytes = piece(7)
        XCTAssertTrue(pending.admit(3, bytes) {
            gate.wait()
            pending.finish(3) { _ in }
            wrote.signal()
        })
        XCTAssertTrue(pending.buffer(3) === bytes, "the very buffer is served while its write runs")
        XCTAssertEqual(pending.bytes, 4096)
        XCTAssertFalse(pending.admit(3, piece(8)) { XCTFail("a piece pending already is not written twice") })
        gate.signal()
        wrote.wait()
        XCTAssertNil(pending.buffer(3))
        XCTAssertTrue(pending.isEmpty)
        XCTAssertEqual(pending.bytes, 0)
    }

    func testAPiecePastTheByteLimitIsRefusedSoItsCallerWritesItWaiting() {
        let pending = PendingWrites(limitBytes: 8192)
        let gate = DispatchSemaphore(value: 0)
        XCTAssertTrue(pending.admit(0, piece(1)) { gate.wait(); pending.finish(0) { _ in } })
        XCTAssertTrue(pending.admit(1, piece(2)) { gate.wait(); pending.finish(1) { _ in } })
        XCTAssertFalse(pending.admit(2, piece(3)) { XCTFail("past the limit nothing runs") }, "8 KiB pending is the limit")
        XCTAssertNil(pending.buffer(2))
        gate.signal()
        gate.signal()
    }

    func testTheWriteLearnsWhetherAReaderReadThePieceToItsEndMeanwhile() {
        let pending = PendingWrites(limitBytes: 1 << 20)
        let gate = DispatchSemaphore(value: 0), wrote = DispatchSemaphore(value: 0)
        let readFlags = Mutex<[Int: Bool]>([:])
        for index in 0..<2 {
            XCTAssertTrue(pending.admit(index, piece(UInt8(index))) {
                gate.wait()
                pending.finish(index) { read in readFlags.withLock { $0[index] = read } }
                wrote.signal()
            })
        }
        XCTAssertTrue(pending.markRead(1))
        XCTAssertFalse(pending.markRead(5), "a piece not pending is the store's to let go")
        gate.signal(); gate.signal()
        wrote.wait(); wrote.wait()
        XCTAssertEqual(readFlags.withLock { $0 }, [0: false, 1: true])
    }

    func testAWaiterWaitsForThePiecesPendingWhenItCameNotForLaterOnes() async {
        let pending = PendingWrites(limitBytes: 1 << 20)
        let first = DispatchSemaphore(value: 0), later = DispatchSemaphore(value: 0)
        XCTAssertTrue(pending.admit(0, piece(1)) { first.wait(); pending.finish(0) { _ in } })
        let waited = Task { await pending.written() }
        // Once `written` found piece 0 pending, a later piece must not hold its caller.
        for _ in 0..<1000 where pending.waiting == 0 { try? await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(pending.waiting, 1)
        XCTAssertTrue(pending.admit(1, piece(2)) { later.wait(); pending.finish(1) { _ in } })
        first.signal()
        await waited.value
        XCTAssertNotNil(pending.buffer(1), "the later piece is still being written")
        later.signal()
        await pending.written()
        XCTAssertTrue(pending.isEmpty)
    }
}
