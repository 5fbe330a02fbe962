import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A file's modification time is the content's, not the mount's: the catalog's `mtime` when it gives
/// one, else the origin's `Last-Modified` (asked when the content opens, and kept beside a verified
/// content's PHF so it survives a remount with the origin down).
final class ModificationTimeTests: MountTestCase {
    private func modificationTime(_ path: String) throws -> Int {
        try withDeadline(30, "stat \(path)") { () -> Int in
            var st = Glibc.stat()
            return lstat(path, &st) == 0 ? st.st_mtim.tv_sec : -1
        }
    }

    private func setModificationTime(_ path: String, _ seconds: Int) throws {
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(seconds))],
                                              ofItemAtPath: path)
    }

    func testAFileShowsTheOriginsLastModifiedNotTheMountTime() throws {
        let origin = try startOrigin()
        let content = try TestContent.write(TestContent.bytes(count: TestContent.MiB + 5, seed: 4242), to: origin.path("dated.bin"))
        let dated = 1_234_567_890  // 2009-02-13T23:31:30Z, as `touch -d @1234567890` sets it
        try setModificationTime(origin.path("dated.bin"), dated)
        let catalog = [CatalogEntry(name: "dated.bin", url: origin.url("dated.bin"), integrity: nil)]
        let mount = try mount(catalog: catalog, extraArguments: ["--download-mode", "99"])

        XCTAssertEqual(try modificationTime(mount.mountpoint + "/dated.bin"), dated, "catalog entry in simple mode")
        XCTAssertEqual(try modificationTime(byURL(mount, origin.url("dated.bin"))), dated, "the same file under /by-url/")
        assertReads(try readWhole(mount.mountpoint + "/dated.bin"), content, "the content itself")
    }

    func testTheCatalogsMtimeIsTheFilesModificationTime() throws {
        let origin = try startOrigin()
        let published = try publish(TestContent.bytes(count: 2 * TestContent.MiB, seed: 4343), as: "verified.bin", on: origin)
        _ = try TestContent.write(Array("plain\n".utf8), to: origin.path("plain.txt"))
        try setModificationTime(origin.path("plain.txt"), 1_500_000_000)
        // Written by hand: `mtime` as RFC 3339 text for one entry, as seconds for the other.
        let catalog = scratch.file("dated-catalog.json")
        try """
        [{"name": "verified.bin", "url": "\(published.Url)", "mtime": "2020-01-02T03:04:05Z",
          "integrity": {"PiecesHashFileUrl": "\(published.PiecesHashFileUrl)", "HashOfHashes": "\(published.HashOfHashes)"}},
         {"name": "plain.txt", "url": "\(origin.url("plain.txt"))", "mtime": 1600000000}]
        """.write(toFile: catalog, atomically: true, encoding: .utf8)
        let mount = try mount(extraArguments: ["--catalog", catalog])

        XCTAssertEqual(try modificationTime(mount.mountpoint + "/verified.bin"), 1_577_934_245, "verified entry: the catalog's mtime")
        XCTAssertEqual(try modificationTime(mount.mountpoint + "/plain.txt"), 1_600_000_000,
                       "the catalog's mtime wins over the origin's Last-Modified")
    }

    func testAVerifiedFileShowsTheOriginsLastModifiedAlsoAfterARemountWithTheOriginDown() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 3 * TestContent.MiB, seed: 4444)
        let published = try publish(content, as: "signed-date.bin", on: origin)
        let dated = 1_400_000_000
        try setModificationTime(origin.path("signed-date.bin"), dated)
        let catalog = [CatalogEntry(name: "signed-date.bin", published: published)]
        let first = try mount(catalog: catalog)
        XCTAssertEqual(try modificationTime(first.mountpoint + "/signed-date.bin"), dated, "verified catalog entry")
        assertReads(try readWhole(first.mountpoint + "/signed-date.bin"), content, "the content")
        XCTAssertEqual(try first.unmount(), .exited(0))

        origin.stop()
        let second = try mount(catalog: catalog)
        XCTAssertEqual(try modificationTime(second.mountpoint + "/signed-date.bin"), dated, "kept with the PHF: no origin needed")
        assertReads(try readWhole(second.mountpoint + "/signed-date.bin"), content, "read from the cache, origin down")
    }
}
