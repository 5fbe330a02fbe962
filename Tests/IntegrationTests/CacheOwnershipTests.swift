import Foundation
import XCTest

/// One owner per cache folder: a second mount is refused naming the owner, `dofs verify` refuses a
/// live cache and touches nothing in it, and works on the same folder once it is free.
final class CacheOwnershipTests: MountTestCase {
    func testASecondMountOnTheSameCacheFolderExitsNonZeroNamingTheOwnersPID() throws {
        let first = try mount()
        let cache = first.cacheDir
        let second = scratch.file("mnt-second")
        try FileManager.default.createDirectory(atPath: second, withIntermediateDirectories: true)
        for foreground in [true, false] {
            let outcome = try dofs(["mount", second, "--cache-dir", cache, "--download-mode", "99"] + (foreground ? ["-f"] : []), timeout: 30)
            XCTAssertFalse(outcome.succeeded, "a second dofs mount on \(cache) started (foreground: \(foreground))")
            XCTAssertTrue(outcome.stderr.contains("in use by process \(first.process.pid)"),
                          "the refusal names the owner's PID \(first.process.pid): \(outcome.stderr)")
            XCTAssertFalse(MountTable.isMounted(second))
        }
        XCTAssertTrue(first.isMounted, "the owner is untouched")
    }

    func testVerifyRefusesALiveCacheAndLeavesItsStagedPiecesAlone() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 3 * TestContent.MiB, seed: 321)
        let published = try publish(content, as: "v.bin", on: origin)
        let live = try mount(catalog: [CatalogEntry(name: "v.bin", published: published)])
        assertReads(try readWhole(live.mountpoint + "/v.bin"), content, "v.bin")
        // Stands for a piece the mount has staged and not yet committed.
        let staged = live.cacheDir + "/pieces/tmp/staged-by-the-mount"
        XCTAssertTrue(FileManager.default.createFile(atPath: staged, contents: Data([1, 2, 3])))

        let refused = try dofs(["verify", "--cache-dir", live.cacheDir])
        XCTAssertEqual(refused.termination, .exited(2), "verify on a live cache: \(refused.stderr)")
        XCTAssertTrue(refused.stderr.contains("in use by process \(live.process.pid)"), refused.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: staged), "verify deleted a staged piece of the live mount")

        try live.unmount()
        let checked = try dofs(["verify", "--cache-dir", live.cacheDir])
        XCTAssertTrue(checked.succeeded, "verify once the mount is gone: \(checked.termination) \(checked.stderr)")
        XCTAssertTrue(checked.stdout.contains("checked 3 verified piece(s), removed 0 damaged"), checked.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: staged), "with no owner, leftovers are cleaned")
    }
}
