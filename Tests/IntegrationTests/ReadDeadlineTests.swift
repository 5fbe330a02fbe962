import Foundation
import XCTest

/// `--read-deadline`: a read that cannot be served in time fails with EIO instead of hanging, and the
/// mount stays usable.
final class ReadDeadlineTests: MountTestCase {
    func testReadFromAnOriginTooSlowForTheDeadlineFailsWithEIOAndTheMountStaysUsable() throws {
        let MiB = TestContent.MiB
        let origin = try startOrigin(locations: [.slow("/crawl/", rate: "1k")])
        let slow = TestContent.bytes(count: 2 * MiB, seed: 101)
        let fast = TestContent.bytes(count: 100_000, seed: 102)
        let catalog = [
            CatalogEntry(name: "slow.bin", published: try publish(slow, as: "slow.bin", on: origin, via: "/crawl/")),
            CatalogEntry(name: "fast.bin", published: try publish(fast, as: "fast.bin", on: origin)),
        ]
        let mount = try mount(catalog: catalog, readDeadline: 3)

        let start = Date()
        let result = try read(mount.mountpoint + "/slow.bin", offset: 0, length: 4096, within: 40)
        let elapsed = Date().timeIntervalSince(start)
        assertFails(result, with: [EIO], "reading through a 1 KB/s origin with --read-deadline 3")
        XCTAssertLessThan(elapsed, 15, "EIO came after \(elapsed) s with --read-deadline 3")
        XCTAssertGreaterThan(elapsed, 1.5, "EIO after \(elapsed) s: the read gave up long before its deadline")

        assertReads(try readWhole(mount.mountpoint + "/fast.bin", within: 20), fast, "another file on the same mount afterwards")
    }
}
