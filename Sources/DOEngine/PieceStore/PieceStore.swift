/// The local piece cache: every piece dofs has fetched, kept on disk across mounts and crashes.
///
/// ## Contract
/// - A piece becomes visible only at `commit`: its bytes are written to a temporary file in the same
///   file system, `fsync`ed, then renamed into place. A file at a piece's final path is therefore
///   complete by construction; a crash (SIGKILL, power loss) can leave temporary files, which the next
///   start deletes, but never a half piece that looks whole.
/// - Verified pieces are content-addressed: their path is their SHA-256 (`verified/ab/cd/abcd…`), so
///   identical pieces of two contents are stored once, and a piece is only ever committed after its
///   bytes hashed to that name. Unverified (simple-mode) pieces live apart, under `simple/<content key>/`,
///   and can never be mistaken for verified ones.
/// - Reads open the file and `pread` it. POSIX keeps an open descriptor readable after an unlink, so
///   eviction never pulls bytes from under a reader that already opened the piece.
/// - A size cap evicts least-recently-used pieces after each commit.
///
/// Thread-safe: FUSE threads read synchronously while engine tasks commit.
import DOCore
import Foundation
import Logging
import Synchronization

public final class PieceStore: Sendable {
    /// Names a piece in the store.
    public enum Key: Hashable, Sendable {
        /// A piece whose bytes hash to the digest: shareable, trusted.
        case verified(SHA256Digest)
        /// Piece `index` of a simple-mode content identified by `content` (URL + validator + size).
        case unverified(content: String, index: Int)
    }

    public enum Failure: Error, CustomStringConvertible {
        case io(operation: String, path: String, errno: Int32)
        case wrongSize(path: String, expected: Int, found: Int)

        public var description: String {
            switch self {
            case .io(let op, let path, let e): return "\(op) \(path): \(String(cString: strerror(e)))"
            case .wrongSize(let p, let e, let f): return "piece file \(p) holds \(f) bytes, expected \(e)"
            }
        }

        public var errno: Int32 {
            switch self {
            case .io(_, _, let e): return e
            case .wrongSize: return EIO
            }
        }
    }

    public let root: String
    public let maxBytes: Int?
    private let index: Mutex<PieceIndex>
    private let logger: Logger

    /// Opens (creating if needed) the store under `root`, deleting leftovers of interrupted commits.
    public init(root: String, maxBytes: Int? = nil, logger: Logger = Logger(label: "dofs.store")) throws {
        self.root = root
        self.maxBytes = maxBytes
        self.logger = logger
        for dir in ["verified", "simple", "tmp"] {
            try FileSystem.makeDirectories(root + "/" + dir)
        }
        let removed = try FileSystem.removeContents(of: root + "/tmp")
        if removed > 0 { logger.info("piece store: removed \(removed) unfinished piece file(s) left by an interrupted run") }
        index = Mutex(try PieceIndex.scan(root: root))
        let summary = index.withLock { "\($0.count) piece(s), \($0.totalBytes) bytes" }
        logger.info("piece store at \(root): \(summary)")
    }

    public func contains(_ key: Key) -> Bool { index.withLock { $0.contains(key) } }

    /// How many of `keys` are present.
    public func count(of keys: some Sequence<Key>) -> Int {
        index.withLock { idx in keys.reduce(0) { $0 + (idx.contains($1) ? 1 : 0) } }
    }

    public var totalBytes: Int { index.withLock { $0.totalBytes } }

    /// Reads `length` bytes at `offset` within a stored piece into `buffer`; `nil` if the piece is absent.
    ///
    /// A piece file that is shorter than asked for (damaged outside dofs) is dropped from the index and
    /// reported absent, so the caller fetches it again instead of serving short data.
    public func read(_ key: Key, offset: Int, length: Int, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard contains(key) else { return false }
        let path = self.path(for: key)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            forget(key, reason: "cannot open \(path): \(String(cString: strerror(errno)))")
            return false
        }
        defer { close(fd) }
        var done = 0
        while done < length {
            let n = pread(fd, buffer.baseAddress! + done, length - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                forget(key, reason: "short read of \(path)")
                return false
            }
            done += n
        }
        index.withLock { $0.touch(key) }
        return true
    }

    /// Reads a whole stored piece of `length` bytes; `nil` if absent or damaged.
    public func readPiece(_ key: Key, length: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: length)
        let ok = bytes.withUnsafeMutableBytes { read(key, offset: 0, length: length, into: $0) }
        return ok ? bytes : nil
    }

    /// Makes `bytes` the stored piece `key`, atomically and durably (see the contract above).
    public func commit(_ key: Key, bytes: [UInt8]) throws {
        if contains(key) { return }
        let final = path(for: key)
        let tmp = root + "/tmp/" + UUID().uuidString
        try FileSystem.writeDurably(bytes, to: tmp)
        do {
            try FileSystem.makeDirectories((final as NSString).deletingLastPathComponent)
            guard rename(tmp, final) == 0 else { throw Failure.io(operation: "rename", path: final, errno: errno) }
        } catch {
            unlink(tmp)
            throw error
        }
        let evicted = index.withLock { idx -> [Key] in
            idx.insert(key, size: bytes.count)
            guard let cap = maxBytes else { return [] }
            return idx.evict(toFit: cap, keep: key)
        }
        for victim in evicted { unlink(path(for: victim)) }
        if !evicted.isEmpty { logger.debug("piece store: evicted \(evicted.count) piece(s) to stay under \(maxBytes ?? 0) bytes") }
    }

    /// Removes a piece (for instance one found damaged by `dofs verify`).
    public func remove(_ key: Key) {
        index.withLock { $0.remove(key) }
        unlink(path(for: key))
    }

    /// Every stored key, for scrubbing.
    public var keys: [Key] { index.withLock { $0.allKeys } }

    public func path(for key: Key) -> String {
        switch key {
        case .verified(let digest):
            let hex = digest.hex
            let a = hex.prefix(2), b = hex.dropFirst(2).prefix(2)
            return "\(root)/verified/\(a)/\(b)/\(hex)"
        case .unverified(let content, let index):
            return "\(root)/simple/\(content)/\(index)"
        }
    }

    private func forget(_ key: Key, reason: String) {
        logger.warning("piece store: dropping \(key): \(reason)")
        index.withLock { $0.remove(key) }
    }
}
