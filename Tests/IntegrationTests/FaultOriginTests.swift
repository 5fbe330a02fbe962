import Foundation
import XCTest

/// Verified content behind a misbehaving origin: every fault ends in EIO within the read deadline
/// (`--read-deadline 5`), and no wrong byte ever reaches the reader.
final class FaultOriginTests: MountTestCase {
    private let MiB = TestContent.MiB
    private let readDeadline = 5
    /// The read deadline plus time for dofs's last try and the kernel round trip.
    private let allowedSeconds: TimeInterval = 20

    /// Publishes a 3 MiB file with its content URL in `mode` and its PHF served correctly (`ok`),
    /// mounts it, and returns the mounted path and the content.
    private func mountFile(behind mode: FaultOrigin.Mode, seed: UInt64) throws -> (path: String, content: [UInt8]) {
        let docroot = try scratch.directory("fault-docroot")
        let content = try TestContent.write(TestContent.bytes(count: 3 * MiB + 10, seed: seed), to: docroot + "/f.bin")
        let origin = try startFaultOrigin(docroot: docroot)
        let published = try DofsCLI.publish(file: docroot + "/f.bin", url: origin.url("f.bin", mode: mode),
                                            phfOut: docroot + "/f.bin.phf", phfURL: origin.url("f.bin.phf", mode: .ok),
                                            logDirectory: scratch.file("logs"))
        let mount = try mount(catalog: [CatalogEntry(name: "f.bin", published: published)], readDeadline: readDeadline)
        return (mount.mountpoint + "/f.bin", content)
    }

    /// Reads 64 KiB inside piece 1 and asserts EIO within `allowedSeconds`, and never wrong bytes.
    private func assertReadFailsWithEIO(behind mode: FaultOrigin.Mode, seed: UInt64,
                                        file: StaticString = #filePath, line: UInt = #line) throws {
        let (path, content) = try mountFile(behind: mode, seed: seed)
        let offset = MiB + 4096
        let start = Date()
        let result = try read(path, offset: offset, length: 64 * 1024, within: 45)
        let elapsed = Date().timeIntervalSince(start)
        if case .success(let bytes) = result, bytes != content.expected(offset: offset, length: 64 * 1024) {
            XCTFail("\(mode): dofs served \(bytes.count) WRONG bytes", file: file, line: line)
        }
        assertFails(result, with: [EIO], "reading verified content from an origin in mode \(mode)", file: file, line: line)
        XCTAssertLessThan(elapsed, allowedSeconds, "\(mode): EIO took \(elapsed) s with --read-deadline \(readDeadline)",
                          file: file, line: line)
    }

    func testTruncatedBodyGivesEIOWithinTheReadDeadline() throws {
        try assertReadFailsWithEIO(behind: .truncatedBody, seed: 91)
    }

    func testWrongContentRangeGivesEIOWithinTheReadDeadline() throws {
        try assertReadFailsWithEIO(behind: .wrongContentRange, seed: 92)
    }

    func testServerErrorsGiveEIOWithinTheReadDeadline() throws {
        try assertReadFailsWithEIO(behind: .serverError, seed: 93)
    }

    func testContentChangedOnTheOriginGivesEIOInVerifiedMode() throws {
        try assertReadFailsWithEIO(behind: .contentChanged, seed: 94)
    }

    func testOriginIgnoringRangeNeverYieldsWrongBytesInVerifiedMode() throws {
        let (path, content) = try mountFile(behind: .ignoresRange, seed: 95)
        let offset = 2 * MiB + 1
        switch try read(path, offset: offset, length: 4096, within: 45) {
        case .success(let bytes):
            assertSameBytes(bytes, content.expected(offset: offset, length: 4096), "verified read from an origin that ignores Range")
        case .failure(let error):
            XCTAssertEqual(error.code, EIO, "an origin without range support may only make the read fail with EIO: \(error)")
        }
    }
}
