import DOCore
import XCTest

final class PieceBufferTests: XCTestCase {
    private func bytes(_ count: Int, seed: UInt8 = 3) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) &+ seed } }

    func testBuffersArePageAlignedSoADirectWriteNeedsNoCopy() {
        for count in [0, 1, 511, 4095, 4096, 4097, (1 << 20) + 123] {
            let buffer = PieceBuffer(count: count)
            XCTAssertEqual(buffer.count, count)
            buffer.withUnsafeBytes { raw in
                XCTAssertEqual(Int(bitPattern: raw.baseAddress) % PieceBuffer.alignment, 0, "\(count)-byte buffer")
                XCTAssertEqual(raw.count, count)
            }
        }
    }

    func testACopyHoldsExactlyTheBytesGivenAndFillsInPartsAddUp() {
        let original = bytes(10_000)
        XCTAssertEqual(PieceBuffer(copying: original).bytes, original)
        let filled = PieceBuffer(count: original.count)
        original.withUnsafeBytes { raw in
            filled.fill(at: 0, from: UnsafeRawBufferPointer(rebasing: raw[..<4096]))
            filled.fill(at: 4096, from: UnsafeRawBufferPointer(rebasing: raw[4096...]))
        }
        XCTAssertEqual(filled.bytes, original)
        XCTAssertEqual(filled, PieceBuffer(copying: original))
        XCTAssertNotEqual(filled, PieceBuffer(copying: bytes(10_000, seed: 4)), "equal means the same bytes")
    }

    func testSlicesSeeTheirRangeOnlyAndJoinInOrder() {
        let a = PieceBuffer(copying: bytes(100)), b = PieceBuffer(copying: bytes(50, seed: 9))
        let parts = [PieceSlice(a, 90..<100), PieceSlice(b, 0..<20)]
        XCTAssertEqual(parts[0].bytes, Array(bytes(100)[90..<100]))
        XCTAssertEqual(parts.joinedBytes, Array(bytes(100)[90..<100]) + Array(bytes(50, seed: 9)[0..<20]))
        XCTAssertEqual(a.whole.bytes, bytes(100))
        XCTAssertEqual(SHA256.hash(a), SHA256.hash(bytes(100)), "a buffer hashes as the bytes it holds")
    }
}
