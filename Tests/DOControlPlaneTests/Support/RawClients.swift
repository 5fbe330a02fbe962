#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// Plain TCP clients on loopback for tests that misbehave on purpose (oversized heads, endless bodies,
/// connections that never send): blocking calls only, run off Swift's cooperative pool.
enum RawClients {
    /// What one connection sends: `prefix`, then `unit` `repeats` times, then `suffix`.
    struct Script: Sendable {
        var prefix: [UInt8]
        var unit: [UInt8] = []
        var repeats = 0
        var suffix: [UInt8] = []

        var length: Int { prefix.count + unit.count * repeats + suffix.count }

        /// A request with a body of `bodyLength` bytes (Content-Length) built from a repeated unit.
        static func post(_ path: String, unit: [UInt8], repeats: Int, bodyPrefix: [UInt8] = [], bodySuffix: [UInt8] = []) -> Script {
            let length = bodyPrefix.count + unit.count * repeats + bodySuffix.count
            let head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(length)\r\n\r\n"
            return Script(prefix: Array(head.utf8) + bodyPrefix, unit: unit, repeats: repeats, suffix: bodySuffix)
        }

        /// A chunked upload that never ends (up to `repeats` chunks of `chunkSize`).
        static func endlessChunkedPost(_ path: String, chunkSize: Int = 64 << 10, repeats: Int) -> Script {
            let head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            let chunk = Array(String(chunkSize, radix: 16).utf8) + [13, 10] + [UInt8](repeating: 0x20, count: chunkSize) + [13, 10]
            return Script(prefix: Array(head.utf8) + Array("1\r\n{\r\n".utf8), unit: chunk, repeats: repeats)
        }
    }

    /// What happened to one connection.
    struct Outcome: Sendable {
        let fd: Int32
        var sent = 0
        var received: [UInt8] = []
        /// The server ended the stream (end of stream or reset).
        var ended = false
        var reset = false

        var statusLine: String {
            String(decoding: received.prefix { $0 != 13 }, as: UTF8.self)
        }
        var status: Int? {
            let parts = statusLine.split(separator: " ")
            return parts.count >= 2 ? Int(parts[1]) : nil
        }
        func header(_ name: String) -> String? {
            let text = String(decoding: received, as: UTF8.self)
            guard let head = text.components(separatedBy: "\r\n\r\n").first else { return nil }
            for line in head.split(separator: "\r\n").dropFirst() {
                let pair = line.split(separator: ":", maxSplits: 1)
                if pair.count == 2, pair[0].lowercased() == name.lowercased() { return pair[1].trimmingCharacters(in: .whitespaces) }
            }
            return nil
        }
    }

