import CLinux
import DOCore
import Foundation
import Logging
import Synchronization

/// Whole-file copies of complete verified contents, for FUSE passthrough: a file opened with its copy
/// as backing file is read by the kernel straight from the copy, at page-cache speed, and no read
/// reaches dofs (a FUSE server's own replies reach a fraction of that: `bench/RESULTS.md`).
///
/// ## Contract
/// - A copy is made only from stored pieces, each hashed again on the way and compared with the
///   content's trusted pieces hash file: it holds exactly the verified bytes of its content, or it is
///   not made. The kernel reads it without asking dofs again, so this is the last check, and it is made
///   where it cannot be skipped.
/// - It is written to `tmp-…`, synced and renamed to the content's HashOfHashes in hex: a file under a
///   final name is whole and verified. Opening the folder deletes the leftovers of interrupted copies.
/// - A copy is never changed in place, only unlinked: a reader that holds it open keeps its bytes.
/// - Copies count toward the cache cap beside the pieces (`PieceStore.attach(derived:)`), from the
///   moment one is started; they give way first when pieces need room, least recently used first,
///   since they repeat bytes the pieces hold. A copy is started only if it fits beside the pieces,
///   and leaves a tenth of the file system free (so it never takes the last of an uncapped disk).
/// - At most one copy is made at a time, on a thread that yields to every other (nice 19, idle I/O
///   class): a copy is long sequential disk work and CPU (a re-hash), which must not slow a reader.
/// - One process per cache folder (the caller holds the `CacheLock`).
public final class WholeCopies: DerivedSpace {
    public enum Failure: Error, CustomStringConvertible {
        case pieceMissing(index: Int)
        case pieceMismatch(index: Int)
        case noRoom(bytes: Int)
        case stopped
        case io(PieceStore.Failure)

        public var description: String {
            switch self {
            case .pieceMissing(let i): return "piece \(i) is not stored"
            case .pieceMismatch(let i): return "stored piece \(i) no longer matches its hash"
            case .noRoom(let bytes): return "\(bytes) bytes do not fit under the cache cap beside the pieces, or would leave under a tenth of the disk free"
            case .stopped: return "stopped"
            case .io(let failure): return failure.description
            }
        }
    }

    private struct State {
        /// Each copy's size and last use (a counter: only the order matters).
        var copies: [SHA256Digest: (bytes: Int, used: UInt64)] = [:]
        var uses: UInt64 = 0
        /// Copies being made, whose bytes are counted already.
        var making: [SHA256Digest: Int] = [:]
        var stopped = false
        var bytes: Int { copies.values.reduce(0) { $0 + $1.bytes } + making.values.reduce(0, +) }
    }

    public let folder: String
    private let store: PieceStore
    private let state = Mutex(State())
    /// One copy at a time, and `stop` waits for the one being made.
    private let oneAtATime = DispatchSemaphore(value: 1)
    private let running = DispatchGroup()
    private let logger: Logger
    private let temporaryPrefix = "tmp-"

