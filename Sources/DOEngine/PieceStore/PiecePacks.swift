import CLinux
import DOCore
import Foundation
import Synchronization

/// Small verified pieces appended to pack files (`packs/<n>.pack`) instead of a file each.
///
/// Why: a tree of small files made one piece file per file, and creating a file is an ext4 inode
/// allocation, which after many deletions scans bitmaps past recently freed inodes (`ext4_create`,
/// `find_get_block_common`): 15-35% of a cold `cat`'s daemon CPU (`bench/RESULTS.md`, small files),
/// plus a rename per piece at its group commit.
///
/// ## Contract
/// - A pack holds pieces' bytes, each starting on a `blockBytes` boundary (so punching a piece's range
///   frees every block it took, as deleting its file would), nothing else. Its list (`packs/<n>.list`) says what lies
///   where, in records of `recordBytes`: `[kind: 1][0: 3][length: 4][offset: 8][digest: 32][check: 8]`
///   (little-endian; the check is the first 8 bytes of SHA-256 of the 48 before). Kind `stored`: the
///   piece is there; kind `dropped`: it is not any more (evicted or removed).
/// - A `stored` record is written only after a `syncfs` covered the piece's bytes (`list`, called by
///   the `GroupCommitter` after its sync): a listed piece is durable, as a renamed piece file is.
/// - A dropped piece's range is punched out of its pack (its disk space returned) only after a
///   `syncfs` covered its `dropped` record (`takeUnpunched` before the sync, `punch` after), so no
///   restart lists a range that reads as zeros. One `syncfs` covers every earlier write, so every record
///   before a durable one is durable too: a torn tail (cut off at open) holds no record whose range was
///   punched.
/// - Reads are not guarded against a punch: the store checks after each read that the piece is still
///   in its index at the same place (it leaves the index before it can be dropped, so before a punch).
/// - Each run appends to a new pack (and starts another past `maxPackBytes`), so nothing is appended
///   after a crash's unlisted bytes; a pack with no listed piece left is deleted at open.
/// - Used only where the file system punches holes (probed at open); elsewhere every piece gets a file.
/// - One process per cache folder (the caller holds the `CacheLock`). Descriptors stay open for the
///   store's life, so a reader's descriptor is never closed under it.
final class PiecePacks: Sendable {
    /// Where a packed piece lies.
    struct Slot: Hashable, Sendable {
        var pack: Int
        var offset: Int
        var length: Int
    }

    enum RecordKind: UInt8 {
        case stored = 0x41  // "A"
        case dropped = 0x44  // "D"
    }

    static let recordBytes = 56
    /// Pieces start on this boundary: 4096 is ext4's and tmpfs's block (and a page).
    static let blockBytes = 4096

    static func roundUp(_ n: Int) -> Int { (n + blockBytes - 1) / blockBytes * blockBytes }

    private struct Pack {
        var data: Int32
        var list: Int32
    }

    private struct State {
        var packs: [Int: Pack] = [:]
        /// The pack appended to in this run (none until the first piece) and its length.
        var current: Int?
        var end = 0
        var nextPack: Int
        /// Dropped ranges whose record is written, waiting for a sync before their punch.
        var unpunched: [Slot] = []
    }

    let folder: String
    private let maxPackBytes: Int
    private let state: Mutex<State>

    /// Opens the packs in `folder` and returns them with every piece they list; `nil` when the file
    /// system cannot punch holes (the store then writes a file per piece).
    static func open(folder: String, maxPackBytes: Int) throws -> (PiecePacks, [(SHA256Digest, Slot)])? {
        try FileSystem.makeDirectories(folder)
        guard punchesHoles(folder) else { return nil }
        var listed: [(SHA256Digest, Slot)] = []
        var packs: [Int: Pack] = [:]
        var highest = 0
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        // A list that cannot be read, or a pack that cannot be opened, fails the whole open: the
        // descriptors of the packs opened before it are closed here, since no store will own them.
        var opened = false
        defer {
            if !opened { packs.values.forEach { close($0.data); close($0.list) } }
        }
        for name in names {
            let parts = name.split(separator: ".")
            guard parts.count == 2, let n = Int(parts[0]) else { continue }
            highest = max(highest, n)
            guard parts[1] == "list" else {
                if parts[1] == "pack", !names.contains("\(n).list") { unlink(folder + "/" + name) }
                continue
            }
            let pieces = try readList(folder: folder, pack: n)
            guard !pieces.isEmpty else {
                unlink("\(folder)/\(n).pack")
                unlink("\(folder)/\(n).list")
                continue
            }
            let data = Glibc.open("\(folder)/\(n).pack", O_RDWR | O_CLOEXEC)
            let list = Glibc.open("\(folder)/\(n).list", O_WRONLY | O_APPEND | O_CLOEXEC)
            guard data >= 0, list >= 0 else {
                let e = errno
                if data >= 0 { close(data) }
                if list >= 0 { close(list) }
                throw PieceStore.Failure.io(operation: "open", path: "\(folder)/\(n).pack", errno: e)
            }
            packs[n] = Pack(data: data, list: list)
            listed += pieces
        }
        let store = PiecePacks(folder: folder, maxPackBytes: maxPackBytes, state: State(packs: packs, nextPack: highest + 1))
        opened = true
        return (store, listed)
    }

