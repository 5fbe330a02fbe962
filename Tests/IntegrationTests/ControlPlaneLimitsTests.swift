import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// The `dofs control-plane` process, with its resource flags, lets go of what misbehaving clients hold:
/// idle connections after `--header-timeout`, and every connection it answered with an error, while
/// the clients keep their sockets open. Descriptors are counted in the server's /proc/PID/fd.
final class ControlPlaneLimitsTests: XCTestCase {
    private var scratch: ScratchDirectory!
    private var controlPlane: ControlPlaneProcess?

    override func setUpWithError() throws {
        scratch = try ScratchDirectory()
    }

    override func tearDown() {
        if let controlPlane, (testRun?.totalFailureCount ?? 0) > 0 { print(controlPlane.logTail(40)) }
        controlPlane?.stop()
        _ = scratch?.remove()
        super.tearDown()
    }

    func testIdleConnectionsAndConnectionsAnsweredWithAnErrorAreClosedWhileClientsHoldThem() throws {
        let cp = try ControlPlaneProcess(scratch: scratch, extraArguments: [
            "--header-timeout", "2", "--idle-timeout", "2", "--max-connections", "1000"])
        controlPlane = cp
        let pid = try XCTUnwrap(cp.pid)
        func descriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }
        // The readiness probe's connection is gone once curl exits; give the server a moment.
        XCTAssertTrue(waitUntil(timeout: 5, interval: 0.1) { descriptors() < 40 })
        Thread.sleep(forTimeInterval: 0.5)
        let baseline = descriptors()

        // 300 connections that never send a byte.
        var idle: [Int32] = []
        defer { idle.forEach { _ = close($0) } }
        for _ in 0..<300 { idle.append(try connectLoopback(cp.port)) }
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.1) { descriptors() == baseline + 300 }, "held: \(descriptors() - baseline)")
        XCTAssertTrue(waitUntil(timeout: 15, interval: 0.1) { descriptors() == baseline }, "after the header timeout: \(descriptors() - baseline)")
        XCTAssertEqual(idle.filter(isEndedByServer).count, 300)

        // 10 oversized heads (100 KiB > 32 KiB): a 400 each, then the server lets go.
        var refused: [Int32] = []
        defer { refused.forEach { _ = close($0) } }
        let head = Array("GET /geo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: \(String(repeating: "a", count: 100 << 10))\r\n\r\n".utf8)
        for _ in 0..<10 {
            let fd = try connectLoopback(cp.port)
            refused.append(fd)
            _ = head.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        for fd in refused {
            XCTAssertTrue(String(decoding: receive(fd), as: UTF8.self).hasPrefix("HTTP/1.1 400"))
        }
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.1) { descriptors() == baseline }, "after the 400s: \(descriptors() - baseline)")
    }

    private func connectLoopback(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, rc == 0 else {
            close(fd)
            throw ChildProcess.Failure(description: "connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    /// Up to 64 KiB, waiting up to 5 s.
    private func receive(_ fd: Int32) -> [UInt8] {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 5_000) > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buffer[0..<n]) : []
    }

    /// The server closed its end: the socket reads end of stream (or a reset) at once.
    private func isEndedByServer(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) <= 0
    }
}