    /// Opens (creating if needed) the folder of copies, deleting unfinished ones, and counts the rest
    /// toward `store`'s cap (trimming them to fit it).
    public init(folder: String, store: PieceStore, logger: Logger = Logger(label: "dofs.store")) throws {
        self.folder = folder
        self.store = store
        self.logger = logger
        try FileSystem.makeDirectories(folder)
        var found: [SHA256Digest: (bytes: Int, used: UInt64)] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            let path = folder + "/" + name
            guard !name.hasPrefix(temporaryPrefix), let digest = SHA256Digest(hex: name),
                  let size = FileSystem.regularFileSize(path) else {
                unlink(path)
                continue
            }
            found[digest] = (size, 0)
        }
        state.withLock { $0.copies = found }
        store.attach(derived: self)
        if let cap = store.maxBytes, store.totalBytes + derivedBytes > cap {
            _ = shed(store.totalBytes + derivedBytes - cap)
        }
    }

    /// The path of the copy of `hashOfHashes`, marked used; `nil` when there is none.
    public func path(of hashOfHashes: SHA256Digest) -> String? {
        let known = state.withLock { s -> Bool in
            guard let copy = s.copies[hashOfHashes] else { return false }
            s.uses += 1
            s.copies[hashOfHashes] = (copy.bytes, s.uses)
            return true
        }
        return known ? folder + "/" + hashOfHashes.hex : nil
    }

    /// Where a content's copy stands (`user.dofs.copy` shows it).
    public enum Progress: String, Sendable {
        case ready, making, none
    }

    public func progress(of hashOfHashes: SHA256Digest) -> Progress {
        state.withLock { s in s.copies[hashOfHashes] != nil ? .ready : s.making[hashOfHashes] != nil ? .making : .none }
    }

    /// Starts making the copy of `phf`'s content in the background, unless it exists or is being made
    /// (then nothing happens); otherwise `done` gets the outcome: `nil` once the copy is made, or why not.
    public func offer(_ phf: PiecesHashFile, done: @escaping @Sendable (Failure?) -> Void = { _ in }) {
        let size = phf.layout.contentLength
        let started = state.withLock { s -> Bool in
            guard !s.stopped, s.copies[phf.hashOfHashes] == nil, s.making[phf.hashOfHashes] == nil else { return false }
            s.making[phf.hashOfHashes] = size
            return true
        }
        guard started else { return }
        // Its bytes are counted from now: older copies give way, pieces do not.
        if store.overCap > 0 { _ = shed(store.overCap) }
        guard store.overCap == 0, leavesFreeSpace(after: size) else {
            _ = state.withLock { $0.making.removeValue(forKey: phf.hashOfHashes) }
            return done(.noRoom(bytes: size))
        }
        running.enter()
        let thread = Thread { [self] in
            defer { running.leave() }
            _ = clinux_background_thread()
            oneAtATime.wait()
            let outcome: Failure?
            do throws(Failure) {
                try make(phf)
                outcome = nil
            } catch {
                outcome = error
                if case .stopped = error {} else {
                    logger.warning("whole copy of \(phf.contentId) not made: \(error)")
                }
            }
            oneAtATime.signal()
            done(outcome)
        }
        thread.name = "dofs-whole-copy"
        thread.start()
    }

    /// Whether the file system keeps a tenth of its space free with `bytes` more written: a copy repeats
    /// what the pieces hold, so it never takes the last of the disk, capped or not.
    private func leavesFreeSpace(after bytes: Int) -> Bool {
        var fs = statvfs()
        guard statvfs(folder, &fs) == 0 else { return false }
        let blockSize = Int(fs.f_frsize)
        return (Int(fs.f_bavail) * blockSize - bytes) >= Int(fs.f_blocks) * blockSize / Self.freeSpaceDivisor
    }

    /// A copy leaves at least 1/`freeSpaceDivisor` of its file system free.
    static let freeSpaceDivisor = 10

    /// Makes the copy now, on the caller's thread.
    private func make(_ phf: PiecesHashFile) throws(Failure) {
        let tmp = folder + "/" + temporaryPrefix + phf.hashOfHashes.hex
        var kept = false
        defer {
            if !kept { unlink(tmp) }
            state.withLock { s in
                let size = s.making.removeValue(forKey: phf.hashOfHashes)
                if kept, let size { s.uses += 1; s.copies[phf.hashOfHashes] = (size, s.uses) }
            }
        }
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(.io(operation: "create", path: tmp, errno: errno)) }
        defer { close(fd) }
        // One buffer for every piece, read into past the page cache (`readWholePiece`).
        let buffer = PieceBuffer(count: PieceStore.wholePieceBufferBytes(phf.layout.pieceSize))
        for index in 0..<phf.layout.pieceCount {
            if state.withLock({ $0.stopped }) { throw .stopped }
            let length = phf.layout.length(ofPiece: index)
            let key = PieceStore.Key.verified(phf.pieces[index])
            let failure = buffer.fill { all -> Failure? in
                guard store.readWholePiece(key, length: length, into: all) else { return .pieceMissing(index: index) }
                let piece = UnsafeRawBufferPointer(rebasing: all[0..<length])
                guard SHA256.hash(piece) == phf.pieces[index] else {
                    store.remove(key)
                    return .pieceMismatch(index: index)
                }
                return FileSystem.writeAll(fd, piece, at: phf.layout.range(ofPiece: index).lowerBound)
                    .map { .io(.io(operation: "write", path: tmp, errno: $0)) }
            }
            if let failure { throw failure }
        }
        guard fsync(fd) == 0 else { throw .io(.io(operation: "fsync", path: tmp, errno: errno)) }
        guard rename(tmp, folder + "/" + phf.hashOfHashes.hex) == 0 else {
            throw .io(.io(operation: "rename", path: tmp, errno: errno))
        }
        kept = true
        logger.debug("whole copy of \(phf.contentId) made: \(phf.layout.contentLength) bytes")
    }

    /// Deletes the copy of `hashOfHashes` (a reader holding it open keeps reading it); its bytes, if any.
    @discardableResult
    public func remove(_ hashOfHashes: SHA256Digest) -> Int {
        guard let copy = state.withLock({ $0.copies.removeValue(forKey: hashOfHashes) }) else { return 0 }
        unlink(folder + "/" + hashOfHashes.hex)
        return copy.bytes
    }

    /// Every content with a copy.
    public var all: [SHA256Digest] { state.withLock { Array($0.copies.keys) } }

    /// Whether the copy of `phf`'s content holds exactly the content's verified bytes: each piece's
    /// range hashed again (`dofs verify`). False when there is no copy.
    public func matches(_ phf: PiecesHashFile) -> Bool {
        let path = folder + "/" + phf.hashOfHashes.hex
        guard FileSystem.regularFileSize(path) == phf.layout.contentLength else { return false }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: phf.layout.pieceSize)
        for index in 0..<phf.layout.pieceCount {
            let range = phf.layout.range(ofPiece: index)
            let intact = buffer.withUnsafeMutableBytes { bytes in
                pread(fd, bytes.baseAddress!, range.count, off_t(range.lowerBound)) == range.count
                    && SHA256.hash(UnsafeRawBufferPointer(rebasing: bytes[0..<range.count])) == phf.pieces[index]
            }
            guard intact else { return false }
        }
        return true
    }

    /// Stops making copies: the one being made is abandoned at its next piece (and deleted).
    public func stop() {
        state.withLock { $0.stopped = true }
        running.wait()
    }

    // MARK: DerivedSpace

    public var derivedBytes: Int { state.withLock { $0.bytes } }

    public func shed(_ bytes: Int) -> Int {
        var freed = 0
        while freed < bytes {
            let oldest = state.withLock { s in s.copies.min { $0.value.used < $1.value.used }?.key }
            guard let oldest else { break }
            freed += remove(oldest)
        }
        return freed
    }
}
