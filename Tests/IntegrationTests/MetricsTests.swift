import Foundation
import XCTest

/// `--metrics-listen`: a real node (started by `dofs mount` on a socket in the scratch folder) serving
/// Prometheus text on `GET /metrics`, scraped with curl and parsed line by line.
final class MetricsTests: MountTestCase {
    private let MiB = TestContent.MiB
    private var logs: String { scratch.file("logs") }
    private var socket: String { scratch.file("node.sock") }

    /// Starts a node with one mount of `catalog` and returns the mount point; `nil` when `dofs mount` failed
    /// (its outcome in `outcome`).
    private func startNode(catalog: [CatalogEntry], extra: [String] = [],
                           outcome: inout ChildProcess.Outcome?) throws -> String {
        let mountpoint = try scratch.directory("mnt")
        let logs = self.logs
        addCleanup {
            if MountTable.isMounted(mountpoint) {
                _ = try? ChildProcess.run("fusermount3", ["-u", mountpoint], logDirectory: logs)
                _ = try? ChildProcess.run("fusermount3", ["-uz", mountpoint], logDirectory: logs)
            }
        }
        outcome = try dofs(["mount", mountpoint, "--socket", socket, "--cache-dir", scratch.file("cache"),
                            "--catalog", try writeCatalog(catalog), "--control-plane-data", scratch.file("registry"),
                            "--peer-listen", "127.0.0.1:0", "--trusted-keys-dir", scratch.file("no-keys"),
                            "--log-file", scratch.file("logs/node.log")] + extra)
        return mountpoint
    }

    private func startNode(catalog: [CatalogEntry], extra: [String] = []) throws -> String {
        var outcome: ChildProcess.Outcome?
        let mountpoint = try startNode(catalog: catalog, extra: extra, outcome: &outcome)
        XCTAssertTrue(outcome?.succeeded ?? false, "dofs mount: \(outcome?.stderr ?? "")")
        return mountpoint
    }

    private func scrape(port: Int) throws -> MetricsScrape { try MetricsScrape.get(port: port, logDirectory: logs) }

    /// The node's pid, from `dofs status --json`.
    private func nodePid() throws -> Int32 {
        let out = try dofs(["status", "--socket", socket, "--json"])
        let status = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
        return try XCTUnwrap((status?["pid"] as? NSNumber)?.int32Value, "status names the node's pid: \(out.stdout)")
    }

