import DOCore
@testable import DOEngine
import XCTest

/// The memory a reader's pieces take: the recent-pieces tier covers a readahead window, and the
/// allocator settings that make freed piece buffers reusable are ones glibc accepts.
final class PieceMemoryTests: XCTestCase {
    func testTheRecentPiecesTierHoldsAWholeReadaheadWindowOfDefaultSizedPieces() {
        // A smaller tier drops, oldest first, the pieces nearest a sequential reader, which it then
        // reads back from the disk (see `PieceStoreConfiguration.recentPieceBytes`).
        let window = EngineConfiguration().maxReadaheadPieces * PieceLayout.defaultPieceSize
        XCTAssertGreaterThanOrEqual(PieceStoreConfiguration().recentPieceBytes, window)
    }

    func testAllocatorSettingsAreAcceptedAndKeepMoreThanAReaderFreesAtOnce() {
        XCTAssertTrue(PieceMemory.configureAllocator(), "glibc refused a setting (mmap threshold above its 32 MiB maximum?)")
        XCTAssertGreaterThan(PieceMemory.largestHeapAllocation, PieceLayout.defaultPieceSize, "a piece's buffer must come from the heap")
        let inFlightAndHeld = EngineConfiguration().maxReadaheadPieces * PieceLayout.defaultPieceSize + PieceStoreConfiguration().recentPieceBytes
        XCTAssertGreaterThan(PieceMemory.keptFreeBytes, inFlightAndHeld, "freed windows must not be trimmed back to the kernel")
    }
}
