import Foundation
import Synchronization

/// One owner per cache folder: an exclusive `flock` on `CACHE_DIR/lock`, held for the owner's lifetime.
///
/// Why: two processes on one cache folder harm each other. Opening a piece store deletes the
/// temporary files of interrupted commits, which in a shared folder are the other process's staged
/// pieces, and each process evicts and counts pieces the other does not know about. So `dofs mount`
/// and `dofs verify` take this lock first, and refuse to start when another process holds it.
///
/// The lock file holds the owner's PID (text), for the message a second process prints. The kernel
/// drops a `flock` when its holder exits, SIGKILL included, so a crash never leaves the folder locked;
/// a stale PID in the file means nothing without the lock.
public final class CacheLock: Sendable {
    public static let fileName = "lock"

    public enum Failure: Error, CustomStringConvertible {
        /// Another process owns the folder; `pid` is what its lock file says, when readable.
        case held(folder: String, pid: Int32?)
        case io(operation: String, path: String, errno: Int32)

        public var description: String {
            switch self {
            case .held(let folder, let pid):
                let who = pid.map { "process \($0)" } ?? "another process"
                return "cache folder \(folder) is in use by \(who) (it holds \(folder)/\(CacheLock.fileName)); "
                    + "one process owns a cache folder at a time: unmount it first, or use another --cache-dir"
            case .io(let op, let path, let e):
                return "\(op) \(path): \(String(cString: strerror(e)))"
            }
        }
    }

    public let folder: String
    /// The locked descriptor; -1 once released.
    private let fd: Mutex<Int32>

    /// Takes the lock at once or throws `.held` (never waits).
    public init(folder: String) throws(Failure) {
        self.folder = folder
        let path = folder + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            let pid = Self.readPID(fd)
            close(fd)
            if e == EWOULDBLOCK { throw .held(folder: folder, pid: pid) }
            throw .io(operation: "flock", path: path, errno: e)
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = Mutex(fd)
    }

    /// Gives the folder up before this object goes away (a node that stopped, in a process that goes
    /// on). Calling it again does nothing.
    public func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            // Closing the descriptor releases the flock.
            close(fd)
            fd = -1
        }
    }

    deinit {
        release()
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
