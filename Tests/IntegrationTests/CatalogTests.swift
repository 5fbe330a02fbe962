import Foundation
import XCTest

/// A catalog dofs cannot use stops `dofs mount` before it mounts anything, with a message saying why.
final class CatalogTests: MountTestCase {
    /// Runs `dofs mount -f` with `catalogText` as the catalog; returns its outcome. If dofs mounts
    /// anyway, the mount is detached and the process stopped before the test fails.
    private func mountWithCatalog(_ catalogText: String) throws -> (outcome: ChildProcess.Termination?, stderr: String, mountpoint: String) {
        let catalog = scratch.file("bad-catalog.json")
        try catalogText.write(toFile: catalog, atomically: true, encoding: .utf8)
        let mountpoint = try scratch.directory("mnt-bad")
        let args = DofsMount.arguments(mountpoint: mountpoint, cacheDir: scratch.file("cache"), options: .init(catalog: catalog))
        let child = try ChildProcess(DofsCLI.binaryPath, args, stdoutPath: scratch.file("logs/bad.out"),
                                     stderrPath: scratch.file("logs/bad.err"))
        addCleanup {
            if MountTable.isMounted(mountpoint) {
                _ = try? ChildProcess.run("fusermount3", ["-u", "-z", mountpoint], logDirectory: self.scratch.file("logs"))
            }
            child.stop(grace: 2)
        }
        let ended = child.wait(timeout: 20)
        let mountedMeanwhile = MountTable.isMounted(mountpoint)
        XCTAssertFalse(mountedMeanwhile, "dofs mounted \(mountpoint) despite a malformed catalog")
        return (ended, child.standardError, mountpoint)
    }

    private func assertRefused(_ catalogText: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (ended, stderr, mountpoint) = try mountWithCatalog(catalogText)
        guard let ended else {
            return XCTFail("\(what): dofs mount was still running after 20 s instead of failing", file: file, line: line)
        }
        XCTAssertNotEqual(ended, .exited(0), "\(what): dofs mount must exit non-zero", file: file, line: line)
        XCTAssertFalse(stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                       "\(what): dofs mount must say why on stderr", file: file, line: line)
        XCTAssertTrue(stderr.lowercased().contains("catalog"), "\(what): the message should name the catalog: \(stderr)",
                      file: file, line: line)
        XCTAssertFalse(MountTable.isMounted(mountpoint), "\(what): nothing may stay mounted", file: file, line: line)
    }

    func testCatalogThatIsNotJSONMakesMountFailWithAMessage() throws {
        try assertRefused(#"[{"name": "a.bin", "url": "http://127.0.0.1:9/a.bin""#, "truncated JSON")
    }

    func testCatalogThatIsNotAnArrayMakesMountFailWithAMessage() throws {
        try assertRefused(#"{"name": "a.bin", "url": "http://127.0.0.1:9/a.bin"}"#, "an object instead of an array")
    }

    func testCatalogEntryWithoutURLMakesMountFailWithAMessage() throws {
        try assertRefused(#"[{"name": "a.bin"}]"#, "an entry without url")
    }

    func testCatalogEntryWithABadHashOfHashesMakesMountFailWithAMessage() throws {
        let text = #"[{"name": "a.bin", "url": "http://127.0.0.1:9/a.bin", "integrity": {"PiecesHashFileUrl": "http://127.0.0.1:9/a.bin.phf", "HashOfHashes": "not base64!"}}]"#
        try assertRefused(text, "HashOfHashes that is not base64 of 32 bytes")
    }

    func testCatalogErrorsNameTheFileTheEntryAndTheField() throws {
        let good = #"{"name": "a.bin", "url": "http://127.0.0.1:9/a.bin"}"#
        let missing = #"{"name": "images/big.iso", "url": "http://127.0.0.1:9/big.iso", "integrity": {"PiecesHashFileUrl": "http://127.0.0.1:9/big.iso.phf"}}"#
        let (_, stderr, _) = try mountWithCatalog("[\(good), \(good.replacingOccurrences(of: "a.bin", with: "b.bin")), \(good.replacingOccurrences(of: "a.bin", with: "c.bin")), \(missing)]")
        let catalog = scratch.file("bad-catalog.json")
        XCTAssertTrue(stderr.contains(#"catalog \#(catalog): entry 3 ("images/big.iso"): field "integrity.HashOfHashes": missing"#), stderr)
        XCTAssertFalse(stderr.contains("keyNotFound") || stderr.contains("CodingKeys"), "no decoder internals: \(stderr)")

        let (_, wrongType, _) = try mountWithCatalog(#"[{"name": "x.bin", "url": 42}]"#)
        XCTAssertTrue(wrongType.contains(#"entry 0 ("x.bin"): field "url": must be a string"#), wrongType)
        let (_, badTime, _) = try mountWithCatalog(#"[{"name": "x.bin", "url": "http://127.0.0.1:9/x", "mtime": "last tuesday"}]"#)
        XCTAssertTrue(badTime.contains(#"entry 0 ("x.bin"): field "mtime""#), badTime)
    }
}
