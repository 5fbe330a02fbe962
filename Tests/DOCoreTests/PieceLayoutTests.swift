import DOCore
import XCTest

final class PieceLayoutTests: XCTestCase {
    let mib = 1 << 20

    func testEmptyContentHasNoPieces() {
        let l = PieceLayout(contentLength: 0)
        XCTAssertEqual(l.pieceCount, 0)
        XCTAssertEqual(l.pieces(coveringOffset: 0, length: 4096), 0..<0)
    }

    func testOneByteContentIsOneShortPiece() {
        let l = PieceLayout(contentLength: 1)
        XCTAssertEqual(l.pieceCount, 1)
        XCTAssertEqual(l.range(ofPiece: 0), 0..<1)
        XCTAssertEqual(l.pieces(coveringOffset: 0, length: 4096), 0..<1)
        XCTAssertEqual(l.pieces(coveringOffset: 1, length: 1), 0..<0)
    }

    func testExactMultipleHasNoPartialPiece() {
        let l = PieceLayout(contentLength: 3 * mib)
        XCTAssertEqual(l.pieceCount, 3)
        XCTAssertEqual(l.range(ofPiece: 2), (2 * mib)..<(3 * mib))
        XCTAssertEqual(l.pieces(coveringOffset: 3 * mib - 1, length: 10), 2..<3)
    }

    func testLastPartialPiece() {
        let l = PieceLayout(contentLength: 2 * mib + 5)
        XCTAssertEqual(l.pieceCount, 3)
        XCTAssertEqual(l.length(ofPiece: 2), 5)
        XCTAssertEqual(l.range(ofPiece: 2), (2 * mib)..<(2 * mib + 5))
    }

    func testDOObservedCounts() {
        XCTAssertEqual(PieceLayout(contentLength: 73_473_792).pieceCount, 71)
        XCTAssertEqual(PieceLayout(contentLength: 4_642_818).pieceCount, 5)
        XCTAssertEqual(PieceLayout(contentLength: 244_530).pieceCount, 1)
    }

    func testReadsAcrossPieceBoundaries() {
        let l = PieceLayout(contentLength: 10 * mib)
        XCTAssertEqual(l.pieces(coveringOffset: mib - 1, length: 2), 0..<2)
        XCTAssertEqual(l.pieces(coveringOffset: mib, length: mib), 1..<2)
        XCTAssertEqual(l.pieces(coveringOffset: 9 * mib, length: 5 * mib), 9..<10)
        XCTAssertEqual(l.pieces(coveringOffset: 10 * mib, length: 1), 0..<0)
        XCTAssertEqual(l.pieces(coveringOffset: 0, length: 0), 0..<0)
    }

    func testSmallPieceSizes() {
        let l = PieceLayout(contentLength: 10, pieceSize: 3)
        XCTAssertEqual(l.pieceCount, 4)
        XCTAssertEqual((0..<4).map(l.range(ofPiece:)), [0..<3, 3..<6, 6..<9, 9..<10])
    }
}
