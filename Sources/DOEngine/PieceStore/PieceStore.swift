import CLinux
import DOCore
import Foundation
import Logging
import Synchronization

/// The local piece cache: every piece dofs has fetched, kept on disk across mounts and crashes.
///
/// ## Contract
/// - A piece becomes visible only at `commit`, which writes it whole to a temporary file in the same
///   file system (readable from there at once) and hands it to the `GroupCommitter`, which syncs a batch
///   of pieces to disk and only then renames them into place. A file at a piece's final path is
///   therefore complete and durable by construction; a crash (SIGKILL, power loss) can leave temporary
///   files, which the next start deletes, but never a half piece that looks whole.
/// - Small verified pieces (up to `PieceStoreConfiguration.packedPieceMaxBytes`) are appended to pack
///   files instead (`PiecePacks`: no file creation per piece), and listed there only after the group
///   commit's sync, the same promise as the rename: a listed piece is complete and durable. An evicted
///   or removed packed piece's range is punched out after a sync covered the record that drops it.
/// - Verified pieces are content-addressed: their path is their SHA-256 (`verified/ab/abcd…`), so
///   identical pieces of two contents are stored once, and a piece is only ever committed after its
///   bytes hashed to that name. Unverified (simple-mode) pieces live apart, under `simple/<content key>/`,
///   and can never be mistaken for verified ones.
/// - Piece files are written past the page cache when the file system allows (`PieceFileWriter`), and
///   the latest committed pieces stay in memory (`RecentPieces`, bounded in bytes): reads are answered
///   from there first. Those bytes are the committed ones, so they are as trusted as the file: the
///   very `PieceBuffer` the piece arrived in and was written from, not a copy.
/// - Reads open the file and `pread` it. POSIX keeps an open descriptor readable after an unlink, so
///   eviction never pulls bytes from under a reader that already opened the piece. A packed piece is
///   read from its pack and then looked up again: a read that overlapped its removal reports it absent.
/// - A size cap evicts least-recently-used pieces before each commit (making room for the new piece)
///   and after each group commit, and at open, so a smaller cap applies at once. Staged pieces cannot
///   be evicted until their group commit, so a commit that finds the cap full of them commits them at
///   once; room is reserved under one lock, so concurrent commits cannot overshoot together. On disk
///   the store holds more than the cap only by the pieces being written at that moment and packed
///   pieces evicted since the last group commit (their ranges are punched at the next one).
/// - The store does not own its folder: the caller holds the cache folder's `CacheLock` (one process
///   per cache), since opening a store deletes leftover temporary files, which in a folder shared
///   with a live mount would be that mount's staged pieces.
/// - Presence changes of verified pieces are reported to `PieceTally` watchers, so a content's piece
///   count is kept current instead of being counted on demand.
///
/// Thread-safe: FUSE threads read synchronously while engine tasks commit.
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
    private let index: SharedIndex
    private let committer: GroupCommitter
    private let packs: PiecePacks?
    private let packedPieceMaxBytes: Int
    private let writer: PieceFileWriter
    private let recent: RecentPieces
    private let logger: Logger
    private let watchers: TallyWatchers
    private let derived = DerivedSpaceLink()
    private let repeating = RepeatingLog()
    /// Name the temporary files of staged pieces: a prefix per store (random, made once), a counter.
    private let stagedPrefix = String(UUID().uuidString.prefix(8)) + "-"
    private let stagedNames = Atomic<Int>(0)

    /// Opens (creating if needed) the store under `root`, deleting leftovers of interrupted commits.
    public init(root: String, maxBytes: Int? = nil, configuration: PieceStoreConfiguration = .init(),
                logger: Logger = Logger(label: "dofs.store")) throws {
        self.root = root
        self.maxBytes = maxBytes
        self.logger = logger
        writer = PieceFileWriter(direct: configuration.directWrites, minimumBytes: configuration.directWriteMinBytes)
        let recent = RecentPieces(limit: configuration.recentPieceBytes)
        self.recent = recent
        for dir in ["verified", "simple", "tmp"] {
            try FileSystem.makeDirectories(root + "/" + dir)
        }
        // All 256 shard folders up front: creating a folder costs an inode allocation, which ext4 makes
        // expensive after many deletions (measured: a third of a cold read's CPU went to mkdir + create).
        for shard in 0..<256 {
            let name = Hex.encode([UInt8(shard)])
            if !FileManager.default.fileExists(atPath: "\(root)/verified/\(name)") {
                try FileSystem.makeDirectories("\(root)/verified/\(name)")
            }
        }
        let removed = try FileSystem.removeContents(of: root + "/tmp")
        if removed > 0 { logger.info("piece store: removed \(removed) unfinished piece file(s) left by an interrupted run") }
        var scanned = try PieceIndex.scan(root: root)
        let packs = configuration.packedPieceMaxBytes > 0
            ? try PiecePacks.open(folder: root + "/packs", maxPackBytes: configuration.packBytes) : nil
        self.packs = packs?.0
        packedPieceMaxBytes = packs == nil ? 0 : configuration.packedPieceMaxBytes
        for (digest, slot) in packs?.1 ?? [] {
            // A piece also kept as a file (written by a run with packs off) stays there.
            if scanned.contains(.verified(digest)) { packs?.0.drop(digest, slot) } else { scanned.insert(.verified(digest), size: slot.length, location: .packed(slot)) }
        }
        // A cap smaller than what is stored applies now, not at the next commit.
        let trimmed = maxBytes.map { scanned.evict(toFit: $0) } ?? []
        Self.delete(trimmed, root: root, packs: packs?.0)
        packs?.0.settle()
        if !trimmed.isEmpty { logger.notice("piece store: evicted \(trimmed.count) piece(s) to fit the cap of \(maxBytes ?? 0) bytes") }
        let index = SharedIndex(scanned)
        self.index = index
        let watchers = TallyWatchers()
        self.watchers = watchers
        let packStore = packs?.0
        let derived = self.derived
        committer = GroupCommitter(syncDirectory: root + "/tmp", packs: packStore, logger: logger) { done, failed in
            var gone: [Key] = []
            var orphans: [(key: Key, location: PieceIndex.Location)] = []
            let evicted = index.withLock { idx -> [(key: Key, location: PieceIndex.Location)] in
                for item in done {
                    // A piece removed while it was staged must not come back under its final name.
                    let staged = item.place.stagedLocation
                    if !idx.promote(item.key, from: staged) { orphans.append((item.key, staged.durable)) }
                }
                for item in failed where idx.location(item.key) == item.place.stagedLocation {
                    idx.remove(item.key)
                    gone.append(item.key)
                }
                return maxBytes.map { idx.evict(toFit: max(0, $0 - derived.bytes)) } ?? []
            }
            PieceStore.delete(evicted + orphans, root: root, packs: packStore)
            let evictedKeys = evicted.map(\.key)
            for key in gone + evictedKeys { recent.remove(key) }
            watchers.report(removed: gone + evictedKeys)
            if !evicted.isEmpty { logger.debug("piece store: evicted \(evicted.count) piece(s) to stay under \(maxBytes ?? 0) bytes") }
        }
        let summary = index.withLock { "\($0.count) piece(s), \($0.totalBytes) bytes" }
        logger.info("piece store at \(root): \(summary)")
    }

    /// Starts reporting presence changes of verified pieces to `tally` (for as long as it lives).
    func watch(_ tally: PieceTally) { watchers.add(tally) }

    /// Stored pieces of a simple-mode content: kept, not counted.
    public func simplePieceCount(content: String) -> Int { index.withLock { $0.simpleCount(content) } }

    public func contains(_ key: Key) -> Bool { index.withLock { $0.contains(key) } }

    public var totalBytes: Int { index.withLock { $0.totalBytes } }

    /// Whether large piece files are written past the page cache (false where the file system refuses).
    var writesDirectly: Bool { writer.writesDirectly }

    /// Stored pieces (verified and simple), kept by the index: O(1).
    public var pieceCount: Int { index.withLock { $0.count } }

    /// Reads `length` bytes at `offset` within a stored piece into `buffer`; `nil` if the piece is absent.
    ///
    /// A piece file that is shorter than asked for (damaged outside dofs) is dropped from the index and
    /// reported absent, so the caller fetches it again instead of serving short data.
    public func read(_ key: Key, offset: Int, length: Int, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        if let held = recentPieceBuffer(key), offset + length <= held.count {
            held.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
            return true
        }
        if let packs, let (location, slot) = packedLocation(key) {
            guard offset + length <= slot.length, packs.read(slot, offset: offset, length: length, into: buffer) else {
                forget(key, reason: "short read of \(slot.length) bytes at \(slot.offset) of pack \(slot.pack)")
                return false
            }
            // Its range is punched only after it left the index: still there at the same place, the
            // bytes read were the piece's.
            return index.withLock { idx in
                guard let now = idx.location(key), now == location || now == .packed(slot) else { return false }
                idx.touch(key)
                return true
            }
        }
        return withOpenPiece(key) { fd, path in
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
            return true
        } ?? false
    }

    /// Reads the whole stored piece `key` (`length` bytes) into `buffer`, past the page cache where the
    /// store writes past it (`O_DIRECT`); false when the piece is absent or short.
    ///
    /// For one pass over many pieces that nobody reads again from their files (a whole copy): a buffered
    /// read filled a page-cache page per 4 KiB and copied it out, a third of a copy's CPU
    /// (`bench/RESULTS.md`, passthrough), and pushed out of the page cache what readers had in it.
    /// `buffer` starts on a `PieceBuffer.alignment` boundary and holds `wholePieceBufferBytes(length)`.
    public func readWholePiece(_ key: Key, length: Int, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        let aligned = Self.wholePieceBufferBytes(length)
        precondition(Int(bitPattern: buffer.baseAddress) % PieceBuffer.alignment == 0 && buffer.count >= aligned,
                     "readWholePiece needs an aligned buffer of the rounded-up length")
        if writer.writesDirectly, recent.bytes(of: key) == nil, packedLocation(key) == nil {
            let direct = withOpenPiece(key, flags: clinux_o_direct()) { fd, path -> Bool? in
                var n = pread(fd, buffer.baseAddress!, aligned, 0)
                while n < 0 && errno == EINTR { n = pread(fd, buffer.baseAddress!, aligned, 0) }
                if n < 0 && errno == EINVAL { return nil }  // refused after all: read as usual below
                guard n == length else {
                    forget(key, reason: "short read of \(path)")
                    return false
                }
                return true
            }
            if let done = direct ?? nil { return done }
        }
        return read(key, offset: 0, length: length, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length]))
    }

    /// The buffer `readWholePiece` needs for a piece of `length` bytes: a direct read reads whole blocks.
    public static func wholePieceBufferBytes(_ length: Int) -> Int {
        (length + PieceBuffer.alignment - 1) / PieceBuffer.alignment * PieceBuffer.alignment
    }

    /// Runs `body` with an open descriptor of a stored piece file (for zero-copy replies); `nil` if
    /// absent or packed (a pack's range may be punched once the piece is evicted, which a reply spliced
    /// from it could not notice: packed pieces are small, and read with `read`). `flags` are added to
    /// the file's `O_RDONLY` open. The descriptor is closed when `body` returns.
    public func withOpenPiece<R>(_ key: Key, flags: Int32 = 0, _ body: (_ fd: Int32, _ path: String) -> R) -> R? {
        guard let location = index.withLock({ $0.location(key) }) else { return nil }
        switch location {
        case .packed, .packStaged: return nil
        case .staged, .final: break
        }
        var path = self.path(for: key)
        let fd: Int32
        if case .staged(let tmp) = location {
            // The committer renames a batch before it updates the index: a staged piece whose
            // temporary file is gone is already at its final path.
            let staged = open(tmp, O_RDONLY | O_CLOEXEC | flags)
            if staged >= 0 { path = tmp }
            fd = staged >= 0 || errno != ENOENT ? staged : open(path, O_RDONLY | O_CLOEXEC | flags)
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC | flags)
        }
        guard fd >= 0 else {
            // A file system that refuses the flags (`O_DIRECT` on tmpfs) says nothing about the piece.
            if flags != 0, errno == EINVAL { return nil }
            forget(key, reason: "cannot open \(path): \(String(cString: strerror(errno)))")
            return nil
        }
        defer { close(fd) }
        index.withLock { $0.touch(key) }
        return body(fd, path)
    }

    /// A piece committed lately, from memory (see `RecentPieces`), in the buffer it arrived in; `nil`
    /// when it is not held there.
    public func recentPieceBuffer(_ key: Key) -> PieceBuffer? {
        guard let held = recent.bytes(of: key) else { return nil }
        index.withLock { $0.touch(key) }
        return held
    }

    /// The same, copied into an array (the swarm's peer server, tests).
    public func recentPiece(_ key: Key) -> [UInt8]? { recentPieceBuffer(key)?.bytes }

    /// Asks the kernel to start reading a stored piece's file into the page cache, without waiting;
    /// nothing when the piece is in memory or absent.
    public func readAhead(_ key: Key) {
        guard recent.bytes(of: key) == nil else { return }
        if let packs, let (_, slot) = packedLocation(key) { return packs.readAhead(slot) }
        _ = withOpenPiece(key) { fd, _ in posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED) }
    }

    /// Lets go of the memory copy of a piece a sequential reader has read to its end: its file still
    /// has it, and the room is better spent on the pieces read next.
    public func releaseRecent(_ key: Key) { recent.remove(key) }

    /// Where a packed piece is (staged or listed); `nil` when absent or in a file of its own.
    private func packedLocation(_ key: Key) -> (PieceIndex.Location, PiecePacks.Slot)? {
        switch index.withLock({ $0.location(key) }) {
        case .packStaged(let slot)?: return (.packStaged(slot), slot)
        case .packed(let slot)?: return (.packed(slot), slot)
        default: return nil
        }
    }

    /// A whole stored piece, as long as the index says it is (`dofs verify`); `nil` if absent or short.
    public func storedPiece(_ key: Key) -> [UInt8]? {
        guard let size = index.withLock({ $0.size(of: key) }) else { return nil }
        return readPiece(key, length: size)
    }

    /// Reads a whole stored piece of `length` bytes; `nil` if absent or damaged.
    public func readPiece(_ key: Key, length: Int) -> [UInt8]? {
        if let held = recentPieceBuffer(key), held.count == length { return held.bytes }
        var ok = false
        let bytes = [UInt8](unsafeUninitializedCapacity: length) { buf, initialised in
            ok = read(key, offset: 0, length: length, into: UnsafeMutableRawBufferPointer(buf))
            initialised = ok ? length : 0
        }
        return ok ? bytes : nil
    }

    /// The same in a piece buffer: the one held in memory when there is one (no copy).
    public func readPieceBuffer(_ key: Key, length: Int) -> PieceBuffer? {
        if let held = recentPieceBuffer(key), held.count == length { return held }
        let piece = PieceBuffer(count: length)
        let ok = piece.fill { read(key, offset: 0, length: length, into: $0) }
        return ok ? piece : nil
    }

    /// Makes `bytes` the stored piece `key`: readable on return, durable after the next group commit
    /// (see the contract above). A full disk throws and leaves nothing behind.
    public func commit(_ key: Key, bytes: [UInt8]) throws {
        try commit(key, piece: PieceBuffer(copying: bytes))
    }

    /// Makes `piece` the stored piece `key`, writing the buffer itself (no copy) and keeping it in
    /// memory as the recent copy (see the contract above).
    public func commit(_ key: Key, piece bytes: PieceBuffer) throws {
        if contains(key) { return }
        // Make room first, so the new piece never takes the store over its cap. Staged pieces cannot
        // be evicted; when they would carry the store past the cap, commit them now (one sync, without
        // waiting to gather a batch) so they can be. Room is reserved under the index's lock, so commits
        // running at once never each count the same free room.
        var reserved = 0
        if let maxBytes {
            if !reserveRoom(bytes.count, cap: maxBytes, evenIfFull: false) {
                committer.flush()
                _ = reserveRoom(bytes.count, cap: maxBytes, evenIfFull: true)
            }
            reserved = bytes.count
        }
        let place: GroupCommitter.Staged.Place
        do {
            if let packs, case .verified = key, bytes.count <= packedPieceMaxBytes {
                place = .pack(try packs.append(bytes))
            } else {
                // This store's prefix and a counter name the temporary file: unique without a UUID per
                // piece (Foundation's `UUID()` opens and reads `/dev/urandom` each time).
                let tmp = root + "/tmp/" + stagedPrefix + String(stagedNames.add(1, ordering: .relaxed).newValue)
                try writer.write(bytes, to: tmp)
                place = .file(tmpPath: tmp, finalPath: path(for: key))
            }
        } catch {
            index.withLock { $0.reservedBytes -= reserved }
            throw error
        }
        recent.insert(key, bytes: bytes)
        let added = index.withLock { idx in
            idx.reservedBytes -= reserved
            return idx.insert(key, size: bytes.count, location: place.stagedLocation)
        }
        if added { watchers.report(added: key) }
        committer.enqueue(.init(key: key, place: place))
    }

    /// Deletes evicted or removed pieces on disk: a piece file is unlinked, a packed piece dropped from
    /// its pack (its range punched after the next sync). Staged pieces are the committer's to delete.
    static func delete(_ pieces: [(key: Key, location: PieceIndex.Location)], root: String, packs: PiecePacks?) {
        for (key, location) in pieces {
            switch location {
            case .final: unlink(path(for: key, root: root))
            case .packed(let slot): if case .verified(let digest) = key { packs?.drop(digest, slot) }
            case .staged, .packStaged: break
            }
        }
    }

    /// Counts `space` (whole copies) toward the cap from now on: it gives way first when pieces need room.
    public func attach(derived space: any DerivedSpace) { derived.attach(space) }

    /// Bytes stored, reserved and derived beyond the cap; 0 within it, or without a cap.
    public var overCap: Int {
        guard let maxBytes else { return 0 }
        return max(0, index.withLock { $0.totalBytes + $0.reservedBytes } + derived.bytes - maxBytes)
    }

    /// Evicts least-recently-used committed pieces until `size` more bytes fit under `cap` beside what
    /// is stored, reserved and derived (derived space gives way first), and reserves them; false
    /// (nothing reserved) when staged and reserved pieces alone leave no room, unless `evenIfFull`.
    private func reserveRoom(_ size: Int, cap: Int, evenIfFull: Bool) -> Bool {
        let over = index.withLock { $0.totalBytes + $0.reservedBytes } + derived.bytes + size - cap
        if over > 0 { derived.shed(over) }
        let cap = max(0, cap - derived.bytes)
        let (evicted, fits) = index.withLock { idx in
            let evicted = idx.evict(toFit: max(0, cap - idx.reservedBytes - size))
            let fits = idx.totalBytes + idx.reservedBytes + size <= cap
            if fits || evenIfFull { idx.reservedBytes += size }
            return (evicted, fits)
        }
        for victim in evicted { recent.remove(victim.key) }
        Self.delete(evicted, root: root, packs: packs)
        watchers.report(removed: evicted.map(\.key))
        return fits
    }

    /// Blocks until every committed piece is durable under its final name, and the ranges of packed
    /// pieces dropped so far are punched.
    public func flush() {
        committer.flush()
        packs?.settle()
    }

    /// Returns the disk space of packed pieces removed so far (one sync), instead of at the next group
    /// commit: after removals that no commit may follow (`dofs verify`, evicting a content).
    public func settleRemovals() { packs?.settle() }

    /// Removes a piece (for instance one found damaged by `dofs verify`). A packed piece's disk space
    /// returns at the next group commit or `settleRemovals`.
    public func remove(_ key: Key) {
        recent.remove(key)
        let location = index.withLock { $0.take(key) }
        if location != nil { watchers.report(removed: [key]) }
        switch location {
        case .packed?: Self.delete([(key, location!)], root: root, packs: packs)
        case .packStaged?: break  // the committer drops it once it is listed
        default: unlink(path(for: key))
        }
    }

    /// Every stored key, for scrubbing.
    public var keys: [Key] { index.withLock { $0.allKeys } }

    public func path(for key: Key) -> String { Self.path(for: key, root: root) }

    static func path(for key: Key, root: String) -> String {
        switch key {
        case .verified(let digest):
            let hex = digest.hex
            return "\(root)/verified/\(hex.prefix(2))/\(hex)"
        case .unverified(let content, let index):
            return "\(root)/simple/\(content)/\(index)"
        }
    }

    private func forget(_ key: Key, reason: String) {
        recent.remove(key)
        repeating.log(logger, .warning, kind: "drop", "piece store: dropping \(key): \(reason)")
        guard let location = index.withLock({ $0.take(key) }) else { return }
        watchers.report(removed: [key])
        if case .packed = location { Self.delete([(key, location)], root: root, packs: packs) }
    }
}

