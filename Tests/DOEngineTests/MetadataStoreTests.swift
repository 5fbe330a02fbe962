import DOCore
@testable import DOEngine
import XCTest

/// Copies of catalog-embedded pieces hash files: appended to one file, a torn or garbled one never trusted.
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

    private var copiesPath: String { root + "/copies.log" }

    /// Files in the metadata folder other than the copies file.
    private func otherFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root).filter { $0 != "copies.log" }
    }

    func testCopiesGoToOneFileNotAFileEachAndLoadAfterAReopen() throws {
        let metadata = try MetadataStore(root: root)
        let kept = (1...5).map { phf(UInt8($0)) }
        for p in kept { try metadata.saveCopy(p) }
        XCTAssertEqual(try otherFiles(), [], "no file per copy")
        try metadata.flush()  // as at unmount

        let reopened = try MetadataStore(root: root)
        XCTAssertEqual(Set(reopened.storedHashes()), Set(kept.map(\.hashOfHashes)))
        for p in kept { XCTAssertEqual(reopened.load(hashOfHashes: p.hashOfHashes), p) }
    }

    func testATornCopyAtTheEndIsCutOffWhenOpenedAndTheNextCopyIsReadableAfterIt() throws {
        let first = phf(1), torn = phf(2), next = phf(3)
        do {
            let metadata = try MetadataStore(root: root)
            try metadata.saveCopy(first)
        }
        let whole = try XCTUnwrap(FileManager.default.contents(atPath: copiesPath)).count
        do {
            let metadata = try MetadataStore(root: root)
            try metadata.saveCopy(torn)
        }
        // What a crash in the middle of appending the second copy leaves: part of it.
        let grown = try XCTUnwrap(FileManager.default.contents(atPath: copiesPath))
        XCTAssertGreaterThan(grown.count, whole)
        try Data(grown.prefix(whole + (grown.count - whole) / 2)).write(to: URL(fileURLWithPath: copiesPath))

        let metadata = try MetadataStore(root: root)
        XCTAssertEqual(metadata.load(hashOfHashes: first.hashOfHashes), first)
        XCTAssertNil(metadata.load(hashOfHashes: torn.hashOfHashes), "a torn copy is never trusted")
        XCTAssertEqual(try XCTUnwrap(FileManager.default.contents(atPath: copiesPath)).count, whole, "cut at the last whole record")
        try metadata.saveCopy(next)
        try metadata.saveCopy(torn)
        try metadata.flush()

        let reopened = try MetadataStore(root: root)
        XCTAssertEqual(Set(reopened.storedHashes()), Set([first, torn, next].map(\.hashOfHashes)))
        XCTAssertEqual(reopened.load(hashOfHashes: next.hashOfHashes), next)
        XCTAssertEqual(reopened.load(hashOfHashes: torn.hashOfHashes), torn, "copied again whole")
    }

    func testAGarbledCopyIsNeverLoadedAndIsCopiedAgain() throws {
        let p = phf(4)
        do {
            let metadata = try MetadataStore(root: root)
            try metadata.saveCopy(p)
        }
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: copiesPath))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: copiesPath))

        let metadata = try MetadataStore(root: root)
        XCTAssertNil(metadata.load(hashOfHashes: p.hashOfHashes))
        XCTAssertEqual(metadata.storedHashes(), [])
        try metadata.saveCopy(p)
        try metadata.flush()
        XCTAssertEqual(try MetadataStore(root: root).load(hashOfHashes: p.hashOfHashes), p)
    }

    func testCopyingAKeptCopyAgainIsAUseThatOutlivesTheProcess() throws {
        let p = phf(5)
        do {
            let metadata = try MetadataStore(root: root)
            try metadata.saveCopy(p)
            XCTAssertLessThan(abs(try XCTUnwrap(metadata.lastUsed(hashOfHashes: p.hashOfHashes)).timeIntervalSinceNow), 60)
        }
        // Dated long ago by a use record, as a content last opened then would be.
        do {
            let copies = try PiecesHashFileCopies(path: copiesPath)
            XCTAssertTrue(copies.markUsed(p.hashOfHashes, at: Date(timeIntervalSince1970: 1_000_000_000)))
        }
        let metadata = try MetadataStore(root: root)
        XCTAssertEqual(metadata.lastUsed(hashOfHashes: p.hashOfHashes)?.timeIntervalSince1970, 1_000_000_000)
        try metadata.saveCopy(p)
        try metadata.flush()
        XCTAssertLessThan(abs(try XCTUnwrap(try MetadataStore(root: root).lastUsed(hashOfHashes: p.hashOfHashes)).timeIntervalSinceNow), 60,
                          "a second copy is a use of the content, kept across restarts")
        XCTAssertEqual(try otherFiles(), [])
    }

    func testAUseWithinTheHourOfTheLastRecordedOneWritesNothingAndALaterOneIsKept() throws {
        let p = phf(9)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let copies = try PiecesHashFileCopies(path: copiesPath)
        try copies.append(p, at: Date(timeIntervalSince1970: 10_000))
        let size = {
            try copies.flush()
            return try XCTUnwrap(FileManager.default.contents(atPath: self.copiesPath)).count
        }
        let afterCopy = try size()

        XCTAssertTrue(copies.markUsed(p.hashOfHashes, at: Date(timeIntervalSince1970: 10_000 + 3599)))
        XCTAssertEqual(try size(), afterCopy, "a warm open of a file opened within the hour appends nothing")
        XCTAssertTrue(copies.markUsed(p.hashOfHashes, at: Date(timeIntervalSince1970: 10_000 + 3600)))
        XCTAssertGreaterThan(try size(), afterCopy)
        XCTAssertEqual(try PiecesHashFileCopies(path: copiesPath).lastUsed(p.hashOfHashes)?.timeIntervalSince1970, 13_600,
                       "the later use is the one kept")
        XCTAssertFalse(copies.markUsed(phf(10).hashOfHashes), "no copy, no use")
    }

    func testUseRecordsOutnumberingTheCopiesAreFoldedIntoThemWhenTheStoreOpens() throws {
        let kept = phf(6), other = phf(7)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        do {
            let copies = try PiecesHashFileCopies(path: copiesPath)
            try copies.append(kept, at: Date(timeIntervalSince1970: 1_000))
            try copies.append(other, at: Date(timeIntervalSince1970: 2_000))
            // Enough uses to pass the size at which they are folded in (each an hour after the one before,
            // so each is written), the last one dated 1,499,999,999.
            let uses = PiecesHashFileCopies.compactAtBytes / 40
            let apart = Double(PiecesHashFileCopies.useResolutionSeconds)
            for i in 0..<uses { copies.markUsed(kept.hashOfHashes, at: Date(timeIntervalSince1970: 1_499_999_999 - Double(uses - 1 - i) * apart)) }
        }
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(FileManager.default.contents(atPath: copiesPath)).count, PiecesHashFileCopies.compactAtBytes)

        let metadata = try MetadataStore(root: root)
        XCTAssertLessThan(try XCTUnwrap(FileManager.default.contents(atPath: copiesPath)).count, 4096, "one record per copy left")
        XCTAssertEqual(metadata.lastUsed(hashOfHashes: kept.hashOfHashes)?.timeIntervalSince1970, 1_499_999_999)
        XCTAssertEqual(metadata.lastUsed(hashOfHashes: other.hashOfHashes)?.timeIntervalSince1970, 2_000)
        XCTAssertEqual(metadata.load(hashOfHashes: kept.hashOfHashes), kept)
        let third = phf(8)
        try metadata.saveCopy(third)
        try metadata.flush()

        let reopened = try MetadataStore(root: root)
        XCTAssertEqual(Set(reopened.storedHashes()), Set([kept, other, third].map(\.hashOfHashes)))
        XCTAssertEqual(reopened.load(hashOfHashes: other.hashOfHashes), other)
        XCTAssertEqual(reopened.load(hashOfHashes: third.hashOfHashes), third, "appended after the rewrite")
        XCTAssertEqual(reopened.lastUsed(hashOfHashes: kept.hashOfHashes)?.timeIntervalSince1970, 1_499_999_999)
    }

    func testCopiesWaitInMemoryReadableUntilFlushedAndACrashLosesOnlyThoseThatWaited() throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let copies = try PiecesHashFileCopies(path: copiesPath)
        let first = phf(11)
        try copies.append(first)
        XCTAssertEqual(copies.bytes(first.hashOfHashes), first.jsonBytes(), "a waiting copy is read from memory")
        XCTAssertNil(try PiecesHashFileCopies(path: copiesPath).bytes(first.hashOfHashes),
                     "not written yet: what a crash now would leave")
        try copies.flush()
        XCTAssertEqual(try PiecesHashFileCopies(path: copiesPath).bytes(first.hashOfHashes), first.jsonBytes())

        // Enough copies to pass the batch size are written without a flush, the last ones may wait.
        var many: [PiecesHashFile] = []
        var waitingBytes = 0
        for seed in UInt8(100)...UInt8(250) where waitingBytes < 2 * PiecesHashFileCopies.flushAtBytes {
            let p = phf(seed)
            try copies.append(p)
            many.append(p)
            waitingBytes += p.jsonBytes().count + 53
        }
        let afterCrash = try PiecesHashFileCopies(path: copiesPath)
        let written = many.filter { afterCrash.bytes($0.hashOfHashes) == $0.jsonBytes() }
        XCTAssertGreaterThan(written.count, 0, "a full batch is written without a flush")
        XCTAssertEqual(Array(many.prefix(written.count)), written, "written in order, the waiting ones last")
        for p in many { XCTAssertEqual(copies.bytes(p.hashOfHashes), p.jsonBytes(), "every copy readable in this process") }
    }

    func testATornCopyFileOfAnOlderVersionIsDeletedWhenLoadedAndTheNextCopyIsKeptWhole() throws {
        let metadata = try MetadataStore(root: root)
        let phf = phf(1)
        let path = "\(root)/\(phf.hashOfHashes.hex).phf"
        // What a crash in the middle of writing an older version's copy file leaves: the first half of it.
        let whole = phf.jsonBytes()
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(whole.prefix(whole.count / 2))))

        XCTAssertNil(metadata.load(hashOfHashes: phf.hashOfHashes), "a torn copy is never trusted")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "and it is deleted, so that it is written again")

        try metadata.saveCopy(phf)
        XCTAssertEqual(metadata.load(hashOfHashes: phf.hashOfHashes), phf)
        try metadata.flush()
        XCTAssertEqual(try MetadataStore(root: root).load(hashOfHashes: phf.hashOfHashes), phf)
    }

    func testCopyingAPiecesHashFileAnOlderVersionKeptAsAFileMarksThatFileUsed() throws {
        let phf = phf(2)
        let path = "\(root)/\(phf.hashOfHashes.hex).phf"
        try FileSystem.makeDirectories(root)
        try FileSystem.writeFile(phf.jsonBytes(), to: path)
        var old = [timeval(tv_sec: 1_000_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000_000, tv_usec: 0)]
        XCTAssertEqual(utimes(path, &old), 0)
        let metadata = try MetadataStore(root: root)  // opened on the older version's cache
        XCTAssertEqual(metadata.lastUsed(hashOfHashes: phf.hashOfHashes)?.timeIntervalSince1970, 1_000_000_000)

        try metadata.saveCopy(phf)
        let used = try XCTUnwrap(metadata.lastUsed(hashOfHashes: phf.hashOfHashes))
        XCTAssertLessThan(abs(used.timeIntervalSinceNow), 60, "a second copy is a use of the content")
        XCTAssertEqual(metadata.load(hashOfHashes: phf.hashOfHashes), phf)
        XCTAssertEqual(metadata.storedHashes(), [phf.hashOfHashes], "listed once")
    }

    func testAPiecesHashFileSavedAsAFileInThisRunIsDatedNotCopiedWhenACatalogEmbedsItLater() throws {
        let metadata = try MetadataStore(root: root)
        let phf = phf(3)
        try metadata.save(phf)  // opened by URL first: its own file
        let path = "\(root)/\(phf.hashOfHashes.hex).phf"
        var old = [timeval(tv_sec: 1_000_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000_000, tv_usec: 0)]
        XCTAssertEqual(utimes(path, &old), 0)

        try metadata.saveCopy(phf)  // then through a catalog entry that embeds it
        let used = try XCTUnwrap(metadata.lastUsed(hashOfHashes: phf.hashOfHashes))
        XCTAssertLessThan(abs(used.timeIntervalSinceNow), 60, "the file is dated: it is what the age policy reads")
        try metadata.flush()
        XCTAssertEqual(try MetadataStore(root: root).storedHashes(), [phf.hashOfHashes], "no copy beside the file")
    }
}
