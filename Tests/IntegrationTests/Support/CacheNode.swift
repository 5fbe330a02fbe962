import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `dofs cache-server` (an nginx cache node) on 127.0.0.1, started as our child and stopped by its PID.
final class CacheNode: @unchecked Sendable {
    let port: Int
    let prefix: String
    let process: ChildProcess

    /// Starts `dofs cache-server --listen 127.0.0.1:<free port> --cache-dir <scratch>/<name>/prefix
    /// --allow-origin ...`; waits (15 s at most) until /health answers.
    init(scratch: ScratchDirectory, name: String = "cache-node", allowOrigins: [String],
         extraArguments: [String] = []) throws {
        let home = try scratch.directory(name)
        prefix = "\(home)/prefix"
        port = try LoopbackPort.free()
        var args = ["cache-server", "--listen", "127.0.0.1:\(port)", "--cache-dir", prefix]
        for origin in allowOrigins { args += ["--allow-origin", origin] }
        args += extraArguments
        let child = try ChildProcess(DofsCLI.binaryPath, args, stdoutPath: "\(home)/stdout.log",
                                     stderrPath: "\(home)/stderr.log")
        process = child
        let port = self.port
        let up = waitUntil(timeout: 15) {
            !child.isRunning || (try? HTTPRequest.send(port: port, target: "/health", timeout: 2).status) == 200
        }
        guard up, child.isRunning else {
            child.stop(grace: 5)
            throw ChildProcess.Failure(description: "dofs cache-server did not come up on \(port): \(child.standardError)")
        }
    }

    /// nginx's master PID (from its pid file), if it wrote one.
    var nginxPID: pid_t? {
        (try? String(contentsOfFile: "\(prefix)/nginx.pid", encoding: .utf8))
            .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// SIGTERM to dofs (by PID), SIGKILL to its group after `grace` seconds.
    @discardableResult
    func stop(grace: TimeInterval = 10) -> ChildProcess.Termination? { process.stop(grace: grace) }

    /// The cache access log: one `Entry` per request.
    struct Entry: CustomStringConvertible {
        let cacheStatus: String
        let status: Int
        let method: String
        let requestURI: String
        let bodyBytes: Int
        let range: String
        let origin: String
        var description: String { "\(cacheStatus) \(status) \(method) \(requestURI) \(bodyBytes) range=\(range) origin=\(origin)" }
    }

    func entries() -> [Entry] {
        settleLog("\(prefix)/logs/access.log")
        guard let text = try? String(contentsOfFile: "\(prefix)/logs/access.log", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 7, let status = Int(f[1]), let bytes = Int(f[4]) else { return nil }
            return Entry(cacheStatus: f[0], status: status, method: f[2], requestURI: f[3], bodyBytes: bytes,
                         range: f[5], origin: f[6])
        }
    }

    func logTail(_ lines: Int) -> String {
        let err = (try? String(contentsOfFile: "\(prefix)/logs/error.log", encoding: .utf8)) ?? ""
        return (process.standardError + "\n-- nginx error.log:\n" + err).split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// A minimal HTTP/1.1 client over a loopback socket (`Connection: close`, read to EOF), so tests can send
/// raw request targets (percent-encoded CR/LF and all) exactly as written.
struct HTTPRequest {
    struct Response {
        let status: Int
        let headers: [String: String]   // lower-cased names
        let body: [UInt8]
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    static func send(port: Int, method: String = "GET", target: String, headers: [String: String] = [:],
                     timeout: TimeInterval = 10) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect to \(port): errno \(errno)") }
        var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Failure(description: "write: errno \(errno)") }
            sent += n
        }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n == 0 { break }
            guard n > 0 else { throw Failure(description: "read: errno \(errno) after \(data.count) bytes") }
            data += buffer[0..<n]
        }
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let split = (0...max(0, data.count - 4)).first(where: { data.count >= 4 && Array(data[$0..<$0 + 4]) == separator }) else {
            throw Failure(description: "no header end in \(data.count) bytes")
        }
        let head = String(decoding: data[0..<split], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw Failure(description: "bad status line \(head.first ?? "")")
        }
        var headerMap: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headerMap[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(data[(split + 4)...])
        if headerMap["transfer-encoding"]?.lowercased() == "chunked" { body = dechunk(body) }
        return Response(status: status, headers: headerMap, body: body)
    }

    private static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            guard let lineEnd = (i..<(bytes.count - 1)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else { break }
            let sizeText = String(decoding: bytes[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size > 0 else { break }
            let start = lineEnd + 2
            out += bytes[start..<min(bytes.count, start + size)]
            i = start + size + 2
        }
        return out
    }
}