/// The index behind a lock, shared by the store and its committer thread.
///
/// Every change of the index goes through here, so this is where the cache-size gauges
/// (`dofs_cache_bytes`, `dofs_cache_pieces`) follow it.
final class SharedIndex: Sendable {
    private let mutex: Mutex<PieceIndex>

    init(_ index: consuming PieceIndex) {
        EngineMetrics.cacheBytes.record(index.totalBytes)
        EngineMetrics.cachePieces.record(index.count)
        mutex = Mutex(index)
    }

    func withLock<R>(_ body: (inout PieceIndex) -> R) -> R {
        mutex.withLock { index in
            let before = (index.count, index.totalBytes)
            let result = body(&index)
            if index.count != before.0 { EngineMetrics.cachePieces.record(index.count) }
            if index.totalBytes != before.1 { EngineMetrics.cacheBytes.record(index.totalBytes) }
            return result
        }
    }
}

extension GroupCommitter.Staged.Place {
    /// The index's location of a piece staged here.
    var stagedLocation: PieceIndex.Location {
        switch self {
        case .file(let tmp, _): return .staged(tmpPath: tmp)
        case .pack(let slot): return .packStaged(slot)
        }
    }
}

extension PieceIndex.Location {
    /// Where a staged piece is once its group commit is done.
    var durable: PieceIndex.Location {
        switch self {
        case .staged: return .final
        case .packStaged(let slot): return .packed(slot)
        case .final, .packed: return self
        }
    }
}

/// Bytes kept beside the pieces that count toward the store's cap (whole copies, `WholeCopies`), and
/// give way first when pieces need room.
public protocol DerivedSpace: AnyObject, Sendable {
    var derivedBytes: Int { get }
    /// Deletes at least `bytes` bytes of it if it can; returns how many it deleted.
    func shed(_ bytes: Int) -> Int
}

/// The store's link to its derived space: weak, since the space holds the store.
final class DerivedSpaceLink: Sendable {
    private struct Weak: @unchecked Sendable { weak var space: (any DerivedSpace)? }
    private let link = Mutex(Weak())

    func attach(_ space: any DerivedSpace) { link.withLock { $0.space = space } }

    var bytes: Int { link.withLock { $0.space }?.derivedBytes ?? 0 }

    func shed(_ bytes: Int) { _ = link.withLock { $0.space }?.shed(bytes) }
}
