import Foundation

/// Small POSIX helpers with errors that name the file and the reason.
enum FileSystem {
    static func makeDirectories(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw PieceStore.Failure.io(operation: "mkdir", path: path, errno: errno == 0 ? EIO : errno)
        }
    }

    /// Deletes everything inside `dir`; returns how many entries went.
    static func removeContents(of dir: String) throws -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for n in names { unlink(dir + "/" + n) }
        return names.count
    }

    /// Deletes the leftovers of interrupted `replaceDurably` calls (`NAME.tmp-UUID`) in `dir`; returns
    /// how many went. A missing folder has none.
    static func removeTemporaryFiles(in dir: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        var removed = 0
        for n in names where n.contains(temporaryMarker) && unlink(dir + "/" + n) == 0 { removed += 1 }
        return removed
    }

    /// What `replaceDurably` puts in the names of its temporary files.
    static let temporaryMarker = ".tmp-"

    /// Writes all of `bytes` at `offset` of `fd`, through short writes and EINTR; the errno of the
    /// failure, if any (EIO for a write that wrote nothing).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int32? {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return EIO }
            done += n
        }
        return nil
    }

    static func regularFileSize(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(st.st_size)
    }

    /// Writes `bytes` to a new file at `path`, fsyncing it when `durable`; removes the file on any
    /// failure (ENOSPC included), so nothing partial stays behind.
    static func writeFile<Bytes: ContiguousBytes>(_ bytes: Bytes, to path: String, durable: Bool = false) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PieceStore.Failure.io(operation: "create", path: path, errno: errno) }
        var failure: PieceStore.Failure?
        bytes.withUnsafeBytes { buf in
            var done = 0
            while done < buf.count {
                let n = write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = .io(operation: "write", path: path, errno: errno)
                    return
                }
                done += n
            }
        }
        if failure == nil && durable && fsync(fd) != 0 { failure = .io(operation: "fsync", path: path, errno: errno) }
        if close(fd) != 0 && failure == nil { failure = .io(operation: "close", path: path, errno: errno) }
        if let failure {
            unlink(path)
            throw failure
        }
    }

    /// Atomically replaces `path` with `bytes` (temporary file in the same directory, fsync, rename).
    /// Without `durable`, no fsync: after a power loss the file may be gone or empty, never half new.
    static func replaceDurably(_ path: String, with bytes: [UInt8], durable: Bool = true) throws {
        let tmp = path + temporaryMarker + UUID().uuidString
        try writeFile(bytes, to: tmp, durable: durable)
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw PieceStore.Failure.io(operation: "rename", path: path, errno: e)
        }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return [UInt8](data)
    }
}
