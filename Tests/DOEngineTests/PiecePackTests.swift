import DOCore
@testable import DOEngine
import XCTest

/// Small verified pieces in pack files: no file per piece, read back after a restart, and whatever a
/// crash leaves (unlisted bytes, a torn list, a drop not yet synced) never lists bytes that are not the piece.
final class PiecePackTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "dofs-packs-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    private func piece(_ seed: Int, size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ seed) } }

    /// Reads go to the disk, never to the memory tier.
    private static var fromDisk: PieceStoreConfiguration {
        var c = PieceStoreConfiguration()
        c.recentPieceBytes = 0
        return c
    }

    private func files(_ dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: root + "/" + dir)?.allObjects as? [String] ?? []).filter {
            var st = stat()
            return stat(root + "/" + dir + "/" + $0, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
        }
    }

    func testSmallVerifiedPiecesGoToOnePackNotAFileEachAndReadBackByteForByteAfterARestart() throws {
        let store = try PieceStore(root: root, configuration: Self.fromDisk)
        let pieces = (0..<200).map { piece($0, size: 1 + ($0 * 977) % (64 << 10)) }
        for p in pieces { try store.commit(.verified(SHA256.hash(p)), bytes: p) }
        for p in pieces { XCTAssertEqual(store.readPiece(.verified(SHA256.hash(p)), length: p.count), p, "readable at once, before its sync") }
        store.flush()
        XCTAssertEqual(files("verified"), [], "no piece file")
        XCTAssertEqual(files("tmp"), [], "no staged file")
        XCTAssertEqual(files("packs").sorted(), ["1.list", "1.pack"])

        let reopened = try PieceStore(root: root, configuration: Self.fromDisk)
        XCTAssertEqual(reopened.pieceCount, 200)
        XCTAssertEqual(reopened.totalBytes, pieces.reduce(0) { $0 + $1.count })
        for p in pieces { XCTAssertEqual(reopened.readPiece(.verified(SHA256.hash(p)), length: p.count), p) }
        let later = piece(999, size: 5000)
        try reopened.commit(.verified(SHA256.hash(later)), bytes: later)
        reopened.flush()
        XCTAssertEqual(files("packs").sorted(), ["1.list", "1.pack", "2.list", "2.pack"], "a new run appends to a pack of its own")
    }

    func testLargePiecesAndSimpleModePiecesStillGetAFileEach() throws {
        let store = try PieceStore(root: root)
        let large = piece(1, size: (128 << 10) + 1)
        let simple = piece(2, size: 100)
        try store.commit(.verified(SHA256.hash(large)), bytes: large)
        try store.commit(.unverified(content: "c", index: 0), bytes: simple)
        store.flush()
        XCTAssertEqual(FileManager.default.contents(atPath: store.path(for: .verified(SHA256.hash(large)))).map { [UInt8]($0) }, large)
        XCTAssertEqual(FileManager.default.contents(atPath: store.path(for: .unverified(content: "c", index: 0))).map { [UInt8]($0) }, simple)
        XCTAssertEqual(files("packs"), [], "no pack made")
    }

    func testPieceBytesAppendedButNeverListedAreNotStoredAfterACrashAndTheirPackIsDeleted() throws {
        // What a SIGKILL before the group commit's sync leaves: bytes in a pack, no record.
        let (packs, listed) = try XCTUnwrap(try PiecePacks.open(folder: root + "/packs", maxPackBytes: 1 << 20))
        XCTAssertTrue(listed.isEmpty)
        _ = try packs.append(PieceBuffer(copying: piece(3, size: 3000)))
        let store = try PieceStore(root: root)
        XCTAssertEqual(store.pieceCount, 0)
        XCTAssertEqual(files("packs"), [], "a pack that lists nothing is deleted at open")
    }

    func testATornListTailIsCutSoTheRecordBeforeItCountsAndOneAppendedAfterItIsRead() throws {
        let first = piece(4, size: 10_000), second = piece(5, size: 20_000)
        do {
            let store = try PieceStore(root: root, configuration: Self.fromDisk)
            for p in [first, second] { try store.commit(.verified(SHA256.hash(p)), bytes: p) }
            store.flush()
        }
        // The second record half written, as a crash during its append could leave it.
        let list = root + "/packs/1.list"
        XCTAssertEqual(FileSystem.regularFileSize(list), 2 * PiecePacks.recordBytes)
        XCTAssertEqual(truncate(list, off_t(PiecePacks.recordBytes + 30)), 0)
        let store = try PieceStore(root: root, configuration: Self.fromDisk)
        XCTAssertEqual(FileSystem.regularFileSize(list), PiecePacks.recordBytes, "cut at the last whole record")
        XCTAssertEqual(store.readPiece(.verified(SHA256.hash(first)), length: first.count), first, "the whole record's piece is kept")
        XCTAssertFalse(store.contains(.verified(SHA256.hash(second))), "the torn record's piece is not")
        store.remove(.verified(SHA256.hash(first)))
        store.settleRemovals()
        XCTAssertFalse(try PieceStore(root: root).contains(.verified(SHA256.hash(first))), "a record appended after the cut is read")
    }

    func testAGarbledRecordIsNeverTrustedAndARangePastThePacksEndIsNotListed() throws {
        let p = piece(6, size: 8000)
        let digest = SHA256.hash(p)
        do {
            let store = try PieceStore(root: root)
            try store.commit(.verified(digest), bytes: p)
            store.flush()
        }
        // A record naming another digest with a bad check, then a well-formed one past the pack's end.
        var garbled = PiecePacks.encode(.stored, SHA256.hash([1]), .init(pack: 1, offset: 0, length: 8000))
        garbled[20] ^= 0xFF
        let beyond = PiecePacks.encode(.stored, SHA256.hash([2]), .init(pack: 1, offset: 1 << 20, length: 10))
        let fd = open(root + "/packs/1.list", O_WRONLY | O_APPEND)
        XCTAssertEqual(write(fd, beyond + garbled, 2 * PiecePacks.recordBytes), 2 * PiecePacks.recordBytes)
        close(fd)
        let store = try PieceStore(root: root, configuration: Self.fromDisk)
        XCTAssertEqual(store.keys, [.verified(digest)], "only the piece whose record checks and whose range exists")
        XCTAssertEqual(store.readPiece(.verified(digest), length: p.count), p)
    }

    func testARemovedPackedPieceIsPunchedOutOnlyAfterItsDropIsSyncedAndNeverComesBack() throws {
        let p = piece(7, size: 40_960), other = piece(8, size: 4096)
        let store = try PieceStore(root: root, configuration: Self.fromDisk)
        for x in [p, other] { try store.commit(.verified(SHA256.hash(x)), bytes: x) }
        store.flush()
        let pack = root + "/packs/1.pack"
        func allocated() -> Int {
            var st = stat()
            return stat(pack, &st) == 0 ? Int(st.st_blocks) * 512 : -1
        }
        let before = allocated()
        XCTAssertGreaterThanOrEqual(before, p.count + other.count)
        store.remove(.verified(SHA256.hash(p)))
        XCTAssertNil(store.readPiece(.verified(SHA256.hash(p)), length: p.count), "gone at once")
        XCTAssertEqual(allocated(), before, "not punched before a sync covered its drop")
        store.settleRemovals()
        XCTAssertEqual(allocated(), before - p.count, "its blocks are given back")
        let reopened = try PieceStore(root: root, configuration: Self.fromDisk)
        XCTAssertFalse(reopened.contains(.verified(SHA256.hash(p))), "a dropped piece is not listed again")
        XCTAssertEqual(reopened.readPiece(.verified(SHA256.hash(other)), length: other.count), other)
    }

    func testAPackedPieceRemovedWhileStagedIsDroppedOnceListed() throws {
        let p = piece(9, size: 5000)
        let store = try PieceStore(root: root, configuration: Self.fromDisk)
        try store.commit(.verified(SHA256.hash(p)), bytes: p)
        store.remove(.verified(SHA256.hash(p)))
        store.flush()
        XCTAssertFalse(store.contains(.verified(SHA256.hash(p))))
        XCTAssertFalse(try PieceStore(root: root).contains(.verified(SHA256.hash(p))), "its record is followed by its drop")
    }

    func testAPackThatCannotBeOpenedFailsTheStoreAndLeavesNoDescriptorOfTheOtherPacksOpen() throws {
        for run in 0..<3 {
            let store = try PieceStore(root: root)
            let p = piece(10 + run, size: 3000)
            try store.commit(.verified(SHA256.hash(p)), bytes: p)
            store.flush()
        }
        // The list read last cannot be opened for appending (immutable: not even root may write it),
        // so the packs before it are open when the store fails.
        let folder = root + "/packs"
        let lists = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".list") }
        XCTAssertEqual(lists.count, 3)
        let last = folder + "/" + lists.last!
        try runTool("/usr/bin/chattr", "+i", last)
        defer { try? runTool("/usr/bin/chattr", "-i", last) }
        func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
        let before = openDescriptors()
        XCTAssertThrowsError(try PieceStore(root: root))
        XCTAssertEqual(openDescriptors(), before, "the descriptors of the packs opened before the failure are closed")
    }

    private func runTool(_ path: String, _ arguments: String...) throws {
        let tool = Process()
        tool.executableURL = URL(fileURLWithPath: path)
        tool.arguments = arguments
        try tool.run()
        tool.waitUntilExit()
        guard tool.terminationStatus == 0 else { throw XCTSkip("\(path) \(arguments.joined(separator: " ")) failed here") }
    }
}
