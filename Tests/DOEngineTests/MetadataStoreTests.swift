import DOCore
@testable import DOEngine
import XCTest

/// Copies of catalog-embedded pieces hash files: written in place, a torn one never trusted.
final class MetadataStoreTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "dofs-metadata-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    private func phf(_ seed: UInt8) -> PiecesHashFile {
        PiecesHashFile(layout: PieceLayout(contentLength: 3000, pieceSize: 1024),
                       pieces: (0..<3).map { SHA256.hash([seed, UInt8($0)]) })
    }

    func testATornCopyIsDeletedWhenLoadedAndTheNextCopyWritesItWhole() throws {
        let metadata = try MetadataStore(root: root)
        let phf = phf(1)
        let path = "\(root)/\(phf.hashOfHashes.hex).phf"
        // What a crash in the middle of writing the copy leaves: the first half of it.
        let whole = phf.jsonBytes()
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(whole.prefix(whole.count / 2))))

        XCTAssertNil(metadata.load(hashOfHashes: phf.hashOfHashes), "a torn copy is never trusted")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "and it is deleted, so that it is written again")

        try metadata.saveCopy(phf)
        XCTAssertEqual(metadata.load(hashOfHashes: phf.hashOfHashes), phf)
        XCTAssertEqual(FileManager.default.contents(atPath: path).map { [UInt8]($0) }, whole)
    }

    func testCopyingAKeptPiecesHashFileAgainMarksItUsedAndLeavesItAlone() throws {
        let metadata = try MetadataStore(root: root)
        let phf = phf(2)
        try metadata.saveCopy(phf)
        let path = "\(root)/\(phf.hashOfHashes.hex).phf"
        var old = [timeval(tv_sec: 1_000_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000_000, tv_usec: 0)]
        XCTAssertEqual(utimes(path, &old), 0)
        XCTAssertEqual(metadata.lastUsed(hashOfHashes: phf.hashOfHashes)?.timeIntervalSince1970, 1_000_000_000)

        try metadata.saveCopy(phf)
        let used = try XCTUnwrap(metadata.lastUsed(hashOfHashes: phf.hashOfHashes))
        XCTAssertLessThan(abs(used.timeIntervalSinceNow), 60, "a second copy is a use of the content")
        XCTAssertEqual(metadata.load(hashOfHashes: phf.hashOfHashes), phf)
    }
}
