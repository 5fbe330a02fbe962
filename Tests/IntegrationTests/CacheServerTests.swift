import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `dofs cache-server`, the MCC-style cache node (do-protocol.md section 5), with real nginx on loopback:
/// slice-aligned ranges are fetched once and then served from the cache, HEAD works, origins not on
/// the allow-list get 403 without any fetch, bad --allow-origin values are refused, /health answers,
/// and SIGTERM stops dofs and its nginx.
final class CacheServerTests: XCTestCase {
    private let MiB = TestContent.MiB
    private var scratch: ScratchDirectory!
    private var origin: NginxOrigin?
    private var node: CacheNode?

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx"), "nginx not installed")
        scratch = try ScratchDirectory()
    }

    override func tearDown() {
        if (testRun?.totalFailureCount ?? 0) > 0, let node {
            print("---- dofs cache-server (port \(node.port)):\n\(node.logTail(60))")
            print("---- cache access log:\n" + node.entries().map(\.description).joined(separator: "\n"))
        }
        node?.stop()
        origin?.stop()
        node = nil
        origin = nil
        scratch?.remove()
        super.tearDown()
    }

    private var logs: String { (try? scratch.directory("logs")) ?? scratch.path }

    /// An origin serving `file.bin` (3 MiB) and a cache node allowed to fetch from it.
    private func start() throws -> (origin: NginxOrigin, node: CacheNode, content: [UInt8]) {
        let origin = try NginxOrigin(scratch: scratch, name: "origin")
        self.origin = origin
        let content = try TestContent.write(TestContent.bytes(count: 3 * MiB, seed: 5), to: origin.path("file.bin"))
        let node = try CacheNode(scratch: scratch, allowOrigins: ["127.0.0.1:\(origin.port)"])
        self.node = node
        return (origin, node, content)
    }

    func testAlignedRangeIsFetchedOnceThenServedFromCacheAndHeadWorks() throws {
        let (origin, node, content) = try start()
        let target = "/file.bin?foo=bar&cacheHostOrigin=127.0.0.1:\(origin.port)&x=1"
        let range = "bytes=\(MiB)-\(2 * MiB - 1)"

        let first = try HTTPRequest.send(port: node.port, target: target, headers: ["Range": range])
        XCTAssertEqual(first.status, 206)
        XCTAssertEqual(first.headers["content-range"], "bytes \(MiB)-\(2 * MiB - 1)/\(3 * MiB)")
        XCTAssertEqual(first.body.count, MiB)
        XCTAssertTrue(first.body == Array(content[MiB..<2 * MiB]), "wrong bytes through the cache")
        let afterFirst = origin.requests(matching: "/file.bin")
        XCTAssertEqual(afterFirst.count, 1, "origin requests: \(afterFirst)")
        XCTAssertEqual(afterFirst.first?.range, range, "the slice range goes to the origin")
        XCTAssertEqual(node.entries().last?.cacheStatus, "MISS")

        let second = try HTTPRequest.send(port: node.port, target: target, headers: ["Range": range])
        XCTAssertEqual(second.status, 206)
        XCTAssertTrue(second.body == Array(content[MiB..<2 * MiB]))
        XCTAssertEqual(second.headers["x-dofs-cache"], "HIT")
        XCTAssertEqual(node.entries().last?.cacheStatus, "HIT", "\(node.entries())")
        XCTAssertEqual(origin.requests(matching: "/file.bin").count, 1, "a hit must not reach the origin")

        // An unaligned range inside the cached slice: also from the cache.
        let inner = try HTTPRequest.send(port: node.port, target: target, headers: ["Range": "bytes=\(MiB + 10)-\(MiB + 19)"])
        XCTAssertEqual(inner.status, 206)
        XCTAssertTrue(inner.body == Array(content[(MiB + 10)...(MiB + 19)]))
        XCTAssertEqual(origin.requests(matching: "/file.bin").count, 1)

        let head = try HTTPRequest.send(port: node.port, method: "HEAD", target: target)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["content-length"], String(3 * MiB))
        XCTAssertTrue(head.body.isEmpty)
        let headAgain = try HTTPRequest.send(port: node.port, method: "HEAD", target: target)
        XCTAssertEqual(headAgain.status, 200)
        XCTAssertEqual(headAgain.headers["x-dofs-cache"], "HIT")
        // Only slice 0 (for HEAD) was added; the origin never sees a request that is not slice-aligned.
        for entry in origin.requests(matching: "/file.bin") {
            let bytes = entry.requestedBytes(contentLength: 3 * MiB)
            XCTAssertEqual((bytes?.lowerBound ?? -1) % MiB, 0, "unaligned origin request \(entry)")
        }
        XCTAssertEqual(origin.requests(matching: "/file.bin").count, 2, "\(origin.entries())")
    }

    func testOriginsNotOnTheAllowListGet403AndNothingIsFetched() throws {
        let (origin, node, _) = try start()
        let other = try LoopbackPort.free()
        let targets = [
            "/file.bin?cacheHostOrigin=127.0.0.1:\(other)",
            "/file.bin?cacheHostOrigin=example.com",
            "/file.bin?cacheHostOrigin=127.0.0.1:\(origin.port)%0d%0aX-Injected:1",
            "/file.bin?cacheHostOrigin=127.0.0.1:\(origin.port)%20",
            "/file.bin?cacheHostOrigin=",
            "/file.bin",
            "/file.bin?foo=127.0.0.1:\(origin.port)",
            "/file.bin?xcacheHostOrigin=127.0.0.1:\(origin.port)",
        ]
        for target in targets {
            let response = try HTTPRequest.send(port: node.port, target: target, headers: ["Range": "bytes=0-99"])
            XCTAssertEqual(response.status, 403, target)
        }
        XCTAssertTrue(origin.entries().isEmpty, "the origin was asked: \(origin.entries())")
        // The allowed origin still works afterwards (and only it is asked).
        let ok = try HTTPRequest.send(port: node.port, target: "/file.bin?cacheHostOrigin=127.0.0.1:\(origin.port)",
                                      headers: ["Range": "bytes=0-99"])
        XCTAssertEqual(ok.status, 206)
        XCTAssertEqual(origin.requests(matching: "/file.bin").count, 1)
    }

    func testBadAllowOriginValuesAreRefused() throws {
        let cases: [(String, String)] = [
            ("a b", "not allowed"), ("x;y", "not allowed"), ("h:99999", "port"), ("", "empty"),
            ("h/p", "not allowed"), ("\"h\"", "not allowed"), ("1.2.3.4:0", "port"), ("a:b:c", "':'"),
            ("[zz]:80", "IPv6"), ("-h", "host name"), ("999.1.1.1", "IPv4"),
        ]
        for (value, reason) in cases {
            let dir = scratch.file("bad-\(UUID().uuidString.prefix(6))")
            let outcome = try ChildProcess.run(DofsCLI.binaryPath,
                                               ["cache-server", "--listen", "127.0.0.1:1", "--cache-dir", dir,
                                                "--allow-origin", value, "--print-config"],
                                               logDirectory: logs, timeout: 30)
            XCTAssertFalse(outcome.succeeded, "accepted --allow-origin \(String(reflecting: value))")
            XCTAssertTrue(outcome.stderr.contains("--allow-origin") && outcome.stderr.contains(reason),
                          "\(String(reflecting: value)): \(outcome.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "nothing is written for a bad value")
        }
        // Good values, printed into the configuration.
        let outcome = try ChildProcess.run(DofsCLI.binaryPath,
                                           ["cache-server", "--listen", "127.0.0.1:1", "--cache-dir", scratch.file("pc"),
                                            "--allow-origin", "127.0.0.1:8080", "--allow-origin", "localhost",
                                            "--allow-origin", "[::1]:81", "--allow-origin", "dl.example.com:8443",
                                            "--slice-size", "2097152", "--max-size", "123456789", "--print-config"],
                                           logDirectory: logs, timeout: 30)
        XCTAssertTrue(outcome.succeeded, outcome.stderr)
        for needle in ["\"127.0.0.1:8080\" \"127.0.0.1:8080\";", "\"localhost\" \"localhost:80\";", "server [::1]:81;",
                       "\"dl.example.com:8443\" dofs_origin_3;", "slice 2097152;", "max_size=123456789"] {
            XCTAssertTrue(outcome.stdout.contains(needle), "missing \(needle) in\n\(outcome.stdout)")
        }
        XCTAssertFalse(outcome.stdout.contains("{{"))
    }

    func testHealthAnswers200AndSigtermStopsDofsAndNginx() throws {
        let (_, node, _) = try start()
        let health = try HTTPRequest.send(port: node.port, target: "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(String(decoding: health.body, as: UTF8.self), "ok")
        let post = try HTTPRequest.send(port: node.port, method: "DELETE", target: "/file.bin?cacheHostOrigin=127.0.0.1:\(origin!.port)")
        XCTAssertEqual(post.status, 405)

        let nginxPID = try XCTUnwrap(node.nginxPID, "no nginx.pid")
        XCTAssertEqual(kill(nginxPID, 0), 0, "nginx is not running")
        node.process.send(SIGTERM)
        let ended = node.process.wait(timeout: 15)
        XCTAssertEqual(ended, .exited(0), "dofs cache-server did not exit cleanly: \(node.logTail(20))")
        if ended == nil { node.stop(grace: 1) }
        // dofs reaped its nginx: the PID is gone (not even a zombie), and nothing listens any more.
        XCTAssertTrue(waitUntil(timeout: 5) { kill(nginxPID, 0) == -1 && errno == ESRCH }, "nginx \(nginxPID) still exists")
        XCTAssertTrue(waitUntil(timeout: 5) { !LoopbackPort.accepts(node.port) }, "port \(node.port) still accepts")
    }
}
