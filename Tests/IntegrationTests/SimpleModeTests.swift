import Foundation
import XCTest

/// Simple mode: any http(s) URL under /by-url/, and catalog entries without integrity metadata. The origin
/// is trusted, but dofs must still never assemble wrong bytes from a misbehaving server.
final class SimpleModeTests: MountTestCase {
    private let MiB = TestContent.MiB

    func testByURLServesAnOriginFileUnverifiedWithItsExactSize() throws {
        let origin = try startOrigin()
        let content = try TestContent.write(TestContent.bytes(count: 3 * MiB + 17, seed: 81), to: origin.path("plain.bin"))
        let mount = try mount()
        let path = byURL(mount, origin.url("plain.bin"))

        XCTAssertEqual(try stat(path).get().size, content.count, "size from the server")
        assertReads(try readWhole(path), content, "plain.bin through /by-url/")
        assertReads(try read(path, offset: 2 * MiB - 3, length: 10), content.expected(offset: 2 * MiB - 3, length: 10),
                    "a read across a piece boundary")
        XCTAssertEqual(try xattr(path, "user.dofs.mode").get(), "simple")
    }

    func testCatalogEntryWithoutIntegrityIsServedInSimpleMode() throws {
        let origin = try startOrigin()
        let content = try TestContent.write(TestContent.bytes(count: MiB + 3, seed: 82), to: origin.path("loose.bin"))
        let mount = try mount(catalog: [CatalogEntry(name: "loose.bin", url: origin.url("loose.bin"), integrity: nil)])
        let path = mount.mountpoint + "/loose.bin"

        XCTAssertEqual(try stat(path).get().size, content.count)
        assertReads(try readWhole(path), content, "loose.bin")
        XCTAssertEqual(try xattr(path, "user.dofs.mode").get(), "simple")
    }

    func testByURLWithANonHTTPSchemeDoesNotExist() throws {
        let mount = try mount()
        assertFails(try stat(byURL(mount, "ftp://127.0.0.1/some/file.bin")), with: [ENOENT], "stat of an ftp:// URL")
        assertFails(try readWhole(byURL(mount, "file:///etc/hostname")), with: [ENOENT], "open of a file:// URL")
    }

    func testByURLOfAMissingFileFails() throws {
        let origin = try startOrigin()
        let mount = try mount(readDeadline: 10)
        let result = try readWhole(byURL(mount, origin.url("missing.bin")), within: 30)
        assertFails(result, with: [ENOENT, EIO], "reading a URL that answers 404")
    }

    func testByURLOnAServerWithoutRangeSupportFailsInsteadOfServingData() throws {
        let origin = try startOrigin(locations: [.noRanges("/norange/")])
        try TestContent.write(TestContent.bytes(count: 2 * MiB, seed: 83), to: origin.path("whole.bin"))
        let mount = try mount(readDeadline: 10)
        let path = byURL(mount, origin.url("whole.bin", via: "/norange/"))
        assertFails(try read(path, offset: MiB, length: 4096, within: 30), with: [ENOENT, EIO],
                    "reading from an origin with max_ranges 0")
    }

    func testByURLOnAServerThatIgnoresRangeFailsInsteadOfServingData() throws {
        let docroot = try scratch.directory("fault-docroot")
        try TestContent.write(TestContent.bytes(count: 2 * MiB, seed: 84), to: docroot + "/whole.bin")
        let origin = try startFaultOrigin(docroot: docroot)
        let mount = try mount(readDeadline: 10)
        let path = byURL(mount, origin.url("whole.bin", mode: .ignoresRange))
        assertFails(try read(path, offset: MiB, length: 4096, within: 30), with: [ENOENT, EIO],
                    "reading from an origin that answers 200 to range requests")
    }

    func testSimpleModeNeverReturnsWrongBytesFromATruncatedBodyOrAMislabelledRange() throws {
        let docroot = try scratch.directory("fault-docroot")
        let content = try TestContent.write(TestContent.bytes(count: 3 * MiB, seed: 85), to: docroot + "/f.bin")
        let origin = try startFaultOrigin(docroot: docroot)
        let mount = try mount(readDeadline: 5)
        for mode in [FaultOrigin.Mode.truncatedBody, .wrongContentRange] {
            let path = byURL(mount, origin.url("f.bin", mode: mode))
            let start = Date()
            // Correct bytes (e.g. by resuming or honouring the label) or an error are both fine; wrong bytes never.
            switch try read(path, offset: MiB + 100, length: 64 * 1024, within: 30) {
            case .success(let bytes):
                assertSameBytes(bytes, content.expected(offset: MiB + 100, length: 64 * 1024), "simple-mode read from an origin in mode \(mode)")
            case .failure(let error):
                XCTAssertTrue([EIO, ENOENT].contains(error.code), "\(mode): expected EIO or ENOENT, got \(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 20, "\(mode): the failure must come within the read deadline")
        }
    }
}
