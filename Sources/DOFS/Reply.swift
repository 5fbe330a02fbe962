import CFuse3
import DOCore
import Foundation

/// A FUSE request that can be answered from any thread, exactly once.
///
/// libfuse's low-level API allows replies from other threads; the wrapper only makes the raw pointer
/// Sendable. Every path through a handler must end in exactly one of these calls.
struct Request: @unchecked Sendable {
    let raw: fuse_req_t?

    func error(_ code: Int32) { fuse_reply_err(raw, code) }

    func bytes(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { b in
            _ = fuse_reply_buf(raw, b.baseAddress?.assumingMemoryBound(to: CChar.self), b.count)
        }
    }

    /// Replies with the concatenation of `parts`, slices of piece buffers, without copying them: one
    /// `iovec` per part (a read across two pieces used to be joined into a new array first).
    func bytes(_ parts: [PieceSlice]) {
        withExtendedLifetime(parts) {
            // A piece buffer's memory stays put for as long as the buffer lives, which `parts` ensures.
            var vectors = parts.map { part in
                part.withUnsafeBytes { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
            }
            _ = fuse_reply_iov(raw, &vectors, Int32(vectors.count))
        }
    }

    /// Replies with `length` bytes of an open file at `offset`, letting libfuse splice them when it can.
    /// The request is answered (or, if the kernel refused the reply, freed) either way.
    func file(_ fd: Int32, offset: Int, length: Int) {
        var vec = cfuse_bufvec_fd(fd, off_t(offset), length)
        _ = fuse_reply_data(raw, &vec, FUSE_BUF_SPLICE_MOVE)
    }

    /// Registers `fd` with the kernel as a backing file for passthrough; its backing id, or 0 with
    /// `errno` set when refused (no passthrough on this connection, no privilege, a stacked file system).
    func passthroughOpen(_ fd: Int32) -> Int32 { Int32(cfuse_passthrough_open(raw, fd)) }

    /// Lets go of a backing id (the kernel keeps the file for opens that still use it).
    func passthroughClose(_ backingId: Int32) { _ = cfuse_passthrough_close(raw, backingId) }

    func entry(ino: UInt64, attributes: stat, timeout: Double) {
        var e = fuse_entry_param()
        e.ino = fuse_ino_t(ino)
        e.generation = 1
        e.attr = attributes
        e.attr_timeout = timeout
        e.entry_timeout = timeout
        _ = fuse_reply_entry(raw, &e)
    }

    func attributes(_ attributes: stat, timeout: Double) {
        var st = attributes
        _ = fuse_reply_attr(raw, &st, timeout)
    }

    /// Answers a getxattr/listxattr: the value's size when the caller passed size 0, else the value.
    func xattr(_ value: [UInt8], callerSize: Int) {
        if callerSize == 0 {
            _ = fuse_reply_xattr(raw, value.count)
        } else if value.count > callerSize {
            error(ERANGE)
        } else {
            bytes(value)
        }
    }
}

enum Attributes {
    /// What a node without a modification time of its own shows: when the mount started.
    private static let mountTime = timespec(tv_sec: time(nil), tv_nsec: 0)
    /// Every node belongs to the user the daemon runs as: asked once, not twice per entry listed.
    private static let owner = (uid: getuid(), gid: getgid())

    private static func stamp(_ st: inout stat, _ modified: Date? = nil) {
        let time = modified.map { timespec(tv_sec: Int(floor($0.timeIntervalSince1970)), tv_nsec: 0) } ?? mountTime
        st.st_atim = time
        st.st_mtim = time
        st.st_ctim = time
    }
    static func directory(ino: UInt64) -> stat {
        var st = stat()
        st.st_ino = ino_t(ino)
        st.st_mode = 0o040555  // S_IFDIR | r-xr-xr-x
        st.st_nlink = 2
        st.st_uid = owner.uid
        st.st_gid = owner.gid
        stamp(&st)
        return st
    }

    /// A file's attributes; `modified` (the catalog's `mtime` or the origin's `Last-Modified`) is its
    /// modification time when known.
    static func file(ino: UInt64, size: Int, modified: Date? = nil) -> stat {
        var st = stat()
        st.st_ino = ino_t(ino)
        st.st_mode = 0o100444  // S_IFREG | r--r--r--
        st.st_nlink = 1
        st.st_size = off_t(size)
        st.st_blksize = 1 << 20
        st.st_blocks = blkcnt_t((size + 511) / 512)
        st.st_uid = owner.uid
        st.st_gid = owner.gid
        stamp(&st, modified)
        return st
    }
}