    /// TCP ports process `pid` listens on (its socket inodes matched against /proc/net/tcp and tcp6).
    private func listeningPorts(pid: Int32) throws -> Set<Int> {
        let fdDir = "/proc/\(pid)/fd"
        var inodes: Set<String> = []
        for fd in try FileManager.default.contentsOfDirectory(atPath: fdDir) {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: fdDir + "/" + fd),
               target.hasPrefix("socket:[") {
                inodes.insert(String(target.dropFirst("socket:[".count).dropLast()))
            }
        }
        var ports: Set<Int> = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = (try? String(contentsOfFile: table, encoding: .utf8)) ?? ""
            for row in text.split(separator: "\n").dropFirst() {
                let fields = row.split(separator: " ")
                guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])),
                      let port = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }) else { continue }
                ports.insert(port)
            }
        }
        return ports
    }

    /// Every metric the node declares, listed (at zero) before anything happened.
    private let declared = [
        #"dofs_bytes_total{source="cdn"}"#, #"dofs_bytes_total{source="cache"}"#, #"dofs_bytes_total{source="peer"}"#,
        #"dofs_bytes_total{source="local"}"#, #"dofs_pieces_verified_total{source="cdn"}"#,
        #"dofs_pieces_failed_verification_total{source="peer"}"#, #"dofs_bans_total{kind="peer"}"#,
        #"dofs_bans_total{kind="cache_host"}"#, "dofs_cache_bytes", "dofs_cache_pieces", "dofs_cache_hits_total",
        "dofs_cache_misses_total", "dofs_cache_evictions_total", "dofs_fetches_in_flight", "dofs_peers_connected",
        "dofs_read_seconds_count", "dofs_read_seconds_sum", "dofs_recent_piece_bytes", "dofs_passthrough_opens_total",
        #"dofs_page_cache_fills_total{result="filled"}"#, #"dofs_page_cache_fills_total{result="declined"}"#,
    ]

    func testScrapeCountsAVerifiedReadByItsSourceAndASecondReadAsLocalBytes() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 4 * MiB + 321, seed: 2101)
        let published = try publish(content, as: "m.bin", on: origin)
        let port = try LoopbackPort.free()
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "m.bin", published: published)],
                                       extra: ["--metrics-listen", "127.0.0.1:\(port)"])

        let idle = try scrape(port: port)
        for name in declared { XCTAssertNotNil(idle.samples[name], "\(name) is listed before any event:\n\(idle.text)") }
        XCTAssertEqual(idle.samples[#"dofs_bytes_total{source="cdn"}"#], 0)
        XCTAssertEqual(idle.samples["dofs_cache_pieces"], 0, "a fresh cache")

        assertReads(try readWhole(mountpoint + "/m.bin"), content, "first read")
        let first = try scrape(port: port).samples
        XCTAssertEqual(first[#"dofs_bytes_total{source="cdn"}"#], Double(content.count), "a cold read fetches each byte once, from the CDN")
        XCTAssertEqual(first[#"dofs_bytes_total{source="peer"}"#], 0)
        XCTAssertEqual(first[#"dofs_pieces_verified_total{source="cdn"}"#], 5, "4 MiB + 321 bytes are 5 verified pieces")
        XCTAssertEqual(first[#"dofs_pieces_failed_verification_total{source="cdn"}"#], 0)
        XCTAssertEqual(first["dofs_cache_pieces"], 5)
        XCTAssertEqual(first["dofs_cache_bytes"], Double(content.count))
        XCTAssertEqual(first["dofs_fetches_in_flight"], 0, "nothing is fetched once the read is answered")
        XCTAssertGreaterThan(first["dofs_cache_misses_total"] ?? 0, 0, "the cold read waited for fetches")
        XCTAssertEqual(first["dofs_cache_evictions_total"], 0, "no cap, no eviction")
        let readsBefore = try XCTUnwrap(first["dofs_read_seconds_count"])
        XCTAssertGreaterThan(readsBefore, 0, "each FUSE read is timed")

        // Through FUSE again (the kernel's page cache dropped), answered from the piece cache.
        let fd = open(mountpoint + "/m.bin", O_RDONLY)
        if fd >= 0 {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
            close(fd)
        }
        assertReads(try readWhole(mountpoint + "/m.bin"), content, "second read")
        let second = try scrape(port: port)
        XCTAssertEqual((second.samples[#"dofs_bytes_total{source="local"}"#] ?? 0) - (first[#"dofs_bytes_total{source="local"}"#] ?? 0),
                       Double(content.count), "every byte of the second read came from the piece cache")
        XCTAssertEqual(second.samples[#"dofs_bytes_total{source="cdn"}"#], Double(content.count), "and none from the CDN")
        XCTAssertGreaterThan(second.samples["dofs_cache_hits_total"] ?? 0, first["dofs_cache_hits_total"] ?? 0)
        XCTAssertGreaterThan(second.samples["dofs_read_seconds_count"] ?? 0, readsBefore, "the second read's requests were timed")
        let slowest = second.samples[#"dofs_read_seconds_bucket{le="+Inf"}"#]
        XCTAssertEqual(slowest, second.samples["dofs_read_seconds_count"], "the +Inf bucket holds every read")
        print("GET /metrics after two reads:\n\(second.text)")
    }

    func testPiecesHeldInMemoryForAReaderAreLetGoOnceReadSoAFinishedColdReadHoldsNone() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 6 * MiB + 123, seed: 2105)
        let published = try publish(content, as: "r.bin", on: origin)
        let port = try LoopbackPort.free()
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "r.bin", published: published)],
                                       extra: ["--metrics-listen", "127.0.0.1:\(port)"])

        assertReads(try readWhole(mountpoint + "/r.bin"), content, "cold read")
        let after = try scrape(port: port).samples
        XCTAssertEqual(after["dofs_cache_pieces"], 7, "every piece was fetched and stored")
        // Pieces a read waited for, and pieces fetched ahead and read from memory, are both let go once
        // read to their end: memory held for readers is the unread part of their window, nothing after.
        XCTAssertEqual(after["dofs_recent_piece_bytes"], 0, "no piece is held in memory once the reader read it all")
    }

    func testEveryVerifiedPieceIsEitherStillCachedOrCountedAsEvictedUnderACap() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 4 * MiB + 321, seed: 2104)
        let published = try publish(content, as: "c.bin", on: origin)
        let port = try LoopbackPort.free()
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "c.bin", published: published)],
                                       extra: ["--metrics-listen", "127.0.0.1:\(port)", "--cache-max-size", "\(2 * MiB)"])
        assertReads(try readWhole(mountpoint + "/c.bin"), content, "read under a 2 MiB cap")

        let samples = try scrape(port: port).samples
        let verified = try XCTUnwrap(samples[#"dofs_pieces_verified_total{source="cdn"}"#])
        let cached = try XCTUnwrap(samples["dofs_cache_pieces"])
        let evicted = try XCTUnwrap(samples["dofs_cache_evictions_total"])
        XCTAssertGreaterThanOrEqual(verified, 5, "every piece was fetched and verified at least once")
        XCTAssertGreaterThanOrEqual(evicted, 3, "five 1 MiB pieces do not fit 2 MiB")
        XCTAssertEqual(cached + evicted, verified, "each verified piece is stored once, then cached or evicted: \(samples)")
        XCTAssertLessThanOrEqual(samples["dofs_cache_bytes"] ?? .infinity, Double(2 * MiB), "the cap holds")
    }

    func testALyingCacheHostShowsAsFailedVerificationsAndOneBan() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 8 * MiB, seed: 2105)
        let published = try publish(content, as: "w.bin", on: origin)
        // A lying cache host: every piece it serves has one byte changed.
        let liar = try startOrigin(name: "lying-cache")
        var tampered = content
        for piece in 0..<8 { tampered[piece * MiB + 77] ^= 0xFF }
        try TestContent.write(tampered, to: liar.path("w.bin"))
        let port = try LoopbackPort.free()
        // Mode 99 keeps catalog entries verified and sends every piece to the cache host first.
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "w.bin", published: published)],
                                       extra: ["--metrics-listen", "127.0.0.1:\(port)", "--download-mode", "99",
                                               "--cache-host", "127.0.0.1:\(liar.port)"])
        assertReads(try readWhole(mountpoint + "/w.bin"), content, "w.bin with a lying cache host")

        let samples = try scrape(port: port).samples
        let answers = liar.requests(matching: "/w.bin").count
        XCTAssertGreaterThanOrEqual(answers, 3, "the host is asked until its third bad piece")
        XCTAssertEqual(samples[#"dofs_pieces_failed_verification_total{source="cache"}"#], Double(answers),
                       "every answer of the lying host failed verification")
        XCTAssertEqual(samples[#"dofs_bans_total{kind="cache_host"}"#], 1, "one ban, however many bad pieces were in flight")
        XCTAssertEqual(samples[#"dofs_pieces_verified_total{source="cache"}"#], 0)
        XCTAssertEqual(samples[#"dofs_pieces_verified_total{source="cdn"}"#], 8, "every piece came verified from the CDN")
        XCTAssertEqual(samples[#"dofs_bytes_total{source="cache"}"#], 0)
    }

    func testNothingServesMetricsWithoutTheFlag() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: MiB, seed: 2102)
        let published = try publish(content, as: "n.bin", on: origin)
        let port = try LoopbackPort.free()
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "n.bin", published: published)])
        assertReads(try readWhole(mountpoint + "/n.bin"), content, "read")

        XCTAssertFalse(LoopbackPort.accepts(port), "no metrics port is opened without --metrics-listen")
        // And none of the ports the node does listen on (peer server, embedded control plane) serves metrics.
        let ports = try listeningPorts(pid: try nodePid())
        XCTAssertFalse(ports.isEmpty, "the node's own listeners are found (else this test checks nothing)")
        for listening in ports {
            let body = try ChildProcess.run("curl", ["-s", "--max-time", "3", "http://127.0.0.1:\(listening)/metrics"],
                                            logDirectory: logs, timeout: 15).stdout
            XCTAssertFalse(body.contains("dofs_"), "port \(listening) serves no metrics: \(body.prefix(200))")
        }
        let log = (try? String(contentsOfFile: scratch.file("logs/node.log"), encoding: .utf8)) ?? ""
        XCTAssertFalse(log.contains("/metrics"), "the node announces no metrics endpoint")
    }

    func testAMetricsAddressInUseStopsTheNodeWithAClearError() throws {
        let origin = try startOrigin()
        let published = try publish(TestContent.bytes(count: MiB, seed: 2103), as: "b.bin", on: origin)
        // nginx holds the origin's port.
        var outcome: ChildProcess.Outcome?
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "b.bin", published: published)],
                                       extra: ["--metrics-listen", "127.0.0.1:\(origin.port)"], outcome: &outcome)
        XCTAssertFalse(outcome?.succeeded ?? true, "dofs mount fails when the metrics address is taken")
        XCTAssertTrue(outcome?.stderr.contains("cannot listen for metrics on 127.0.0.1:\(origin.port)") ?? false,
                      "the error names the address: \(outcome?.stderr ?? "")")
        XCTAssertFalse(MountTable.isMounted(mountpoint), "nothing is mounted")
    }
}
