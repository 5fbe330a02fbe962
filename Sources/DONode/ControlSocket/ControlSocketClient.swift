import Foundation

/// Talks to a node's control socket, blocking (the CLI's side): one request, then answer lines until
/// the final one (progress lines of a prefetch go to `onProgress`).
public struct ControlSocketClient: Sendable {
    /// Where a node listens unless told otherwise (`--socket`).
    public static let defaultPath = "/run/dofs/node.sock"
    public let path: String
    /// Mounting can wait on a slow control plane (the node opens nothing per mount, but the kernel
    /// mount itself can stall on a busy machine): 120 s, then the caller is told.
    public var timeoutSeconds = 120

    public init(path: String) throws(ControlSocketError) {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { throw .pathTooLong(path) }
        self.path = path
    }

    /// Sends `request` and returns the node's final answer; progress answers before it go to `onProgress`.
    /// The timeout applies to each line: a prefetch reports at least twice a second however long it runs.
    public func send(_ request: ControlRequest,
                     onProgress: (PrefetchProgress) -> Void = { _ in }) throws(ControlSocketError) -> ControlAnswer {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .io("socket", errno) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw errno == ENOENT || errno == ECONNREFUSED ? .noNode(path) : .io("connect \(path)", errno) }
        var line: Data
        do {
            line = try JSONEncoder().encode(request)
        } catch {
            throw .malformedAnswer("cannot encode the request: \(error)")
        }
        line.append(UInt8(ascii: "\n"))
        let sent = line.withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == line.count else { throw .io("send", errno) }
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            while let end = received.firstIndex(of: UInt8(ascii: "\n")) {
                let line = received[received.startIndex..<end]
                let answer: ControlAnswer
                do {
                    answer = try JSONDecoder().decode(ControlAnswer.self, from: line)
                } catch {
                    throw .malformedAnswer("\(error)")
                }
                received = Data(received[(end + 1)...])
                if answer.isFinal { return answer }
                if let progress = answer.progress { onProgress(progress) }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 { throw errno == EAGAIN ? .timedOut(path) : .io("recv", errno) }
            if n == 0 { throw .malformedAnswer("the node closed the connection without an answer") }
            received.append(contentsOf: buffer[0..<n])
        }
    }
}

/// Why a node could not be asked.
public enum ControlSocketError: Error, Sendable, CustomStringConvertible {
    /// Nothing listens there: no node runs (or a dead one left its file).
    case noNode(String)
    case pathTooLong(String)
    case timedOut(String)
    case io(String, Int32)
    case malformedAnswer(String)

    public var description: String {
        switch self {
        case .noNode(let path): return "no dofs node answers on \(path)"
        case .pathTooLong(let path): return "socket path \(path) is too long for a Unix socket"
        case .timedOut(let path): return "the dofs node on \(path) did not answer in time"
        case .io(let what, let e): return "\(what): \(String(cString: strerror(e)))"
        case .malformedAnswer(let why): return "unusable answer from the dofs node: \(why)"
        }
    }
}
