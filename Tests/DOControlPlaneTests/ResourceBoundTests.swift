@testable import DOControlPlane
import DOCore
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// The control plane bounds what clients can make it hold: descriptors (deadlines, a connection cap,
/// no connection kept after an error answer), bytes read (no draining) and memory (publish bodies read
/// a few at a time). Every test attacks a server started in-process over real loopback sockets and
/// counts the connections the server holds (this process's sockets on the server's port, from /proc)
/// and this process's memory (`/proc/self/status`).
final class ResourceBoundTests: XCTestCase {
    private static let geo = "GET /geo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    override func setUp() async throws {
        DescriptorLimit.raiseToHardLimit()
        let limit = DescriptorLimit.current ?? .max
        guard limit >= 5_000 else { throw XCTSkip("needs RLIMIT_NOFILE >= 5000 (4000 loopback descriptors), has \(limit)") }
    }

    private func start(_ name: String, configure: (inout ControlPlaneConfiguration) -> Void = { _ in }) async throws -> ServerFixture {
        let server = try await ServerFixture.start(name) {
            $0.errorAnswerLinger = .milliseconds(300)
            configure(&$0)
        }
        addTeardownBlock { await server.stop() }
        return server
    }

    /// Serves one request and waits until the server has let its connection go.
    private func warmUp(_ server: ServerFixture) async throws {
        let warmUp = try await RawClients.request(port: server.running.port, Self.geo, timeout: 10)
        XCTAssertEqual(warmUp.status, 200)
        let held = await ProcessResources.awaitServerConnections(port: server.running.port, 0, timeout: 5)
        XCTAssertEqual(held, 0, "the warm-up connection is closed")
    }

    /// Waits (bounded) until the server holds `expected` connections; returns the last count.
    private func serverHeld(_ server: ServerFixture, awaiting expected: Int, timeout: Double) async -> Int {
        await ProcessResources.awaitServerConnections(port: server.running.port, expected, timeout: timeout)
    }

    private func figure(_ text: String) {
        print("FIGURE \(name): \(text)")
    }

    func testOversizedHeadsAreAnswered400AndLeaveNoDescriptorBehind() async throws {
        let server = try await start("oversized-head")
        try await warmUp(server)
        // 4 MiB of one header field; Hummingbird's decoder refuses beyond 80 KiB.
        let head = RawClients.Script(prefix: Array("GET /geo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ".utf8),
                                     unit: [UInt8](repeating: 0x61, count: 1 << 16), repeats: 64,
                                     suffix: Array("\r\n\r\n".utf8))
        let outcomes = try await RawClients.exchange(port: server.running.port, scripts: Array(repeating: head, count: 20), timeout: 20)
        defer { RawClients.close(outcomes.map(\.fd)) }

        XCTAssertEqual(outcomes.map(\.status), Array(repeating: 400, count: 20))
        XCTAssertEqual(outcomes.filter(\.ended).count, 20, "the server ends every refused connection")
        // The clients keep their sockets open: the server must not wait for them.
        let held = await serverHeld(server, awaiting: 0, timeout: 10)
        figure("20 x 4 MiB heads: server-held connections after the answers \(held), client bytes sent \(outcomes.map(\.sent).max() ?? 0) max")
        XCTAssertEqual(held, 0)

        // A long but allowed head (16 KiB, under maxHeaderBytes) is still served.
        let long = try await RawClients.request(
            port: server.running.port,
            "GET /geo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: \(String(repeating: "a", count: 16 << 10))\r\nConnection: close\r\n\r\n",
            timeout: 10)
        XCTAssertEqual(long.status, 200)
    }

    func testTwoThousandIdleConnectionsAreClosedAfterTheHeaderTimeoutAndGeoIsServedMeanwhile() async throws {
        let server = try await start("idle") {
            $0.headerReadTimeout = .seconds(20)
            $0.maxConnections = 3_000
            $0.descriptorsReserved = 16
        }
        try await warmUp(server)
        let fds = try await RawClients.offPool { try RawClients.connect(port: server.running.port, count: 2_000) }
        defer { RawClients.close(fds) }
        // A debug build accepts a few hundred connections a second: the deadline leaves time for all.
        let heldOpen = await serverHeld(server, awaiting: 2_000, timeout: 30)

        let geo = try await RawClients.request(port: server.running.port, Self.geo, timeout: 10)
        XCTAssertEqual(geo.status, 200, "geo is served while 2000 idle connections are held")

        let closed = await RawClients.awaitServerClose(fds, timeout: 40)
        let heldAfter = await serverHeld(server, awaiting: 0, timeout: 5)
        figure("2000 idle: server-held while open \(heldOpen), closed by the server \(closed), server-held after the timeout \(heldAfter)")
        XCTAssertEqual(heldOpen, 2_000)
        XCTAssertEqual(closed, 2_000)
        XCTAssertEqual(heldAfter, 0)
    }

    func testAtTheConnectionCapNewClientsWaitAndAreServedOnceIdleConnectionsTimeOut() async throws {
        let server = try await start("cap") {
            $0.headerReadTimeout = .seconds(20)
            $0.maxConnections = 2_000
            $0.descriptorsReserved = 16
        }
        try await warmUp(server)
        let fds = try await RawClients.offPool { try RawClients.connect(port: server.running.port, count: 2_000) }
        defer { RawClients.close(fds) }
        let heldBeforeCap = await serverHeld(server, awaiting: 2_000, timeout: 30)
        XCTAssertEqual(heldBeforeCap, 2_000, "all accepted before the first deadline")

        // The kernel completes this client's handshake, but the server does not accept it at the cap.
        let port = server.running.port
        let geoRequest = Self.geo
        async let geoAnswer = RawClients.request(port: port, geoRequest, timeout: 40)
        try await Task.sleep(for: .milliseconds(500))
        let heldAtCap = ProcessResources.serverConnections(port: port)
        let geo = try await geoAnswer
        let closed = await RawClients.awaitServerClose(fds, timeout: 40)
        figure("cap 2000 + 1: server-held at the cap \(heldAtCap), geo status \(geo.status.map(String.init) ?? "none"), idle closed \(closed)")
        XCTAssertLessThanOrEqual(heldAtCap, 2_000, "no connection accepted beyond the cap")
        XCTAssertEqual(geo.status, 200, "the waiting client is served once idle connections time out")
        XCTAssertEqual(closed, 2_000)
    }

    func testAKeptAliveConnectionIsClosedWhenIdleAndATrickledHeadWhenItsDeadlinePasses() async throws {
        let server = try await start("deadlines") {
            $0.headerReadTimeout = .seconds(2)
            $0.idleTimeout = .seconds(1)
        }
        let port = server.running.port
        // Keep-alive: answered, then closed once idle.
        let keptAlive = try await RawClients.exchange(
            port: port, scripts: [.init(prefix: Array("GET /geo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))], timeout: 15)[0]
        RawClients.close([keptAlive.fd])
        XCTAssertEqual(keptAlive.status, 200)
        XCTAssertTrue(keptAlive.ended, "an idle kept-alive connection is closed")

        // A head trickled one byte every 200 ms keeps bytes arriving, so only the head deadline ends it.
        let trickle = await RawClients.offPool { () -> (closed: Bool, sent: Int) in
            guard let fd = try? RawClients.connect(port: port, count: 1)[0] else { return (false, 0) }
            defer { Glibc.close(fd) }
            let text = Array("GET /geo HTTP/1.1\r\nX-Slow: ".utf8) + [UInt8](repeating: 0x61, count: 100)
            for (index, byte) in text.enumerated() {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, 200) > 0 { return (true, index) }
                var one = byte
                if Glibc.send(fd, &one, 1, Int32(MSG_NOSIGNAL)) != 1 { return (true, index) }
            }
            return (false, text.count)
        }
        figure("trickled head: closed \(trickle.closed) after \(trickle.sent) bytes (a byte per 200 ms, 2 s deadline)")
        XCTAssertTrue(trickle.closed, "a trickled head is cut off at its deadline")
    }

    func testAClientThatStopsReadingALargeAnswerLosesItsConnectionWhileASlowReaderGetsAllOfIt() async throws {
        let server = try await start("stalled-reader") { $0.idleTimeout = .seconds(1) }
        // A PHF of 250,000 pieces is about 12 MB of JSON: more than loopback's socket buffers hold.
        let pieces = (0..<250_000).map { SHA256.hash(withUnsafeBytes(of: $0) { Array($0) }) }
        let phf = PiecesHashFile(layout: PieceLayout(contentLength: pieces.count << 20, pieceSize: 1 << 20), pieces: pieces)
        let publish = PublishRequest(publishing: phf, url: "http://origin.test/huge.bin", piecesHashFileUrl: nil,
                                     includePiecesHashFile: true).resigned()
        let registered = try await server.post("/publish", TestSupport.json(publish))
        XCTAssertEqual(registered.status, 201, String(decoding: registered.body, as: UTF8.self))
        try await warmUp(server)

        let fd = try await RawClients.offPool { try RawClients.connect(port: server.running.port, count: 1)[0] }
        defer { RawClients.close([fd]) }
        let ask = Array("GET /content/\(phf.contentId)/phf HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        XCTAssertEqual(ask.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }, ask.count)
        // Never read: once the socket buffers are full the server's answer stalls.
        let held = await serverHeld(server, awaiting: 0, timeout: 15)
        figure("client not reading a 12 MB answer: server-held after the idle timeout \(held)")
        XCTAssertEqual(held, 0)

        // A client reading 512 KiB every 250 ms takes several idle timeouts, and gets all of it.
        let size = try await server.get("/content/\(phf.contentId)/phf").body.count
        let port = server.running.port
        let slow = await RawClients.offPool { () -> Int in
            guard let fd = try? RawClients.connect(port: port, count: 1)[0] else { return -1 }
            defer { Glibc.close(fd) }
            _ = ask.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var buffer = [UInt8](repeating: 0, count: 512 << 10)
            var total = 0
            let deadline = Date().addingTimeInterval(60)
            while total < size && Date() < deadline {
                usleep(250_000)
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n == 0 || (n < 0 && errno != EAGAIN) { break }
                total += max(0, n)
            }
            return total
        }
        figure("slow reader (2 MiB/s, idle timeout 1 s): got \(slow) bytes of a \(size)-byte body plus head")
        XCTAssertGreaterThan(slow, size, "the whole answer, head included")
    }

    func testAnEndlessChunkedUploadIsRefused413AndNotRead() async throws {
        let limit = 1 << 20
        let server = try await start("chunked") { $0.maxPublishBodyBytes = limit }
        try await warmUp(server)
        // Up to 1 GiB, for up to 15 s: an unbounded server reads all of it.
        let upload = RawClients.Script.endlessChunkedPost("/publish", repeats: 16_384)
        let outcome = try await RawClients.exchange(port: server.running.port, scripts: [upload], timeout: 15)[0]
        defer { RawClients.close([outcome.fd]) }
        let held = await serverHeld(server, awaiting: 0, timeout: 10)
        figure("endless chunked publish: status \(outcome.status.map(String.init) ?? "none"), client bytes sent \(outcome.sent), connection ended \(outcome.ended), server-held after \(held)")
        XCTAssertEqual(outcome.status, 413)
        XCTAssertTrue(outcome.ended, "the connection is closed")
        // What the client got in: the limit, plus what the kernel's socket buffers took unread.
        XCTAssertLessThan(outcome.sent, limit + (48 << 20))
        XCTAssertEqual(held, 0)
    }

    func testAnAnswerSentBeforeTheBodyWasReadEndsTheConnection() async throws {
        let server = try await start("unread-body")
        // geo does not read bodies; the server must not read this one to find the next request.
        let upload = RawClients.Script.endlessChunkedPost("/geo", repeats: 16_384)
        var request = upload
        request.prefix = Array("GET /geo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        let outcome = try await RawClients.exchange(port: server.running.port, scripts: [request], timeout: 15)[0]
        RawClients.close([outcome.fd])
        figure("endless body to GET /geo: status \(outcome.status.map(String.init) ?? "none"), client bytes sent \(outcome.sent), ended \(outcome.ended)")
        XCTAssertEqual(outcome.status, 200)
        XCTAssertEqual(outcome.header("connection"), "close")
        XCTAssertTrue(outcome.ended)
        XCTAssertLessThan(outcome.sent, 48 << 20)
    }

    func testFiftyConcurrentLargePublishBodiesAreReadFourAtATimeAndTheRestRefused503() async throws {
        let server = try await start("publish-flood")
        let limit = server.configuration.maxPublishBodyBytes
        let admitted = server.configuration.maxConcurrentPublishBodies
        // 30 MiB bodies (under the 32 MiB cap) of valid JSON that is not a registration.
        let body = RawClients.Script.post("/publish", unit: [UInt8](repeating: 0x70, count: 1 << 20), repeats: 30,
                                          bodyPrefix: Array(#"{"Padding":""#.utf8), bodySuffix: Array(#""}"#.utf8))
        XCTAssertLessThan(body.length, limit + 200)
        let peakReset = ProcessResources.resetPeakResident()
        let before = ProcessResources.residentBytes
        let outcomes = try await RawClients.exchange(port: server.running.port, scripts: Array(repeating: body, count: 50), timeout: 60)
        defer { RawClients.close(outcomes.map(\.fd)) }
        let after = ProcessResources.residentBytes
        let growth = after.peak - (peakReset ? before.now : before.peak)

        let refused = outcomes.filter { $0.status == 503 }
        let read = outcomes.filter { $0.status == 400 }
        figure("50 x 30 MiB publish: read \(read.count) (400), refused \(refused.count) (503), peak RSS growth \(growth >> 20) MiB (peak \(after.peak >> 20) MiB, before \(before.now >> 20) MiB, peak reset \(peakReset)), most bytes a refused client got in \(refused.map(\.sent).max() ?? 0)")
        XCTAssertEqual(read.count + refused.count, 50, "statuses: \(outcomes.map(\.statusLine))")
        XCTAssertGreaterThanOrEqual(read.count, admitted)
        XCTAssertGreaterThanOrEqual(refused.count, 25, "most are refused at once")
        XCTAssertTrue(refused.allSatisfy { $0.header("retry-after") == "1" && $0.ended })
        XCTAssertTrue(refused.allSatisfy { $0.sent < 8 << 20 }, "a refused body is not read")
        // Four bodies held a few times over while decoded, not fifty.
        XCTAssertLessThan(growth, admitted * limit * 5)
    }
}
