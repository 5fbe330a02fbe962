#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A blocking TCP socket on loopback for tests that must speak (or break) the protocol byte by byte.
/// Any 127.0.0.x address works on Linux without setup, so one test can play several hosts.
struct RawSocket: Sendable {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    /// Connects to `host`:`port`, from the loopback address `source` when given (else the kernel's choice).
    init(connectingTo port: Int, host: String = "127.0.0.1", from source: String? = nil) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawSocketError.failed("socket") }
        if let source {
            var local = loopback(port: 0, host: source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                Glibc.close(fd)
                throw RawSocketError.failed("bind \(source)")
            }
        }
        var address = loopback(port: port, host: host)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw RawSocketError.failed("connect")
        }
        self.fd = fd
    }

    /// Sends all of `bytes`; false if the peer is gone.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// Up to `max` bytes: `[]` on timeout, `nil` at end of stream or error.
    func receive(max: Int = 65536, timeout: Double) -> [UInt8]? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(timeout * 1000))
        if ready == 0 { return [] }
        if ready < 0 { return nil }
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
        guard n > 0 else { return nil }
        return Array(buffer[0..<n])
    }

    /// Exactly `count` bytes, or `nil` if the stream ends or `timeout` passes first.
    func receive(exactly count: Int, timeout: Double) -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        var out: [UInt8] = []
        while out.count < count {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, let chunk = receive(max: count - out.count, timeout: left) else { return nil }
            out += chunk
        }
        return out
    }

    /// Reads until the peer closes or `timeout` passes: what arrived, and whether the stream ended.
    func readUntilClosed(timeout: Double) -> (bytes: [UInt8], closed: Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        var out: [UInt8] = []
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return (out, false) }
            guard let chunk = receive(timeout: left) else { return (out, true) }
            out += chunk
        }
    }

    func close() { Glibc.close(fd) }
}

enum RawSocketError: Error { case failed(String) }

/// A listening socket on a loopback address (127.0.0.1 unless told) with an ephemeral port.
struct RawListener: Sendable {
    let fd: Int32
    let port: Int
    let host: String

    init(host: String = "127.0.0.1") throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawSocketError.failed("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: 0, host: host)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            Glibc.close(fd)
            throw RawSocketError.failed("bind/listen")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.host = host
        self.port = Int(UInt16(bigEndian: actual.sin_port))
    }

    /// The next connection, or `nil` after `timeout` (or once closed).
    func accept(timeout: Double) -> RawSocket? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) > 0 else { return nil }
        let client = Glibc.accept(fd, nil, nil)
        return client >= 0 ? RawSocket(fd: client) : nil
    }

    func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

private func loopback(port: Int, host: String) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr(host)
    return address
}
