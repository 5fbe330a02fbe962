import DOCore
@testable import DOEngine
import XCTest

/// One owner per cache folder, and what a crash can leave behind is removed at the next start.
final class CacheOwnershipTests: XCTestCase {
    private var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "dofs-lock-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testASecondOwnerIsRefusedWithTheHoldersPIDAndTheLockIsFreeOnceReleased() throws {
        var first: CacheLock? = try CacheLock(folder: folder)
        XCTAssertNotNil(first)
        XCTAssertThrowsError(try CacheLock(folder: folder)) { error in
            guard case CacheLock.Failure.held(_, let pid)? = error as? CacheLock.Failure else {
                return XCTFail("expected .held, got \(error)")
            }
            XCTAssertEqual(pid, getpid(), "the refusal names the holder's PID")
            XCTAssertTrue("\(error)".contains("process \(getpid())"), "\(error)")
        }
        first = nil
        XCTAssertNoThrow(try CacheLock(folder: folder), "closing the holder's descriptor releases the lock")
    }

    func testAnEngineOwnsItsCacheFolder() throws {
        let engine = try Engine(cacheDir: folder)
        XCTAssertThrowsError(try Engine(cacheDir: folder), "a second engine on the same cache folder must be refused")
        withExtendedLifetime(engine) {}
    }

    func testTemporaryMetadataFilesOfAnInterruptedSaveAreRemovedAtStart() throws {
        let root = folder + "/metadata"
        try FileManager.default.createDirectory(atPath: root + "/records", withIntermediateDirectories: true)
        // What a SIGKILL between write and rename leaves (FileSystem.replaceDurably's names).
        FileManager.default.createFile(atPath: root + "/\(String(repeating: "ab", count: 32)).phf.tmp-\(UUID().uuidString)", contents: Data([1]))
        FileManager.default.createFile(atPath: root + "/records/url-x.json.tmp-\(UUID().uuidString)", contents: Data([2]))
        FileManager.default.createFile(atPath: root + "/records/url-y.json", contents: Data([3]))
        let store = try MetadataStore(root: root)
        XCTAssertEqual(store.removedLeftovers, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.contains(".tmp-") }, [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/records"), ["url-y.json"],
                       "only temporary files go; finished records stay")
    }
}
