import Foundation
import XCTest

/// No URL, however hostile its server, can freeze a mount: sizes the piece math cannot hold are refused
/// at lookup, every xattr answers at once, and reads of other files go on meanwhile.
final class HostileURLTests: MountTestCase {
    private let MiB = TestContent.MiB

    /// A mount with one verified file read whole (so it is cached), and a fault origin.
    private func mountWithCachedFile() throws -> (DofsMount, FaultOrigin, path: String, content: [UInt8]) {
        let docroot = try scratch.directory("docroot")
        let origin = try startFaultOrigin(docroot: docroot)
        let content = TestContent.bytes(count: 3 * MiB, seed: 301)
        let published = try publish(content, as: "cached.bin", on: origin, mode: .ok)
        let mount = try mount(catalog: [CatalogEntry(name: "cached.bin", published: published)], readDeadline: 10)
        let path = mount.mountpoint + "/cached.bin"
        assertReads(try readWhole(path, within: 30), content, "cached.bin, first read")
        return (mount, origin, path, content)
    }

    func testAURLClaimingAnAbsurdLengthIsRefusedAtLookupWithEIOAndALogLine() throws {
        let (mount, origin, path, content) = try mountWithCachedFile()
        for claimed in ["1000000000000000000", "9223372036854775808"] {
            let hostile = mount.byURL(origin.claimingURL(length: claimed))
            let (result, seconds) = try timed { try stat(hostile, within: 10) }
            assertFails(result, with: [EIO], "stat of a URL whose server claims \(claimed) bytes")
            XCTAssertLessThan(seconds, 2, "the refusal took \(seconds) s")
            assertFails(try xattr(hostile, "user.dofs.pieces", within: 2), with: [EIO], "getfattr on the refused URL")
            XCTAssertTrue(mount.log.contains("claims a length of \(claimed) bytes, beyond what dofs supports"),
                          "the log says why \(claimed) was refused; log:\n\(mount.logTail(20))")
        }
        XCTAssertFalse(mount.log.contains("no Content-Length"), "2^63 is too large, not missing")
        assertReads(try read(path, offset: 0, length: MiB, within: 2), Array(content[0..<MiB]), "a cached file right after")
    }

    func testPiecesXattrOfAHugeContentAnswersAtOnceWhileCachedReadsGoOn() throws {
        let (mount, origin, path, content) = try mountWithCachedFile()
        // 2^31 pieces of 1 MiB: the largest content allowed. Counting its pieces took minutes under the
        // piece store's lock, and blocked every read of the mount.
        let largest = String(1 << 51)
        let huge = mount.byURL(origin.claimingURL(length: largest))
        let (size, statSeconds) = try timed { try stat(huge, within: 10) }
        XCTAssertEqual(try size.get().size, 1 << 51)
        XCTAssertLessThan(statSeconds, 2)
        let reader = DispatchQueue(label: "cached reader")
        let cachedRead = ResultBox<(Result<[UInt8], PosixError>, TimeInterval)>()
        let readDone = DispatchSemaphore(value: 0)
        let MiB = self.MiB
        for _ in 0..<3 {
            reader.async {
                let start = Date()
                let r = FileIO.read(path, offset: MiB, length: MiB)
                cachedRead.set((r, Date().timeIntervalSince(start)))
                readDone.signal()
            }
            let (pieces, seconds) = try timed { try xattr(huge, "user.dofs.pieces", within: 2) }
            XCTAssertEqual(try pieces.get(), "0/\(1 << 31)")
            XCTAssertLessThan(seconds, 2)
            XCTAssertEqual(readDone.wait(timeout: .now() + 2), .success, "a cached read blocked behind the xattr")
            if let (r, s) = cachedRead.value {
                assertReads(r, content.expected(offset: MiB, length: MiB), "cached read during the xattr")
                XCTAssertLessThan(s, 2)
            }
        }
        // The huge file reads like any other (zeros from this origin), piece by piece.
        assertReads(try read(huge, offset: (1 << 51) - 4096, length: 4096, within: 10), [UInt8](repeating: 0, count: 4096),
                    "the last 4 KiB of the 2 PiB file")
        XCTAssertEqual(try xattr(huge, "user.dofs.pieces", within: 2).get(), "1/\(1 << 31)")
    }

    func testAVerifiedFileWhoseContentURLIsGoneReadsENOENT() throws {
        let docroot = try scratch.directory("docroot")
        let origin = try startFaultOrigin(docroot: docroot)
        let content = TestContent.bytes(count: 2 * MiB, seed: 302)
        let published = try publish(content, as: "gone.bin", on: origin, mode: .ok)
        try FileManager.default.removeItem(atPath: docroot + "/gone.bin")
        let mount = try mount(catalog: [CatalogEntry(name: "gone.bin", published: published)], readDeadline: 10)
        let path = mount.mountpoint + "/gone.bin"
        let (result, seconds) = try timed { try read(path, offset: 0, length: 4096, within: 20) }
        assertFails(result, with: [ENOENT], "reading a verified file whose content URL answers 404")
        XCTAssertLessThan(seconds, 5, "a 404 is permanent: no retries")
    }

    func testCredentialsInAURLNeverReachTheLogOrTheURLAttribute() throws {
        let docroot = try scratch.directory("docroot")
        let origin = try startFaultOrigin(docroot: docroot)
        let content = try TestContent.write(TestContent.bytes(count: 300_000, seed: 303), to: docroot + "/secret.bin")
        let mount = try mount(readDeadline: 10, extraArguments: ["--download-mode", "99"])
        let good = "http://alice:s3cret@127.0.0.1:\(origin.port)/ok/secret.bin"
        let path = mount.byURL(good)
        assertReads(try readWhole(path, within: 20), content, "content behind a URL with credentials")
        XCTAssertEqual(try xattr(path, "user.dofs.url").get(), "http://***@127.0.0.1:\(origin.port)/ok/secret.bin")
        // A failing one too, so that error lines are written.
        _ = try stat(mount.byURL("http://alice:s3cret@127.0.0.1:\(origin.port)/error500/secret.bin"))
        XCTAssertTrue(mount.log.contains("***@127.0.0.1"), "the failing URL is still named, redacted:\n\(mount.logTail(10))")
        XCTAssertFalse(mount.log.contains("s3cret"), "a password reached the log:\n\(mount.logTail(20))")
    }
}

extension HostileURLTests {
    func testARedirectToAFileURLIsRefusedAndTheLogNamesTheRedirectTarget() throws {
        let docroot = try scratch.directory("docroot")
        let origin = try startFaultOrigin(docroot: docroot)
        let mount = try mount(readDeadline: 10, extraArguments: ["--download-mode", "99"])
        let path = mount.byURL(origin.redirectingURL(to: "file:///etc/passwd"))
        let result = try stat(path, within: 10)
        if case .success = result { XCTFail("a redirect to file:// was followed") }
        XCTAssertTrue(mount.log.contains("redirected to file:///etc/passwd"), "the log names the redirect target:\n\(mount.logTail(10))")
    }
}
