import DOCore
@testable import DOEngine
import XCTest

/// The cache's list of verified contents: kept counts (pieces and bytes), found again from the metadata
/// folder after a restart, and eviction of one content's pieces.
final class CachedContentsTests: XCTestCase {
    private var root = ""
    private let size = 1024

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "dofs-contents-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    private func piece(_ seed: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ seed) } }

    /// A content of `pieces`, the last one `tail` bytes long, its PHF saved in `metadata`.
    private func content(_ pieces: [[UInt8]], tail: Int? = nil, metadata: MetadataStore) throws -> (PiecesHashFile, [[UInt8]]) {
        var bytes = pieces
        if let tail { bytes[bytes.count - 1] = Array(bytes[bytes.count - 1].prefix(tail)) }
        let length = bytes.reduce(0) { $0 + $1.count }
        let phf = PiecesHashFile(layout: PieceLayout(contentLength: length, pieceSize: size), pieces: bytes.map { SHA256.hash($0) })
        try metadata.save(phf)
        return (phf, bytes)
    }

    private func commit(_ pieces: [[UInt8]], to store: PieceStore) throws {
        for p in pieces { try store.commit(.verified(SHA256.hash(p)), bytes: p) }
    }

    func testListingShowsKeptPiecesAndBytesOfEachContentFoundInTheMetadataFolder() throws {
        let store = try PieceStore(root: root + "/pieces")
        defer { store.flush() }  // before tearDown removes the folder
        let metadata = try MetadataStore(root: root + "/metadata")
        let (a, aBytes) = try content((0..<3).map(piece), tail: 100, metadata: metadata)
        let (b, bBytes) = try content((10..<12).map(piece), metadata: metadata)
        try commit(aBytes, to: store)
        try commit([bBytes[0]], to: store)
        store.flush()

        // A fresh registry (a restarted node) finds both in metadata/ and counts once.
        let contents = CachedContents(store: store, metadata: metadata)
        let listed = contents.list()
        XCTAssertEqual(listed.count, 2)
        let la = try XCTUnwrap(listed.first { $0.hashOfHashes == a.hashOfHashes.hex })
        XCTAssertEqual(la.piecesHave, 3)
        XCTAssertEqual(la.piecesTotal, 3)
        XCTAssertEqual(la.bytesStored, 2 * size + 100, "bytes follow the real length of the last piece")
        let lb = try XCTUnwrap(listed.first { $0.hashOfHashes == b.hashOfHashes.hex })
        XCTAssertEqual(lb.piecesHave, 1)
        XCTAssertEqual(lb.bytesStored, size)
        XCTAssertEqual(listed.first?.contentId, a.contentId.rawValue, "the content with the most bytes stored comes first")

        // Counts are kept: a piece committed later shows without a recount.
        try commit([bBytes[1]], to: store)
        XCTAssertEqual(contents.list().first { $0.hashOfHashes == b.hashOfHashes.hex }?.piecesHave, 2)
    }

    func testEvictingAContentRemovesItsPiecesSharedOnesIncludedAndLeavesOthersAlone() throws {
        let store = try PieceStore(root: root + "/pieces")
        defer { store.flush() }  // before tearDown removes the folder
        let metadata = try MetadataStore(root: root + "/metadata")
        let shared = piece(99)
        let (a, aBytes) = try content([piece(1), piece(2), shared], metadata: metadata)
        let (b, bBytes) = try content([shared, piece(3)], metadata: metadata)
        try commit(aBytes + bBytes, to: store)
        let contents = CachedContents(store: store, metadata: metadata)
        XCTAssertEqual(contents.hashes(of: a.contentId), [a.hashOfHashes])

        let evicted = try XCTUnwrap(contents.evict(a.hashOfHashes))
        XCTAssertEqual(evicted.pieces, 3)
        XCTAssertEqual(evicted.bytes, 3 * size)
        XCTAssertFalse(store.contains(.verified(SHA256.hash(piece(1)))))
        XCTAssertFalse(store.contains(.verified(SHA256.hash(shared))), "a shared piece goes with the evicted content")
        XCTAssertTrue(store.contains(.verified(SHA256.hash(piece(3)))), "the other content's own pieces stay")

        let listed = contents.list()
        XCTAssertEqual(listed.first { $0.hashOfHashes == a.hashOfHashes.hex }?.piecesHave, 0, "still listed, with no piece")
        XCTAssertEqual(listed.first { $0.hashOfHashes == b.hashOfHashes.hex }?.piecesHave, 1, "the other content lost the shared piece")
        XCTAssertNotNil(metadata.load(hashOfHashes: a.hashOfHashes), "the PHF stays")
        XCTAssertNil(contents.evict(SHA256.hash([1, 2, 3])), "an unknown content is nil")
    }

    func testAContentOpenedBySessionAndListingShareOneTally() throws {
        let store = try PieceStore(root: root + "/pieces")
        defer { store.flush() }  // before tearDown removes the folder
        let metadata = try MetadataStore(root: root + "/metadata")
        let (a, aBytes) = try content((0..<2).map(piece), metadata: metadata)
        let contents = CachedContents(store: store, metadata: metadata)
        let (tally, lastUse) = contents.register(a, url: "http://user:secret@origin/a.bin")
        let (again, _) = contents.register(a, url: nil)
        XCTAssertTrue(tally === again, "one tally per content")
        try commit(aBytes, to: store)
        XCTAssertEqual(tally.have, 2)
        let listed = try XCTUnwrap(contents.list().first)
        XCTAssertEqual(listed.piecesHave, 2)
        XCTAssertFalse(listed.url?.contains("secret") ?? true, "credentials are redacted: \(listed.url ?? "nil")")
        XCTAssertLessThanOrEqual(abs(lastUse.date.timeIntervalSinceNow), 5)
    }
}