    private init(folder: String, maxPackBytes: Int, state: State) {
        self.folder = folder
        self.maxPackBytes = maxPackBytes
        self.state = Mutex(state)
    }

    deinit {
        state.withLock { s in
            for pack in s.packs.values {
                close(pack.data)
                close(pack.list)
            }
        }
    }

    /// Whether `folder`'s file system punches holes (tmpfs and ext4 do; some do not).
    private static func punchesHoles(_ folder: String) -> Bool {
        let probe = folder + "/probe"
        unlink(probe)
        let fd = Glibc.open(probe, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        defer {
            close(fd)
            unlink(probe)
        }
        let page = [UInt8](repeating: 1, count: 8192)
        guard pwrite(fd, page, page.count, 0) == page.count else { return false }
        return clinux_punch_hole(fd, 0, 4096) == 0
    }

    /// The pieces pack `n`'s list names and does not drop, inside the pack's length. A record that fails
    /// its check ends the list, and the file is cut there so later appends are readable.
    private static func readList(folder: String, pack n: Int) throws -> [(SHA256Digest, Slot)] {
        let path = "\(folder)/\(n).list"
        let bytes = FileSystem.readFile(path) ?? []
        let packLength = FileSystem.regularFileSize("\(folder)/\(n).pack") ?? 0
        var byOffset: [Int: (SHA256Digest, Int)] = [:]
        var at = 0
        while at + recordBytes <= bytes.count, let record = decode(bytes[at..<(at + recordBytes)]) {
            switch record.kind {
            case .stored: byOffset[record.slot.offset] = (record.digest, record.slot.length)
            case .dropped: byOffset[record.slot.offset] = nil
            }
            at += recordBytes
        }
        if at < bytes.count, truncate(path, off_t(at)) != 0 {
            throw PieceStore.Failure.io(operation: "truncate", path: path, errno: errno)
        }
        return byOffset.compactMap { offset, piece in
            offset + piece.1 <= packLength ? (piece.0, Slot(pack: n, offset: offset, length: piece.1)) : nil
        }
    }

    static func encode(_ kind: RecordKind, _ digest: SHA256Digest, _ slot: Slot) -> [UInt8] {
        var record = [kind.rawValue, 0, 0, 0]
        record += withUnsafeBytes(of: UInt32(slot.length).littleEndian, Array.init)
        record += withUnsafeBytes(of: UInt64(slot.offset).littleEndian, Array.init)
        record += digest.bytes
        record += SHA256.hash(record).bytes.prefix(8)
        return record
    }

    static func decode(_ record: ArraySlice<UInt8>) -> (kind: RecordKind, digest: SHA256Digest, slot: Slot)? {
        let r = Array(record)
        guard r.count == recordBytes, SHA256.hash(r[0..<48]).bytes.prefix(8).elementsEqual(r[48..<56]),
              let kind = RecordKind(rawValue: r[0]), let digest = SHA256Digest(bytes: Array(r[16..<48])) else { return nil }
        let length = r[4..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        let offset = r[8..<16].reversed().reduce(0) { $0 << 8 | Int($1) }
        return (kind, digest, Slot(pack: -1, offset: offset, length: length))
    }

    /// Appends `piece` to the current pack (readable at once, durable after the next `syncfs`, listed
    /// by `list`). A failed write leaves unlisted bytes, which nothing ever reads.
    func append(_ piece: PieceBuffer) throws -> Slot {
        let (fd, slot) = try state.withLock { s -> (Int32, Slot) in
            if s.current == nil || Self.roundUp(s.end) + piece.count > maxPackBytes {
                let n = s.nextPack
                let data = Glibc.open("\(folder)/\(n).pack", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                guard data >= 0 else { throw PieceStore.Failure.io(operation: "create", path: "\(folder)/\(n).pack", errno: errno) }
                let list = Glibc.open("\(folder)/\(n).list", O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                guard list >= 0 else {
                    let e = errno
                    close(data)
                    unlink("\(folder)/\(n).pack")
                    throw PieceStore.Failure.io(operation: "create", path: "\(folder)/\(n).list", errno: e)
                }
                s.packs[n] = Pack(data: data, list: list)
                s.nextPack += 1
                s.current = n
                s.end = 0
            }
            let slot = Slot(pack: s.current!, offset: Self.roundUp(s.end), length: piece.count)
            s.end = slot.offset + piece.count
            return (s.packs[slot.pack]!.data, slot)
        }
        if let e = piece.withUnsafeBytes({ FileSystem.writeAll(fd, $0, at: slot.offset) }) {
            throw PieceStore.Failure.io(operation: "write", path: "\(folder)/\(slot.pack).pack", errno: e)
        }
        return slot
    }

    /// Reads `length` bytes at `offset` within the piece at `slot`; false on a short or failed read.
    func read(_ slot: Slot, offset: Int, length: Int, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard let fd = state.withLock({ $0.packs[slot.pack]?.data }) else { return false }
        var done = 0
        while done < length {
            let n = pread(fd, buffer.baseAddress! + done, length - done, off_t(slot.offset + offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }

    /// Asks the kernel to start reading the piece at `slot` into the page cache.
    func readAhead(_ slot: Slot) {
        guard let fd = state.withLock({ $0.packs[slot.pack]?.data }) else { return }
        posix_fadvise(fd, off_t(slot.offset), off_t(slot.length), POSIX_FADV_WILLNEED)
    }

    /// Lists pieces whose bytes a `syncfs` made durable; returns those whose record could not be written.
    func list(_ pieces: [(SHA256Digest, Slot)]) -> Set<Slot> {
        var failed = Set<Slot>()
        let byPack = Dictionary(grouping: pieces, by: { $0.1.pack })
        state.withLock { s in
            for (n, items) in byPack {
                let records = items.flatMap { Self.encode(.stored, $0.0, $0.1) }
                guard let list = s.packs[n]?.list, records.withUnsafeBytes({ write(list, $0.baseAddress!, $0.count) }) == records.count else {
                    // A part of the records may be written: listed pieces are durable, so that is safe.
                    failed.formUnion(items.map(\.1))
                    continue
                }
            }
        }
        return failed
    }

    /// Records that the piece at `slot` is gone; its range is punched after the next sync. A record
    /// that cannot be written leaves the range as it is (still durable and whole if listed again).
    func drop(_ digest: SHA256Digest, _ slot: Slot) {
        let record = Self.encode(.dropped, digest, slot)
        state.withLock { s in
            guard let list = s.packs[slot.pack]?.list,
                  record.withUnsafeBytes({ write(list, $0.baseAddress!, $0.count) }) == record.count else { return }
            s.unpunched.append(slot)
        }
    }

    /// The dropped ranges so far: taken before a `syncfs`, punched (`punch`) after it.
    func takeUnpunched() -> [Slot] {
        state.withLock { s in
            defer { s.unpunched.removeAll() }
            return s.unpunched
        }
    }

    /// Puts back ranges taken for a sync that failed: the next sync punches them.
    func keepUnpunched(_ slots: [Slot]) {
        guard !slots.isEmpty else { return }
        state.withLock { $0.unpunched += slots }
    }

    /// Returns the disk space of ranges whose `dropped` record a `syncfs` made durable.
    func punch(_ slots: [Slot]) {
        for slot in slots {
            guard let fd = state.withLock({ $0.packs[slot.pack]?.data }) else { continue }
            _ = clinux_punch_hole(fd, slot.offset, Self.roundUp(slot.length))
        }
    }

    /// Syncs and punches every range dropped so far (at flush, and after a removal outside a commit).
    func settle() {
        let slots = takeUnpunched()
        guard !slots.isEmpty else { return }
        let fd = Glibc.open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return keepUnpunched(slots) }
        defer { close(fd) }
        if clinux_syncfs(fd) == 0 { punch(slots) } else { keepUnpunched(slots) }
    }
}
