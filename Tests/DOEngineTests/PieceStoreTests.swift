import DOCore
@testable import DOEngine
import XCTest

final class PieceStoreTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "dofs-store-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    private func piece(_ seed: UInt8, size: Int = 4096) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0) &+ seed } }

    func testCommittedPieceIsReadableAtOnceAndDurableAfterFlush() throws {
        let store = try PieceStore(root: root)
        let bytes = piece(1)
        let key = PieceStore.Key.verified(SHA256.hash(bytes))
        try store.commit(key, bytes: bytes)
        XCTAssertEqual(store.readPiece(key, length: bytes.count), bytes, "a staged piece reads from its temporary file")
        store.flush()
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.path(for: key)))
        XCTAssertEqual(FileManager.default.contents(atPath: store.path(for: key)).map { [UInt8]($0) }, bytes)

        let reopened = try PieceStore(root: root)
        XCTAssertTrue(reopened.contains(key))
        XCTAssertEqual(reopened.readPiece(key, length: bytes.count), bytes)
    }

    func testLeftoversOfAnInterruptedCommitAreDeletedAndNeverServed() throws {
        _ = try PieceStore(root: root)
        let bytes = piece(2)
        let digest = SHA256.hash(bytes)
        // What a SIGKILL between write and rename leaves: a temporary file only.
        FileManager.default.createFile(atPath: root + "/tmp/half-written", contents: Data(bytes.prefix(100)))
        let store = try PieceStore(root: root)
        XCTAssertFalse(store.contains(.verified(digest)))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp"), [])
    }

    func testFilesWithoutAPieceNameAreIgnored() throws {
        _ = try PieceStore(root: root)
        try FileManager.default.createDirectory(atPath: root + "/verified/ab", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/verified/ab/not-a-digest", contents: Data([1, 2, 3]))
        let store = try PieceStore(root: root)
        XCTAssertEqual(store.keys.count, 0)
    }

    func testShortPieceFileIsDroppedNotServed() throws {
        let store = try PieceStore(root: root)
        let bytes = piece(3)
        let key = PieceStore.Key.verified(SHA256.hash(bytes))
        try store.commit(key, bytes: bytes)
        store.flush()
        truncate(store.path(for: key), 10)
        XCTAssertNil(store.readPiece(key, length: bytes.count))
        XCTAssertFalse(store.contains(key), "a damaged piece is forgotten so it is fetched again")
    }

    func testSimpleAndVerifiedPiecesNeverShareANamespace() throws {
        let store = try PieceStore(root: root)
        let bytes = piece(4)
        let simple = PieceStore.Key.unverified(content: "abc", index: 0)
        try store.commit(simple, bytes: bytes)
        store.flush()
        XCTAssertFalse(store.contains(.verified(SHA256.hash(bytes))))
        XCTAssertTrue(store.path(for: simple).contains("/simple/"))
    }

    func testSizeCapEvictsLeastRecentlyUsed() throws {
        let store = try PieceStore(root: root, maxBytes: 3 * 4096)
        let pieces = (0..<5).map { piece(UInt8($0 + 10)) }
        let keys = pieces.map { PieceStore.Key.verified(SHA256.hash($0)) }
        for (k, p) in zip(keys, pieces) {
            try store.commit(k, bytes: p)
            store.flush()
        }
        XCTAssertLessThanOrEqual(store.totalBytes, 3 * 4096)
        XCTAssertFalse(store.contains(keys[0]))
        XCTAssertTrue(store.contains(keys[4]))
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.path(for: keys[0])))
    }
}