    /// Opens `count` connections to 127.0.0.1:`port` (blocking connects); the caller closes them.
    static func connect(port: Int, count: Int) throws -> [Int32] {
        var fds: [Int32] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else {
                close(fds)
                throw RawClientError.failed("socket: errno \(errno) after \(fds.count)")
            }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else {
                let error = errno
                Glibc.close(fd)
                close(fds)
                throw RawClientError.failed("connect: errno \(error) after \(fds.count)")
            }
            fds.append(fd)
        }
        return fds
    }

    static func close(_ fds: [Int32]) {
        for fd in fds { Glibc.close(fd) }
    }

    /// Runs `scripts` on fresh connections at once: sends as long as the server takes bytes, reads
    /// whatever comes back, until every server has ended its stream or `timeout` passes. The
    /// connections are left open (see `Outcome.fd`).
    static func exchange(port: Int, scripts: [Script], timeout: Double) async throws -> [Outcome] {
        let fds = try await offPool { try connect(port: port, count: scripts.count) }
        return await offPool { drive(fds: fds, scripts: scripts, timeout: timeout) }
    }

    /// Waits until the server ends every one of `fds` (reading and discarding what arrives) or
    /// `timeout` passes; returns how many it ended.
    static func awaitServerClose(_ fds: [Int32], timeout: Double) async -> Int {
        let outcomes = await offPool { drive(fds: fds, scripts: fds.map { _ in Script(prefix: []) }, timeout: timeout) }
        return outcomes.filter(\.ended).count
    }

    /// One request on a new connection, its answer read until the server closes or `timeout`.
    static func request(port: Int, _ text: String, timeout: Double) async throws -> Outcome {
        let outcome = try await exchange(port: port, scripts: [Script(prefix: Array(text.utf8))], timeout: timeout)[0]
        Glibc.close(outcome.fd)
        return outcome
    }

    private static func drive(fds: [Int32], scripts: [Script], timeout: Double) -> [Outcome] {
        var outcomes = fds.map { Outcome(fd: $0) }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        var sendDone = scripts.map { $0.length == 0 }
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while outcomes.contains(where: { !$0.ended }) {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { break }
            var polls = outcomes.indices.filter { !outcomes[$0].ended }.map { index in
                pollfd(fd: fds[index], events: Int16(POLLIN) | (sendDone[index] ? 0 : Int16(POLLOUT)), revents: 0)
            }
            let ready = poll(&polls, nfds_t(polls.count), Int32(min(left, 1) * 1000))
            if ready <= 0 { continue }
            for entry in polls where entry.revents != 0 {
                let index = fds.firstIndex(of: entry.fd)!
                if entry.revents & Int16(POLLOUT) != 0, !sendDone[index] {
                    sendDone[index] = !send(scripts[index], from: &outcomes[index])
                }
                if entry.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    let n = buffer.withUnsafeMutableBytes { recv(entry.fd, $0.baseAddress, $0.count, 0) }
                    if n > 0 {
                        outcomes[index].received += buffer[0..<n]
                    } else if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                        outcomes[index].ended = true
                        outcomes[index].reset = n < 0
                    }
                }
            }
        }
        return outcomes
    }

    /// Sends what the socket takes now; false once the script is sent or the peer refuses more.
    private static func send(_ script: Script, from outcome: inout Outcome) -> Bool {
        while outcome.sent < script.length {
            let position = outcome.sent
            let n: Int
            if position < script.prefix.count {
                n = script.prefix[position...].withUnsafeBytes { Glibc.send(outcome.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            } else if position < script.prefix.count + script.unit.count * script.repeats {
                let offset = (position - script.prefix.count) % script.unit.count
                n = script.unit[offset...].withUnsafeBytes { Glibc.send(outcome.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            } else {
                let offset = position - script.prefix.count - script.unit.count * script.repeats
                n = script.suffix[offset...].withUnsafeBytes { Glibc.send(outcome.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            if n > 0 {
                outcome.sent += n
            } else {
                return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
            }
        }
        return false
    }

    /// Runs blocking work on a thread of its own, so the server's handlers keep the cooperative pool.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }
}

enum RawClientError: Error { case failed(String) }

/// This process's server connections and memory, from /proc.
enum ProcessResources {
    /// Connections a server of this process holds on `port`: TCP sockets whose local port is `port`,
    /// not listening, that a descriptor of this process still refers to. Counted by port, not as all
    /// descriptors against a baseline, so that files and sockets other code in the test process opens
    /// or closes meanwhile do not count (CI once saw -3 that way).
    static func serverConnections(port: Int) -> Int {
        let ours = Set(((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { fd -> Substring? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
                  target.hasPrefix("socket:[") else { return nil }
            return Substring(target.dropFirst(8).dropLast())
        })
        let listening = "0A"
        return ["/proc/self/net/tcp", "/proc/self/net/tcp6"].reduce(0) { count, table in
            // Read to the end: String(contentsOfFile:) takes one read, a page of a /proc table.
            let text = (try? FileHandle(forReadingFrom: URL(fileURLWithPath: table)).readToEnd()).flatMap { $0 } ?? Data()
            let rows = String(decoding: text, as: UTF8.self).split(separator: "\n").dropFirst()
            return count + rows.filter { row in
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                let fields = row.split(separator: " ")
                guard fields.count > 9, let localPort = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) })
                else { return false }
                return localPort == port && fields[3] != listening && ours.contains(fields[9])
            }.count
        }
    }

    /// Waits (bounded) until the server on `port` holds `expected` connections; returns the last count.
    static func awaitServerConnections(port: Int, _ expected: Int, timeout: Double) async -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        var count = serverConnections(port: port)
        while count != expected && Date() < deadline {
            try? await Task.sleep(for: .milliseconds(100))
            count = serverConnections(port: port)
        }
        return count
    }

    /// Resident set size now and its peak, in bytes (VmRSS, VmHWM).
    static var residentBytes: (now: Int, peak: Int) {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return -1 }
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1) * 1024
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    /// Resets the peak (VmHWM) to the current RSS (Linux: 5 into clear_refs); false if not allowed.
    static func resetPeakResident() -> Bool {
        (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil
    }
}
