import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call on a path, with its errno.
struct PosixError: Error, Equatable, CustomStringConvertible {
    let operation: String
    let path: String
    let code: Int32

    var description: String { "\(operation)(\(path)) failed: \(PosixError.name(code)) (\(String(cString: strerror(code))))" }

    /// `EIO`, `ENOENT`, ... for the errnos these tests meet; the number otherwise.
    static func name(_ code: Int32) -> String {
        switch code {
        case EIO: return "EIO"
        case ENOENT: return "ENOENT"
        case ENOTCONN: return "ENOTCONN"
        case ECONNABORTED: return "ECONNABORTED"
        case EACCES: return "EACCES"
        case EPERM: return "EPERM"
        case EINVAL: return "EINVAL"
        case ETIMEDOUT: return "ETIMEDOUT"
        case ENODATA: return "ENODATA"
        case EROFS: return "EROFS"
        case ENOTDIR: return "ENOTDIR"
        case EISDIR: return "EISDIR"
        case EBUSY: return "EBUSY"
        default: return "errno \(code)"
        }
    }
}

/// A read-only file descriptor with positional reads that report errno instead of trapping.
final class ReadOnlyFile: @unchecked Sendable {
    let path: String
    private let fd: Int32

    /// Opens `path` read-only; with `direct`, with O_DIRECT, so reads bypass the page cache and reach
    /// the file system one by one (no kernel readahead, no sharing of pages between readers).
    init(_ path: String, direct: Bool = false) throws(PosixError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | (direct ? ReadOnlyFile.oDirect : 0))
        guard fd >= 0 else { throw PosixError(operation: "open", path: path, code: errno) }
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// O_DIRECT, which Swift's Glibc module leaves out (it is a _GNU_SOURCE flag); its value is per architecture.
    static var oDirect: Int32 {
        #if arch(arm64) || arch(arm)
        return 0o200000
        #else
        return 0o40000
        #endif
    }

    /// Reads up to `length` bytes at `offset`, looping over short reads; fewer bytes only at EOF.
    func read(offset: Int, length: Int) -> Result<[UInt8], PosixError> {
        var out = [UInt8](repeating: 0, count: length)
        var filled = 0
        while filled < length {
            let n = out.withUnsafeMutableBytes { buf in
                Glibc.pread(fd, buf.baseAddress! + filled, length - filled, off_t(offset + filled))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(PosixError(operation: "pread@\(offset + filled)", path: path, code: errno))
            }
            if n == 0 { break }
            filled += n
        }
        out.removeSubrange(filled...)
        return .success(out)
    }

    /// Reads sequentially from the start to EOF in `chunk`-byte reads.
    func readToEnd(chunk: Int = 1 << 20) -> Result<[UInt8], PosixError> {
        var all = [UInt8]()
        while true {
            switch read(offset: all.count, length: chunk) {
            case .failure(let e): return .failure(e)
            case .success(let part):
                all += part
                if part.count < chunk { return .success(all) }
            }
        }
    }
}

/// One-shot file-system calls that report errno; meant to be wrapped in `withDeadline` on a mount.
enum FileIO {
    static func readWhole(_ path: String) -> Result<[UInt8], PosixError> {
        do {
            return try ReadOnlyFile(path).readToEnd()
        } catch {
            return .failure(error)
        }
    }

    static func read(_ path: String, offset: Int, length: Int) -> Result<[UInt8], PosixError> {
        do {
            return try ReadOnlyFile(path).read(offset: offset, length: length)
        } catch {
            return .failure(error)
        }
    }

    /// `stat(2)`: size and whether it is a directory.
    static func attributes(_ path: String) -> Result<(size: Int, isDirectory: Bool), PosixError> {
        var st = stat()
        guard lstat(path, &st) == 0 else { return .failure(PosixError(operation: "stat", path: path, code: errno)) }
        return .success((Int(st.st_size), (st.st_mode & S_IFMT) == S_IFDIR))
    }

    /// Names in a directory, without `.` and `..`, sorted.
    static func list(_ path: String) -> Result<[String], PosixError> {
        guard let dir = opendir(path) else { return .failure(PosixError(operation: "opendir", path: path, code: errno)) }
        defer { closedir(dir) }
        var names = [String]()
        errno = 0
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        if errno != 0 { return .failure(PosixError(operation: "readdir", path: path, code: errno)) }
        return .success(names.sorted())
    }
}
