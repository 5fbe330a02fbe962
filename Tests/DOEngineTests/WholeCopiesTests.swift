import DOCore
@testable import DOEngine
import Synchronization
import XCTest

/// Whole copies (what FUSE passthrough serves): made only of pieces that hash right, whole or not at
/// all, and counted toward the cache cap, where they give way before pieces.
final class WholeCopiesTests: XCTestCase {
    private var root = ""
    private let pieceSize = 4096

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "dofs-whole-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// A content of `pieces` pieces (the last one shorter), each stored unless listed in `missing`.
    private func content(_ pieces: Int, seed: Int, in store: PieceStore, missing: Set<Int> = []) throws -> (PiecesHashFile, [UInt8]) {
        let length = pieces * pieceSize - 100
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: ($0 &* 7) ^ ($0 >> 9) &+ seed) }
        let layout = PieceLayout(contentLength: length, pieceSize: pieceSize)
        let slices = (0..<pieces).map { Array(bytes[layout.range(ofPiece: $0)]) }
        for (index, slice) in slices.enumerated() where !missing.contains(index) {
            try store.commit(.verified(SHA256.hash(slice)), bytes: slice)
        }
        store.flush()
        return (PiecesHashFile(layout: layout, pieces: slices.map { SHA256.hash($0) }), bytes)
    }

    /// A store capped at `cap` bytes, a file per piece, and its copies.
    private func capped(at cap: Int) throws -> (PieceStore, WholeCopies) {
        var config = PieceStoreConfiguration()
        config.packedPieceMaxBytes = 0
        let store = try PieceStore(root: root + "/pieces", maxBytes: cap, configuration: config)
        return (store, try WholeCopies(folder: root + "/whole", store: store))
    }

    /// Offers a copy and waits for its outcome (`nil`: made).
    private func make(_ phf: PiecesHashFile, in copies: WholeCopies) -> WholeCopies.Failure? {
        let done = expectation(description: "copy of \(phf.contentId)")
        let outcome = Mutex<WholeCopies.Failure?>(nil)
        copies.offer(phf) { failure in
            outcome.withLock { $0 = failure }
            done.fulfill()
        }
        wait(for: [done], timeout: 30)
        return outcome.withLock { $0 }
    }

    func testACopyOfAStoredContentHoldsExactlyItsBytesUnderItsHashOfHashes() throws {
        let store = try PieceStore(root: root + "/pieces")
        let copies = try WholeCopies(folder: root + "/whole", store: store)
        let (phf, bytes) = try content(5, seed: 1, in: store)

        XCTAssertEqual(copies.progress(of: phf.hashOfHashes), .none)
        XCTAssertNil(make(phf, in: copies))
        let path = try XCTUnwrap(copies.path(of: phf.hashOfHashes))
        XCTAssertEqual(path, root + "/whole/" + phf.hashOfHashes.hex)
        XCTAssertEqual(FileSystem.readFile(path), bytes, "the copy is the content, byte for byte")
        XCTAssertEqual(copies.progress(of: phf.hashOfHashes), .ready)
        XCTAssertTrue(copies.matches(phf))
        XCTAssertEqual(copies.derivedBytes, bytes.count)
    }

    func testAContentWithAPieceMissingGetsNoCopyAndLeavesNoFile() throws {
        let store = try PieceStore(root: root + "/pieces")
        let copies = try WholeCopies(folder: root + "/whole", store: store)
        let (phf, _) = try content(5, seed: 2, in: store, missing: [3])

        guard case .pieceMissing(index: 3)? = make(phf, in: copies) else { return XCTFail("piece 3 is not stored") }
        XCTAssertNil(copies.path(of: phf.hashOfHashes))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/whole"), [], "nothing left behind")
        XCTAssertEqual(copies.derivedBytes, 0)
    }

    func testAStoredPieceDamagedOnDiskStopsTheCopyAndLeavesTheStore() throws {
        var config = PieceStoreConfiguration()
        config.packedPieceMaxBytes = 0
        config.recentPieceBytes = 0
        let store = try PieceStore(root: root + "/pieces", configuration: config)
        let copies = try WholeCopies(folder: root + "/whole", store: store)
        let (phf, _) = try content(4, seed: 3, in: store)
        let damaged = store.path(for: .verified(phf.pieces[2]))
        var piece = try XCTUnwrap(FileSystem.readFile(damaged))
        piece[17] ^= 0x40
        try FileManager.default.removeItem(atPath: damaged)
        try FileSystem.writeFile(piece, to: damaged)

        guard case .pieceMismatch(index: 2)? = make(phf, in: copies) else { return XCTFail("piece 2 no longer hashes right") }
        XCTAssertNil(copies.path(of: phf.hashOfHashes), "no copy of bytes that failed their hash")
        XCTAssertFalse(store.contains(.verified(phf.pieces[2])), "the damaged piece left the store, to be fetched again")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/whole"), [])
    }

    func testCopiesCountTowardTheCapAndGiveWayBeforePieces() throws {
        let cap = 20 * pieceSize
        let (store, copies) = try capped(at: cap)
        let (first, _) = try content(4, seed: 4, in: store)
        XCTAssertNil(make(first, in: copies))
        let (second, _) = try content(4, seed: 5, in: store)
        XCTAssertNil(make(second, in: copies))
        XCTAssertEqual(store.totalBytes + copies.derivedBytes, 16 * pieceSize - 400)

        // Eight more pieces need room: the older copy goes first, and no piece of either content.
        let (third, _) = try content(8, seed: 6, in: store)
        XCTAssertNil(copies.path(of: first.hashOfHashes), "the least recently used copy gave way")
        XCTAssertNotNil(copies.path(of: second.hashOfHashes))
        XCTAssertLessThanOrEqual(store.totalBytes + copies.derivedBytes, cap)
        for digest in first.pieces + second.pieces + third.pieces {
            XCTAssertTrue(store.contains(.verified(digest)), "pieces stay while a copy can give way")
        }
    }

    func testACopyThatDoesNotFitBesideThePiecesIsNotStartedAndEvictsNoPiece() throws {
        let (store, copies) = try capped(at: 10 * pieceSize)
        let (phf, _) = try content(6, seed: 7, in: store)

        guard case .noRoom? = make(phf, in: copies) else { return XCTFail("6 pieces and their copy exceed a cap of 10") }
        XCTAssertEqual(copies.progress(of: phf.hashOfHashes), .none)
        XCTAssertEqual(phf.pieces.filter { store.contains(.verified($0)) }.count, 6)
    }

    func testReopeningCountsFinishedCopiesAndDeletesUnfinishedOnes() throws {
        let store = try PieceStore(root: root + "/pieces")
        let (phf, bytes) = try content(3, seed: 8, in: store)
        do {
            let copies = try WholeCopies(folder: root + "/whole", store: store)
            XCTAssertNil(make(phf, in: copies))
        }
        try FileSystem.writeFile([1, 2, 3], to: root + "/whole/tmp-" + String(repeating: "ab", count: 32))

        let reopened = try WholeCopies(folder: root + "/whole", store: store)
        XCTAssertEqual(reopened.all, [phf.hashOfHashes])
        XCTAssertEqual(reopened.derivedBytes, bytes.count)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/whole"), [phf.hashOfHashes.hex],
                       "the unfinished copy of an interrupted run is gone")
    }
}
