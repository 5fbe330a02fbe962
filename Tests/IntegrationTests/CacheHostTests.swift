import Foundation
import XCTest

/// Mounts reading through cache hosts (do-protocol.md section 5): the origin sends a content once for
/// all mounts behind one cache node, a dead cache host falls back to the CDN at once and is banned only
/// for as long as configured, and a cache host that sends wrong bytes is caught by verification,
/// charged, and banned at its third bad piece while the reader gets exactly the right bytes.
final class CacheHostTests: MountTestCase {
    private let MiB = TestContent.MiB

    /// Mount arguments that send every piece through `cacheHost` (no peers, no control plane). Mode 99
    /// keeps catalog entries verified, so every byte a cache host sends is checked.
    private func throughCache(_ cacheHost: String, banSeconds: Int = 900) -> [String] {
        ["--download-mode", "99", "--cache-host", cacheHost, "--cache-host-ban-seconds", String(banSeconds)]
    }

    private func logText(_ mount: DofsMount) -> String {
        (try? String(contentsOfFile: mount.logPath, encoding: .utf8)) ?? ""
    }

    func testTwoMountsBehindOneCacheNodeCostTheOriginOneCopy() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 6 * MiB + 123, seed: 501)
        let published = try publish(content, as: "c.bin", on: origin)
        let node = try CacheNode(scratch: scratch, allowOrigins: ["127.0.0.1:\(origin.port)"])
        addCleanup { node.stop() }
        let catalog = [CatalogEntry(name: "c.bin", published: published)]

        for n in 1...2 {
            let mount = try mount(cacheDir: scratch.file("cache-\(n)"), catalog: catalog,
                                  extraArguments: throughCache("127.0.0.1:\(node.port)"))
            let path = mount.mountpoint + "/c.bin"
            assertReads(try readWhole(path), content, "c.bin on mount \(n)")
            let sources = DofsMount.sources(path) ?? [:]
            XCTAssertEqual(sources["cache"], content.count, "mount \(n) reads every byte through the cache host: \(sources)")
            XCTAssertEqual(sources["cdn"] ?? 0, 0, "mount \(n) needs no direct CDN fetch: \(sources)")
        }
        let originBytes = origin.requests(matching: "/c.bin").reduce(0) { $0 + $1.bodyBytes }
        XCTAssertEqual(originBytes, content.count, "the origin sends the content once for both mounts")
        XCTAssertTrue(node.entries().contains { $0.cacheStatus == "HIT" }, "the second mount is served from the cache")
    }

    func testDeadCacheHostFallsBackToTheCDNAtOnceAndItsBanExpires() throws {
        let origin = try startOrigin()
        let first = TestContent.bytes(count: 24 * MiB, seed: 502)
        let second = TestContent.bytes(count: 3 * MiB, seed: 503)
        let publishedFirst = try publish(first, as: "d1.bin", on: origin)
        let publishedSecond = try publish(second, as: "d2.bin", on: origin)
        // A stand-in cache host: an nginx that serves the same files (it ignores cacheHostOrigin).
        let cache = try startOrigin(name: "fake-cache")
        try TestContent.write(first, to: cache.path("d1.bin"))
        try TestContent.write(second, to: cache.path("d2.bin"))
        let catalog = [CatalogEntry(name: "d1.bin", published: publishedFirst),
                       CatalogEntry(name: "d2.bin", published: publishedSecond)]
        let mount = try mount(catalog: catalog, readDeadline: 30, extraArguments: throughCache("127.0.0.1:\(cache.port)", banSeconds: 3))

        // The first piece comes through the cache host; then it dies in the middle of the file.
        assertReads(try read(mount.mountpoint + "/d1.bin", offset: 0, length: MiB), Array(first[0..<MiB]), "d1.bin's first piece")
        cache.stop()
        let started = Date()
        assertReads(try readWhole(mount.mountpoint + "/d1.bin", within: 20), first, "d1.bin with the cache host down")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "a dead cache host must not hold the reader")
        let sources = DofsMount.sources(mount.mountpoint + "/d1.bin") ?? [:]
        XCTAssertGreaterThanOrEqual(sources["cache"] ?? 0, MiB, "the first piece came through the cache host: \(sources)")
        XCTAssertGreaterThan(sources["cdn"] ?? 0, 0, "the rest came from the CDN: \(sources)")
        XCTAssertEqual((sources["cache"] ?? 0) + (sources["cdn"] ?? 0), first.count, "every byte once: \(sources)")
        XCTAssertTrue(logText(mount).contains("cache host 127.0.0.1:\(cache.port) banned for 3 s"), "the ban is logged")

        try cache.restart(locations: [])
        Thread.sleep(forTimeInterval: 3.5)  // the configured ban ends
        assertReads(try readWhole(mount.mountpoint + "/d2.bin"), second, "d2.bin after the ban")
        XCTAssertEqual(DofsMount.sources(mount.mountpoint + "/d2.bin")?["cache"], second.count,
                       "the cache host is used again once its ban has expired")
    }

    func testCacheHostSendingWrongBytesIsChargedBannedAndNeverServed() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 8 * MiB, seed: 504)
        let published = try publish(content, as: "w.bin", on: origin)
        // A lying cache host: every piece it serves has one byte changed.
        let liar = try startOrigin(name: "lying-cache")
        var tampered = content
        for piece in 0..<8 { tampered[piece * MiB + 77] ^= 0xFF }
        try TestContent.write(tampered, to: liar.path("w.bin"))
        let mount = try mount(catalog: [CatalogEntry(name: "w.bin", published: published)],
                              extraArguments: throughCache("127.0.0.1:\(liar.port)"))

        assertReads(try readWhole(mount.mountpoint + "/w.bin"), content, "w.bin with a lying cache host")
        let log = logText(mount)
        let charged = log.components(separatedBy: "from cache host 127.0.0.1:\(liar.port) failed SHA-256 verification").count - 1
        // Pieces are fetched in parallel, so a few more than three may be in flight when the ban falls.
        XCTAssertGreaterThanOrEqual(charged, 3, "the third bad piece bans the host:\n\(log.suffix(3000))")
        XCTAssertTrue(log.contains("cache host 127.0.0.1:\(liar.port) banned for origin 127.0.0.1:\(origin.port)"), "the ban is logged")
        XCTAssertEqual(liar.requests(matching: "/w.bin").count, charged,
                       "every answer of the lying cache was caught, and nothing is asked of it after its ban")
        let sources = DofsMount.sources(mount.mountpoint + "/w.bin") ?? [:]
        XCTAssertEqual(sources["cdn"], content.count, "every good byte came from the CDN: \(sources)")
        XCTAssertEqual(sources["cache"] ?? 0, 0, "no byte from the lying cache is counted as served: \(sources)")
    }

    func testFallbackDelayKeepsRetryingTheCacheHostBeforeTheCDN() throws {
        let origin = try startOrigin()
        // The cache host is a fault origin answering 500 to everything under /error500/ (no ban: a 5xx
        // is not a reason to ban in DO's rules), so only the fallback delay decides when the CDN is asked.
        try FileManager.default.createDirectory(atPath: origin.path("error500"), withIntermediateDirectories: true)
        let content = TestContent.bytes(count: MiB / 2, seed: 505)
        let published = try publish(content, as: "error500/f.bin", on: origin)
        let docroot = scratch.file("cache-docroot")
        try FileManager.default.createDirectory(atPath: docroot, withIntermediateDirectories: true)
        try TestContent.write(content, to: docroot + "/f.bin")  // so that the mode, not a 404, answers
        let cache = try startFaultOrigin(docroot: docroot)
        let catalog = [CatalogEntry(name: "f.bin", published: published)]

        var asked: [Int] = []
        var took: [TimeInterval] = []
        for (n, delay) in [(1, "0"), (2, "2")] {
            let before = cache.entries().filter { $0.uri == "/error500/f.bin" }.count
            let mount = try mount(cacheDir: scratch.file("cache-\(n)"), catalog: catalog,
                                  extraArguments: throughCache("127.0.0.1:\(cache.port)") + ["--cache-fallback-delay", delay])
            let started = Date()
            assertReads(try readWhole(mount.mountpoint + "/f.bin", within: 20), content, "f.bin with fallback delay \(delay)")
            took.append(Date().timeIntervalSince(started))
            asked.append(cache.entries().filter { $0.uri == "/error500/f.bin" }.count - before)
            XCTAssertEqual(DofsMount.sources(mount.mountpoint + "/f.bin")?["cdn"], content.count, "the bytes come from the CDN")
        }
        XCTAssertEqual(asked[0], 1, "without a delay the CDN is asked after the first cache failure")
        XCTAssertLessThan(took[0], 1.5, "without a delay there is no waiting")
        XCTAssertGreaterThanOrEqual(asked[1], 3, "with a 2 s delay the cache host is retried: \(asked)")
        XCTAssertGreaterThanOrEqual(took[1], 1.5, "with a 2 s delay the CDN is asked only near its end: \(took)")
    }
}
