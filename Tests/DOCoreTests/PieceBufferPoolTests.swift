@testable import DOCore
import XCTest

final class PieceBufferPoolTests: XCTestCase {
    func testPiecesOfTheCommonSizeReuseHugePageAlignedSlotsAndThePoolStaysWithinItsBound() {
        // Hold more pieces than the pool has slots: the rest come from the heap, still page-aligned.
        let many = (0..<(PieceBufferPool.maxRegions * PieceBufferPool.slotsPerRegion + 5)).map { _ in PieceBuffer(count: 1 << 20) }
        XCTAssertLessThanOrEqual(PieceBufferPool.shared.regions, PieceBufferPool.maxRegions)
        let addresses = many.map { $0.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) } }
        XCTAssertEqual(Set(addresses).count, many.count, "no two live buffers share memory")
        XCTAssertTrue(addresses.allSatisfy { $0 % UInt(PieceBuffer.alignment) == 0 })
        XCTAssertGreaterThanOrEqual(addresses.filter { $0 % UInt(PieceBufferPool.slotBytes) == 0 }.count,
                                    PieceBufferPool.maxRegions * PieceBufferPool.slotsPerRegion - 1,
                                    "pooled pieces sit on slot boundaries (half a huge page each)")
    }

    func testAFreedSlotIsTheNextPiecesMemoryAndSmallPiecesDoNotTakeSlots() {
        var first: PieceBuffer? = PieceBuffer(copying: [UInt8](repeating: 1, count: 1 << 20))
        let address = first!.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        first = nil
        let next = PieceBuffer(count: (1 << 20) - 100)
        XCTAssertEqual(next.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }, address, "warm memory, reused at once")
        XCTAssertFalse(PieceBufferPool.fits(64 << 10), "a small file's piece would waste a 1 MiB slot")
        XCTAssertFalse(PieceBufferPool.fits((1 << 20) + 1))
        XCTAssertNil(first)
    }
}
