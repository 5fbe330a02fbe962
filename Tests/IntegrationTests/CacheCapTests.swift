import Foundation
import XCTest

/// `--cache-max-size` holds on disk while a file streams through, a smaller cap applies as soon as a
/// mount starts, and a full disk costs the cache, not the reads, nor the log.
final class CacheCapTests: MountTestCase {
    private let MiB = TestContent.MiB

    func testTheCapHoldsOnDiskDuringAReadAndASmallerCapAppliesAtMount() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 48 * MiB, seed: 331)
        let published = try publish(content, as: "big.bin", on: origin)
        let catalog = [CatalogEntry(name: "big.bin", published: published)]
        let cap = 8 * MiB
        let readahead = 4
        let cache = scratch.file("cache")
        let first = try mount(cacheDir: cache, catalog: catalog,
                              extraArguments: ["--cache-max-size", String(cap), "--readahead-pieces", String(readahead)])

        // Sample the bytes on disk while the whole file streams through.
        let worst = SharedCounter()
        let done = SharedFlag()
        let sampler = Thread {
            while !done.value {
                let now = CacheFolder.pieceBytes(cache)
                if now > worst.value { worst.add(now - worst.value) }
                usleep(2_000)
            }
        }
        sampler.start()
        let got = try readWhole(first.mountpoint + "/big.bin", within: 120)
        done.set()
        Thread.sleep(forTimeInterval: 0.05)
        assertReads(got, content, "big.bin through a cache capped at 8 MiB")
        // In flight: the readahead window, the piece being read, and the pieces of one kernel request.
        let allowed = cap + (readahead + 2) * MiB
        print("[it] cap: at most \(worst.value) bytes on disk with a cap of \(cap) (allowed \(allowed))")
        XCTAssertGreaterThan(worst.value, 0, "the sampler saw nothing")
        XCTAssertLessThanOrEqual(worst.value, allowed, "the cache overshot its cap")
        try first.unmount()
        XCTAssertLessThanOrEqual(CacheFolder.pieceBytes(cache), cap)

        let smaller = 2 * MiB
        let second = try mount(cacheDir: cache, catalog: catalog, extraArguments: ["--cache-max-size", String(smaller)])
        XCTAssertLessThanOrEqual(CacheFolder.pieceBytes(cache), smaller, "a remount with a smaller cap evicts at once")
        try second.unmount()
    }

    func testAFullDiskServesEveryByteAndLogsItOnceThenCounts() throws {
        let disk = scratch.file("small-disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mounted = try ChildProcess.run("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", disk], logDirectory: scratch.file("logs"))
        guard mounted.succeeded else { throw XCTSkip("cannot mount a tmpfs: \(mounted.stderr)") }
        addCleanup { _ = try? ChildProcess.run("umount", ["-l", disk], logDirectory: NSTemporaryDirectory()) }

        let origin = try startOrigin()
        let content = TestContent.bytes(count: 40 * MiB, seed: 332)
        let published = try publish(content, as: "full.bin", on: origin)
        let mount = try mount(cacheDir: disk + "/cache", catalog: [CatalogEntry(name: "full.bin", published: published)],
                              extraArguments: ["--download-mode", "99"])
        assertReads(try readWhole(mount.mountpoint + "/full.bin", within: 120), content, "full.bin with the cache on a full disk")
        let storeErrors = mount.log.split(separator: "\n").filter { $0.contains("cannot store a piece") }
        print("[it] full disk: \(storeErrors.count) 'cannot store' log line(s) for a 40 MiB read")
        XCTAssertGreaterThan(storeErrors.count, 0, "the disk never filled; the test proved nothing")
        XCTAssertLessThanOrEqual(storeErrors.count, 3, "one line, then a count every 10 s:\n\(storeErrors.prefix(5).joined(separator: "\n"))")
    }
}

/// A flag set once by one thread and read by another.
final class SharedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
    func set() { lock.lock(); flag = true; lock.unlock() }
}
