import Foundation
import XCTest

/// Checks the test origins themselves (no dofs involved), so a failing dofs test is never a harness bug:
/// nginx honours ranges and logs them, its no-range location ignores them, and each fault mode of the
/// fault origin misbehaves exactly as documented.
final class OriginHarnessTests: XCTestCase {
    private var scratch: ScratchDirectory!
    private var stops: [() -> Void] = []

    override func setUpWithError() throws {
        scratch = try ScratchDirectory()
        _ = try scratch.directory("logs")
    }

    override func tearDown() {
        stops.reversed().forEach { $0() }
        scratch?.remove()
    }

    /// Runs curl and returns (headers, body).
    private func curl(_ url: String, range: String? = nil, head: Bool = false) throws -> (headers: String, body: [UInt8]) {
        let body = scratch.file("body-\(UUID().uuidString)")
        let headers = body + ".headers"
        var args = ["-s", "--max-time", "10", "-D", headers, "-o", body]
        if let range { args += ["-H", "Range: \(range)"] }
        if head { args.append("-I") }
        _ = try ChildProcess.run("curl", args + [url], logDirectory: scratch.file("logs"))
        let h = (try? String(contentsOfFile: headers, encoding: .utf8)) ?? ""
        let b = (try? Data(contentsOf: URL(fileURLWithPath: body))).map { [UInt8]($0) } ?? []
        return (h, b)
    }

    func testNginxServesRangesAndLogsMethodURIStatusBytesAndRange() throws {
        let origin = try NginxOrigin(scratch: scratch, locations: [.noRanges("/norange/"), .slow("/slow/", rate: "64k")])
        stops.append { origin.stop() }
        let content = try TestContent.write(TestContent.bytes(count: 300_000, seed: 1), to: origin.path("f.bin"))

        let partial = try curl(origin.url("f.bin"), range: "bytes=100-199")
        XCTAssertTrue(partial.headers.hasPrefix("HTTP/1.1 206"), partial.headers)
        XCTAssertEqual(partial.body, content.expected(offset: 100, length: 100))

        let ignored = try curl(origin.url("f.bin", via: "/norange/"), range: "bytes=100-199")
        XCTAssertTrue(ignored.headers.hasPrefix("HTTP/1.1 200"), "max_ranges 0 must answer 200: \(ignored.headers)")
        XCTAssertEqual(ignored.body.count, content.count)

        let log = origin.entries()
        XCTAssertEqual(log.count, 2, "\(log)")
        // Compared without the User-Agent, which names the test's HTTP client.
        XCTAssertEqual(log.first?.description, AccessLogEntry(line: "GET\t/f.bin\t206\t100\tbytes=100-199")?.description)
        XCTAssertEqual(log.first?.requestedBytes(contentLength: content.count), 100...199)
        XCTAssertEqual(log.last?.uri, "/norange/f.bin")
        XCTAssertEqual(log.last?.bodyBytes, content.count)

        let start = Date()
        _ = try curl(origin.url("f.bin", via: "/slow/"))
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 2, "limit_rate 64k should need ~4.5 s for 300 KB")

        try origin.restart(locations: [])
        XCTAssertEqual(try curl(origin.url("f.bin"), range: "bytes=0-9").body, content.expected(offset: 0, length: 10),
                       "restart keeps port and docroot")
        origin.stop()
        XCTAssertFalse(LoopbackPort.accepts(origin.port), "nginx still listens after stop()")
    }

    func testFaultOriginModesMisbehaveAsDocumented() throws {
        let docroot = try scratch.directory("docroot")
        let content = try TestContent.write(TestContent.bytes(count: 200_000, seed: 2), to: docroot + "/f.bin")
        let origin = try FaultOrigin(scratch: scratch, docroot: docroot)
        stops.append { origin.stop() }
        let range = "bytes=10000-19999"
        let want = content.expected(offset: 10_000, length: 10_000)

        let ok = try curl(origin.url("f.bin", mode: .ok), range: range)
        XCTAssertTrue(ok.headers.hasPrefix("HTTP/1.1 206"), ok.headers)
        XCTAssertTrue(ok.headers.contains("Content-Range: bytes 10000-19999/200000"), ok.headers)
        XCTAssertEqual(ok.body, want)
        let head = try curl(origin.url("f.bin", mode: .truncatedBody), head: true)
        XCTAssertTrue(head.headers.contains("Content-Length: 200000"), head.headers)

        let truncated = try curl(origin.url("f.bin", mode: .truncatedBody), range: range)
        XCTAssertEqual(truncated.body, Array(want.prefix(5_000)), "truncate sends half the body")
        XCTAssertTrue(truncated.headers.contains("Content-Length: 10000"), truncated.headers)

        let bad = try curl(origin.url("f.bin", mode: .wrongContentRange), range: range)
        XCTAssertTrue(bad.headers.contains("Content-Range: bytes 14096-24095/200000"), bad.headers)
        XCTAssertEqual(bad.body, content.expected(offset: 14_096, length: 10_000))

        let whole = try curl(origin.url("f.bin", mode: .ignoresRange), range: range)
        XCTAssertTrue(whole.headers.hasPrefix("HTTP/1.1 200"), whole.headers)
        XCTAssertFalse(whole.headers.contains("Accept-Ranges"), whole.headers)
        XCTAssertEqual(whole.body, content)

        XCTAssertTrue(try curl(origin.url("f.bin", mode: .serverError), range: range).headers.hasPrefix("HTTP/1.1 500"))

        let changed = try curl(origin.url("f.bin", mode: .contentChanged), range: range)
        XCTAssertEqual(changed.body.count, want.count)
        XCTAssertEqual(changed.body, want.map { $0 ^ 0xA5 })

        XCTAssertEqual(try curl(origin.url("nope.bin", mode: .ok)).headers.hasPrefix("HTTP/1.1 404"), true)
        XCTAssertEqual(origin.entries().count, 8, "\(origin.entries())")
    }
}
