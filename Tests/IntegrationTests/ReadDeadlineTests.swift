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

/// The deadline is what the application sees, including the kernel's retries of a failed page.
final class ReaderDeadlineTests: MountTestCase {
    func testAStalledOriginGivesA4KiBDdEIOWithinTheDeadlinePlusOneSecond() throws {
        let deadline = 3
        let docroot = try scratch.directory("docroot")
        let origin = try startFaultOrigin(docroot: docroot)
        let content = TestContent.bytes(count: 8 * TestContent.MiB, seed: 311)
        let published = try publish(content, as: "stalled.bin", on: origin, mode: .stall)
        let mount = try mount(catalog: [CatalogEntry(name: "stalled.bin", published: published)], readDeadline: deadline)
        let path = mount.mountpoint + "/stalled.bin"
        _ = try stat(path).get()
        // dd as an application does it: buffered, through the page cache and the kernel's readahead.
        for (attempt, skip) in [0, 5].enumerated() {
            let (outcome, seconds) = try timed {
                try ChildProcess.run("dd", ["if=" + path, "of=/dev/null", "bs=4k", "count=1", "skip=\(skip * 256)"],
                                     logDirectory: scratch.file("logs"), timeout: 60)
            }
            print("[it] deadline: dd of 4 KiB at piece \(skip) failed after \(String(format: "%.2f", seconds)) s with --read-deadline \(deadline)")
            XCTAssertFalse(outcome.succeeded, "dd \(attempt): read from a stalled origin succeeded")
            XCTAssertTrue(outcome.stderr.contains("Input/output error"), "dd \(attempt): \(outcome.stderr)")
            XCTAssertLessThanOrEqual(seconds, Double(deadline) + 1, "dd \(attempt): EIO after \(seconds) s, deadline \(deadline) s")
            XCTAssertGreaterThan(seconds, Double(deadline) - 0.5, "dd \(attempt): gave up before the deadline")
        }
    }
}
