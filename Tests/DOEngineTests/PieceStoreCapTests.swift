import DOCore
@testable import DOEngine
import XCTest

/// The size cap holds on disk, and the piece count of a content is kept rather than counted.
final class PieceStoreCapTests: XCTestCase {
    private var root = ""
    private let size = 4096

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "dofs-cap-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    private func piece(_ seed: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) } }

    /// A file per piece, however small (no packs).
    private static var filePerPiece: PieceStoreConfiguration {
        var c = PieceStoreConfiguration()
        c.packedPieceMaxBytes = 0
        return c
    }

    /// Bytes in piece files on disk, staged ones included, and the data ranges packs hold (a punched range
    /// holds none). Ranges, not `st_blocks`, which also counts blocks the file system keeps for itself
    /// (ext4's extent tree, once punches split a pack): a CI run once saw one block over the cap with only
    /// the cap's two pieces listed.
    private func bytesOnDisk() -> Int {
        var total = 0
        for dir in ["verified", "simple", "tmp"] {
            guard let walker = FileManager.default.enumerator(atPath: root + "/" + dir) else { continue }
            while let rel = walker.nextObject() as? String {
                total += FileSystem.regularFileSize(root + "/" + dir + "/" + rel) ?? 0
            }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root + "/packs")) ?? [] where name.hasSuffix(".pack") {
            total += dataBytes(root + "/packs/" + name)
        }
        return total
    }

    /// The bytes of `path` in data ranges (`SEEK_DATA` to `SEEK_HOLE`), holes left out.
    private func dataBytes(_ path: String) -> Int {
        // Glibc exports them only under _GNU_SOURCE, which Swift's module does not define (<unistd.h>).
        let (seekData, seekHole): (Int32, Int32) = (3, 4)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var total = 0, at: off_t = 0
        while true {
            let start = lseek(fd, at, seekData)
            guard start >= 0 else { return total }  // ENXIO: no data past `at`
            let end = lseek(fd, start, seekHole)
            guard end > start else { return total }
            total += Int(end - start)
            at = end
        }
    }

    func testTheCapHoldsOnDiskWhilePiecesArriveFasterThanGroupCommits() throws {
        let cap = 3 * size
        let store = try PieceStore(root: root, maxBytes: cap, configuration: Self.filePerPiece)
        var worst = 0
        for i in 0..<40 {
            let bytes = piece(i)
            try store.commit(.verified(SHA256.hash(bytes)), bytes: bytes)
            worst = max(worst, bytesOnDisk())
        }
        store.flush()
        worst = max(worst, bytesOnDisk())
        XCTAssertLessThanOrEqual(worst, cap + size, "on disk: at most the cap plus the piece being committed (worst seen \(worst) bytes, cap \(cap))")
        XCTAssertLessThanOrEqual(store.totalBytes, cap)
    }

    func testPackedPiecesEvictedToKeepTheCapGiveTheirBlocksBackAtEachGroupCommitAndStayGone() throws {
        let cap = 3 * size
        let store = try PieceStore(root: root, maxBytes: cap)
        var keys: [PieceStore.Key] = []
        for round in 0..<4 {
            for i in 0..<10 {
                let bytes = piece(round * 10 + i)
                keys.append(.verified(SHA256.hash(bytes)))
                try store.commit(keys.last!, bytes: bytes)
            }
            store.flush()
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/verified").count, 256, "only the shard folders: no piece file")
            XCTAssertGreaterThan(bytesOnDisk(), 0, "the pieces are in a pack")
            XCTAssertLessThanOrEqual(bytesOnDisk(), cap, "round \(round): evicted packed pieces hold no block after the group commit")
        }
        let reopened = try PieceStore(root: root, maxBytes: cap)
        XCTAssertEqual(Set(keys.filter { reopened.contains($0) }), Set(keys.suffix(3)), "the last 3 pieces are kept, the evicted ones stay gone")
        for key in keys.suffix(3) {
            guard case .verified(let digest) = key, let bytes = reopened.readPiece(key, length: size) else { return XCTFail("\(key) unreadable") }
            XCTAssertEqual(SHA256.hash(bytes), digest)
        }
    }

    func testASmallerCapTakesEffectWhenTheStoreOpens() throws {
        let unbounded = try PieceStore(root: root)
        for i in 0..<8 {
            let bytes = piece(i)
            try unbounded.commit(.verified(SHA256.hash(bytes)), bytes: bytes)
        }
        unbounded.flush()
        XCTAssertEqual(bytesOnDisk(), 8 * size)

        let capped = try PieceStore(root: root, maxBytes: 2 * size)
        XCTAssertLessThanOrEqual(capped.totalBytes, 2 * size)
        XCTAssertLessThanOrEqual(bytesOnDisk(), 2 * size, "a remount with a smaller cap evicts at once, before any new piece")
    }

    func testAContentsPieceCountFollowsCommitsEvictionsAndRepeatedPieces() throws {
        let store = try PieceStore(root: root, maxBytes: 4 * size)
        let distinct = (0..<6).map(piece)
        // Piece 0 occurs three times in the content: stored once, counted three times.
        let contentPieces = [distinct[0], distinct[0], distinct[1], distinct[2], distinct[0], distinct[3]]
        let phf = PiecesHashFile(layout: PieceLayout(contentLength: contentPieces.count * size, pieceSize: size),
                                 pieces: contentPieces.map { SHA256.hash($0) })
        try store.commit(.verified(SHA256.hash(distinct[0])), bytes: distinct[0])
        let tally = PieceTally(phf)
        store.watch(tally)
        tally.recount(in: store)
        XCTAssertEqual(tally.have, 3, "a stored piece counts once per occurrence")

        for p in distinct[1...3] { try store.commit(.verified(SHA256.hash(p)), bytes: p) }
        store.flush()
        XCTAssertEqual(tally.have, 6, "every piece of the content is stored")

        // Two pieces of another content push the oldest of ours out (cap: 4 pieces).
        for p in distinct[4...5] { try store.commit(.verified(SHA256.hash(p)), bytes: p) }
        store.flush()
        let expected = contentPieces.filter { store.contains(.verified(SHA256.hash($0))) }.count
        XCTAssertLessThan(expected, 6, "the cap should have evicted some of the content's pieces")
        XCTAssertEqual(tally.have, expected, "the kept count follows evictions")

        store.remove(.verified(SHA256.hash(distinct[3])))
        XCTAssertEqual(tally.have, contentPieces.filter { store.contains(.verified(SHA256.hash($0))) }.count)
    }

    func testSimpleContentPieceCountIsKeptPerContent() throws {
        let store = try PieceStore(root: root)
        for i in 0..<3 { try store.commit(.unverified(content: "a", index: i), bytes: piece(i)) }
        try store.commit(.unverified(content: "b", index: 0), bytes: piece(9))
        XCTAssertEqual(store.simplePieceCount(content: "a"), 3)
        XCTAssertEqual(store.simplePieceCount(content: "b"), 1)
        store.remove(.unverified(content: "a", index: 1))
        XCTAssertEqual(store.simplePieceCount(content: "a"), 2)
        store.flush()
        XCTAssertEqual(try PieceStore(root: root).simplePieceCount(content: "a"), 2, "the count is rebuilt at open")
    }

    func testEvictionTouchesOnlyWhatItRemoves() throws {
        // 20,000 pieces in the index; evicting one must not sort or walk them all. Measured as the
        // number of pieces left, with a generous time bound as a guard against a quadratic walk.
        var index = PieceIndex()
        for i in 0..<20_000 { index.insert(.unverified(content: "c", index: i), size: 1, location: .final) }
        let started = ContinuousClock.now
        for i in 0..<2_000 {
            index.insert(.unverified(content: "d", index: i), size: 1, location: .final)
            XCTAssertEqual(index.evict(toFit: 20_000).count, 1)
        }
        XCTAssertEqual(index.count, 20_000)
        XCTAssertEqual(index.simpleCount("c"), 18_000, "the least recently used went first")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
    }
}
