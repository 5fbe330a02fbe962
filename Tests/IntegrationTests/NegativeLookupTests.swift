import Foundation
import XCTest

/// Failed `/by-url/` lookups are remembered briefly and then forgotten; they never pile up in the tree.
final class NegativeLookupTests: MountTestCase {
    func testFailedLookupsAreNotListedAndAreAnsweredFromTheNegativeCacheUntilTheyExpire() throws {
        let docroot = try scratch.directory("docroot")
        let origin = try startFaultOrigin(docroot: docroot)
        try TestContent.write(TestContent.bytes(count: 100_000, seed: 341), to: docroot + "/f.bin")
        let mount = try mount(extraArguments: ["--download-mode", "99"])

        let failing = (0..<200).map { origin.url("f.bin", mode: .serverError) + "?n=\($0)" }
        for url in failing { assertFails(try stat(mount.byURL(url)), with: [EIO], "a URL answering 500") }
        let good = origin.url("f.bin", mode: .ok)
        _ = try stat(mount.byURL(good)).get()
        let listed = try list(mount.mountpoint + "/by-url").get()
        XCTAssertEqual(listed.count, 1, "only the URL that opened is listed, not the 200 that failed: \(listed.prefix(3))")

        // Asked again at once: answered from the negative cache, no request to the origin.
        let requestsBefore = origin.entries().count
        assertFails(try stat(mount.byURL(failing[0])), with: [EIO], "the same failing URL again")
        XCTAssertEqual(origin.entries().count, requestsBefore, "a recent failure was asked about again")

        // After the negative answer expires (10 s), the origin is asked again.
        Thread.sleep(forTimeInterval: 10.5)
        assertFails(try stat(mount.byURL(failing[0])), with: [EIO], "the same failing URL after 10 s")
        XCTAssertGreaterThan(origin.entries().count, requestsBefore, "the negative answer never expired")
    }
}
