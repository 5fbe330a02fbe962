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

    /// A store that keeps no piece in memory: every read goes to the piece file.
    private static var fileOnly: PieceStoreConfiguration {
        var c = PieceStoreConfiguration()
        c.recentPieceBytes = 0
        c.packedPieceMaxBytes = 0
        return c
    }

    /// A store that writes a file per piece however small (no packs): what the tests of piece files check.
    private static var filePerPiece: PieceStoreConfiguration {
        var c = PieceStoreConfiguration()
        c.packedPieceMaxBytes = 0
        return c
    }

    /// How many of the first `pages` pages of the file at `path` are in the page cache (mincore).
    private func residentPages(_ path: String, pages: Int) throws -> Int {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw POSIXError(.ENOENT) }
        defer { close(fd) }
        let length = pages * 4096
        guard let map = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else { throw POSIXError(.EIO) }
        defer { munmap(map, length) }
        var vector = [UInt8](repeating: 0, count: pages)
        guard mincore(map, length, &vector) == 0 else { throw POSIXError(.EIO) }
        return vector.filter { $0 & 1 == 1 }.count
    }

    /// A store that keeps no piece in memory, with one committed piece of a MiB and a bit (not a multiple
    /// of the block size: its last partial block takes the buffered path); skips the test where the file
    /// system refuses `O_DIRECT`.
    private func storeWithADirectlyWrittenPiece(_ seed: UInt8) throws -> (PieceStore, [UInt8], PieceStore.Key) {
        let store = try PieceStore(root: root, configuration: Self.fileOnly)
        let bytes = piece(seed, size: (1 << 20) + 123)
        let key = PieceStore.Key.verified(SHA256.hash(bytes))
        try store.commit(key, bytes: bytes)
        store.flush()
        try XCTSkipUnless(store.writesDirectly, "the file system under \(root) refuses O_DIRECT: pieces go through the page cache there")
        return (store, bytes, key)
    }

    func testPieceFilesAreWrittenPastThePageCacheAndReadBackByteForByte() throws {
        let (store, bytes, key) = try storeWithADirectlyWrittenPiece(9)
        XCTAssertEqual(try residentPages(store.path(for: key), pages: 256), 0, "the direct part of the piece did not go through the page cache")
        XCTAssertEqual(store.readPiece(key, length: bytes.count), bytes)
        XCTAssertEqual(FileManager.default.contents(atPath: store.path(for: key)).map { [UInt8]($0) }, bytes)
    }

    func testPiecesCommittedLatelyAreServedFromMemoryUntilRemoved() throws {
        let store = try PieceStore(root: root, configuration: Self.filePerPiece)
        let bytes = piece(10)
        let key = PieceStore.Key.verified(SHA256.hash(bytes))
        try store.commit(key, bytes: bytes)
        store.flush()
        unlink(store.path(for: key))  // the file is gone: only memory can answer now
        XCTAssertEqual(store.recentPiece(key), bytes)
        XCTAssertEqual(store.readPiece(key, length: bytes.count), bytes)
        store.remove(key)
        XCTAssertNil(store.recentPiece(key))
        XCTAssertNil(store.readPiece(key, length: bytes.count), "a removed piece is served from nowhere")
    }

    func testACommittedPieceIsWrittenAndHeldFromTheBufferItArrivedInWithoutACopy() throws {
        let store = try PieceStore(root: root)
        // Not a multiple of the block size: the aligned part goes straight from the buffer, the tail buffered.
        let arrived = PieceBuffer(copying: piece(11, size: (1 << 20) + 4097))
        let key = PieceStore.Key.verified(SHA256.hash(arrived))
        try store.commit(key, piece: arrived)
        XCTAssertTrue(store.recentPieceBuffer(key) === arrived, "memory holds the very buffer, not a copy")
        XCTAssertTrue(store.readPieceBuffer(key, length: arrived.count) === arrived)
        store.flush()
        XCTAssertEqual(FileManager.default.contents(atPath: store.path(for: key)).map { [UInt8]($0) }, arrived.bytes,
                       "the file holds the buffer's bytes, byte for byte")
        arrived.withUnsafeBytes { XCTAssertEqual(Int(bitPattern: $0.baseAddress) % PieceBuffer.alignment, 0) }
    }

    func testAPieceReadBackFromItsFileComesWholeInAnAlignedBufferAndAShortFileIsNotServed() throws {
        let store = try PieceStore(root: root, configuration: Self.fileOnly)
        let bytes = piece(12, size: 300_000)
        let key = PieceStore.Key.verified(SHA256.hash(bytes))
        try store.commit(key, bytes: bytes)
        store.flush()
        let read = try XCTUnwrap(store.readPieceBuffer(key, length: bytes.count))
        XCTAssertEqual(read.bytes, bytes)
        read.withUnsafeBytes { XCTAssertEqual(Int(bitPattern: $0.baseAddress) % PieceBuffer.alignment, 0) }
        XCTAssertEqual(truncate(store.path(for: key), 1000), 0)
        XCTAssertNil(store.readPieceBuffer(key, length: bytes.count), "a damaged piece file is dropped, not served short")
        XCTAssertFalse(store.contains(key))
    }

    func testAWholePieceReadForACopyPassesThePageCacheComesByteForByteAndAShortFileIsNotServed() throws {
        let (store, bytes, key) = try storeWithADirectlyWrittenPiece(13)
        let buffer = PieceBuffer(count: PieceStore.wholePieceBufferBytes(bytes.count))
        XCTAssertTrue(buffer.fill { store.readWholePiece(key, length: bytes.count, into: $0) })
        XCTAssertEqual(Array(buffer.bytes.prefix(bytes.count)), bytes)
        XCTAssertEqual(try residentPages(store.path(for: key), pages: 256), 0, "read past the page cache")
        XCTAssertEqual(store.readPiece(key, length: bytes.count), bytes)
        XCTAssertEqual(try residentPages(store.path(for: key), pages: 256), 256, "a usual read fills it, so the count tells")

        XCTAssertEqual(truncate(store.path(for: key), 1000), 0)
        XCTAssertFalse(buffer.fill { store.readWholePiece(key, length: bytes.count, into: $0) }, "a damaged piece file is not served short")
        XCTAssertFalse(store.contains(key), "and it leaves the store")
        XCTAssertFalse(buffer.fill { store.readWholePiece(.verified(SHA256.hash([1])), length: 1, into: $0) }, "absent")
    }

    func testAWholePieceReadForACopyAlsoComesFromAPackOrFromMemory() throws {
        let store = try PieceStore(root: root)
        let small = piece(14, size: 5000), held = piece(15, size: 300_000)
        for bytes in [small, held] { try store.commit(.verified(SHA256.hash(bytes)), bytes: bytes) }
        store.flush()
        for bytes in [small, held] {
            let buffer = PieceBuffer(count: PieceStore.wholePieceBufferBytes(bytes.count))
            XCTAssertTrue(buffer.fill { store.readWholePiece(.verified(SHA256.hash(bytes)), length: bytes.count, into: $0) })
            XCTAssertEqual(Array(buffer.bytes.prefix(bytes.count)), bytes)
        }
    }

    func testRecentPiecesHoldAtMostTheirLimitDroppingTheOldestFirst() {
        let recent = RecentPieces(limit: 3 * 100)
        let keys = (0..<5).map { PieceStore.Key.unverified(content: "c", index: $0) }
        for (i, key) in keys.enumerated() { recent.insert(key, bytes: PieceBuffer(copying: [UInt8](repeating: UInt8(i), count: 100))) }
        XCTAssertEqual(recent.heldBytes, 300)
        XCTAssertNil(recent.bytes(of: keys[0]))
        XCTAssertNil(recent.bytes(of: keys[1]))
        XCTAssertEqual(recent.bytes(of: keys[4])?.bytes, [UInt8](repeating: 4, count: 100))
        recent.remove(keys[3])
        XCTAssertEqual(recent.heldBytes, 200)
        recent.insert(keys[0], bytes: PieceBuffer(copying: [UInt8](repeating: 7, count: 400)))  // larger than the limit: not kept
        XCTAssertNil(recent.bytes(of: keys[0]))
        XCTAssertEqual(recent.heldBytes, 200)
    }

    func testCommittedPieceIsReadableAtOnceAndDurableAfterFlush() throws {
        let store = try PieceStore(root: root, configuration: Self.filePerPiece)
        let bytes = piece(1)
        let key = PieceStore.Key.verified(SHA256.hash(bytes))
        try store.commit(key, bytes: bytes)
        XCTAssertEqual(store.readPiece(key, length: bytes.count), bytes, "a staged piece reads from its temporary file")
        store.flush()
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.path(for: key)))
        XCTAssertEqual(FileManager.default.contents(atPath: store.path(for: key)).map { [UInt8]($0) }, bytes)

        let reopened = try PieceStore(root: root, configuration: Self.filePerPiece)
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
        let store = try PieceStore(root: root, configuration: Self.fileOnly)
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
        let store = try PieceStore(root: root, maxBytes: 3 * 4096, configuration: Self.filePerPiece)
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
