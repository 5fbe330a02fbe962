import DOCore
import Foundation
import Synchronization

/// Copies of catalog-embedded pieces hash files, and their uses, appended to one file
/// (`metadata/copies.log`) instead of a file each.
///
/// Why: a tree of small files makes one copy per file, and creating a file is an inode allocation,
/// which ext4 makes costly after many deletions (`recently_deleted`, `find_inode_bit`): half of a cold
/// `cat`'s daemon CPU went to `ext4_create` (`bench/RESULTS.md`, small files), and the copies were half
/// of those creations.
///
/// ## Contract
/// - A record is `[kind: 1][payload length: 4, LE][payload][first 8 bytes of SHA-256 of all before]`.
///   Kind 1, a copy: the PHF's HashOfHashes (32), when it was copied (8, seconds since 1970, LE), its
///   JSON. Kind 2, a use: the HashOfHashes, the instant.
/// - Records are gathered in memory and written to the end together, once `flushAtBytes` of them wait
///   (and at `flush`, which the node calls at unmount, and at `deinit`): a cold `cat` of a tree opens
///   files from several FUSE threads at once, and a `write` per open, under the lock, was a lock wait
///   and a system call per file. A waiting record is read from memory, so nothing in this process
///   tells the two apart.
/// - Nothing is synced, and a crash loses the waiting records: losing a copy costs nothing (the next
///   open copies it again from its catalog entry), nor does a use (the date before it stands). What a
///   crash can also leave is a torn or garbled tail: opening stops at the first record whose check
///   fails and cuts the file there, so later appends are readable. A copy is still checked when loaded
///   (`MetadataStore.load` parses it and compares its HashOfHashes), and one that fails is forgotten and
///   copied again.
/// - The last use of a content is its latest record's instant. Use records are folded into the copies
///   when the store opens once they are more than the copies and the file is past `compactAtBytes`
///   (the file is rewritten with one record per copy, durably, and renamed over the old one).
/// - One process per cache folder (the caller holds the `CacheLock`): opening cuts the file.
final class PiecesHashFileCopies: Sendable {
    private struct Entry {
        /// Where the copy's JSON lies in the file.
        var offset: Int
        var length: Int
        var lastUsed: Int64
    }

    private struct State {
        var entries: [SHA256Digest: Entry] = [:]
        /// Where the next record goes: the file's length with the waiting records.
        var end = 0
        /// Records not written yet; they start at `end - waiting.count` in the file.
        var waiting: [UInt8] = []
        /// The copies among them, forgotten if their write fails.
        var waitingCopies: [SHA256Digest] = []

        var written: Int { end - waiting.count }
    }

    static let copyKind: UInt8 = 1
    static let useKind: UInt8 = 2
    static let checkBytes = 8
    /// Below this the use records are left alone: rewriting costs more than it saves.
    static let compactAtBytes = 1 << 20
    /// Records wait in memory up to this many bytes: about forty copies of one-piece PHFs, so a cold
    /// tree makes one `write` per forty files, and a crash loses at most that many copies.
    static let flushAtBytes = 16 << 10

    let path: String
    private let fd: Int32
    private let state: Mutex<State>

    init(path: String) throws {
        self.path = path
        var bytes = FileSystem.readFile(path) ?? []
        var (parsed, uses) = Self.parse(bytes)
        if uses > parsed.entries.count, bytes.count >= Self.compactAtBytes {
            // One record per copy, dated with its last use; the old file stays until the new one is whole.
            var compacted: [UInt8] = []
            for (hoh, entry) in parsed.entries {
                compacted += Self.encode(kind: Self.copyKind, hoh.bytes + Self.bytes(of: entry.lastUsed)
                                         + Array(bytes[entry.offset..<(entry.offset + entry.length)]))
            }
            // A rewrite that fails (a full disk) leaves the file as it was: it is only longer.
            if (try? FileSystem.replaceDurably(path, with: compacted)) != nil {
                bytes = compacted
                (parsed, uses) = Self.parse(bytes)
            }
        }
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PieceStore.Failure.io(operation: "open", path: path, errno: errno) }
        if parsed.end < bytes.count { _ = ftruncate(fd, off_t(parsed.end)) }
        state = Mutex(parsed)
    }

    /// The whole records of `bytes` (up to the first that fails its check) and how many were uses.
    private static func parse(_ bytes: [UInt8]) -> (State, uses: Int) {
        var parsed = State()
        var uses = 0
        var at = 0
        while let record = Self.record(in: bytes, at: at) {
            let payload = record.payload
            guard let hoh = SHA256Digest(bytes: Array(bytes[payload.lowerBound..<(payload.lowerBound + 32)])) else { break }
            let time = Self.int64(bytes, at: payload.lowerBound + 32)
            if record.kind == Self.copyKind {
                parsed.entries[hoh] = Entry(offset: payload.lowerBound + 40, length: payload.count - 40, lastUsed: time)
            } else {
                parsed.entries[hoh]?.lastUsed = time
                uses += 1
            }
            at = record.next
        }
        parsed.end = at
        return (parsed, uses)
    }

    deinit {
        state.withLock { try? writeWaiting(&$0) }
        close(fd)
    }

    /// The record starting at `at`, when it is whole and its check holds.
    private static func record(in bytes: [UInt8], at: Int) -> (kind: UInt8, payload: Range<Int>, next: Int)? {
        guard bytes.count - at >= 5 + checkBytes else { return nil }
        let kind = bytes[at]
        let length = Int(UInt32(bytes[at + 1]) | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3]) << 16 | UInt32(bytes[at + 4]) << 24)
        let minimum = kind == copyKind ? 41 : kind == useKind ? 40 : Int.max
        guard length >= minimum, length <= bytes.count - at - 5 - checkBytes else { return nil }
        let end = at + 5 + length
        guard Array(SHA256.hash(Array(bytes[at..<end])).bytes.prefix(checkBytes)) == Array(bytes[end..<(end + checkBytes)]) else { return nil }
        return (kind, (at + 5)..<end, end + checkBytes)
    }

    private static func int64(_ bytes: [UInt8], at: Int) -> Int64 {
        (0..<8).reduce(Int64(0)) { $0 | Int64(bytes[at + $1]) << (8 * $1) }
    }

    private static func encode(kind: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let n = UInt32(payload.count)
        var record: [UInt8] = [kind, UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)]
        record += payload
        record += SHA256.hash(record).bytes.prefix(checkBytes)
        return record
    }

    private static func bytes(of value: Int64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    var hashes: [SHA256Digest] { state.withLock { Array($0.entries.keys) } }

    func lastUsed(_ hashOfHashes: SHA256Digest) -> Date? {
        state.withLock { $0.entries[hashOfHashes] }.map { Date(timeIntervalSince1970: TimeInterval($0.lastUsed)) }
    }

    /// The copy's JSON bytes, unchecked (the caller parses and checks them); `nil` when absent.
    func bytes(_ hashOfHashes: SHA256Digest) -> [UInt8]? {
        let (found, waiting) = state.withLock { s -> (Entry?, [UInt8]?) in
            guard let entry = s.entries[hashOfHashes] else { return (nil, nil) }
            guard entry.offset >= s.written else { return (entry, nil) }
            let from = entry.offset - s.written
            return (entry, Array(s.waiting[from..<(from + entry.length)]))
        }
        if let waiting { return waiting }
        guard let entry = found else { return nil }
        let out = [UInt8](unsafeUninitializedCapacity: entry.length) { buf, count in
            let n = pread(fd, buf.baseAddress!, entry.length, off_t(entry.offset))
            count = n == entry.length ? entry.length : 0
        }
        return out.isEmpty ? nil : out
    }

    /// Forgets a copy that failed its checks, so the next `append` writes it again.
    func forget(_ hashOfHashes: SHA256Digest) { _ = state.withLock { $0.entries.removeValue(forKey: hashOfHashes) } }

    /// Appends a copy of `phf`, used at `time`; nothing when one is kept already.
    func append(_ phf: PiecesHashFile, at time: Date = Date()) throws {
        let seconds = Int64(time.timeIntervalSince1970)
        let json = phf.jsonBytes()
        // Made before the lock: opens of many small files append at once from several FUSE threads.
        let record = Self.encode(kind: Self.copyKind, phf.hashOfHashes.bytes + Self.bytes(of: seconds) + json)
        try state.withLock { s in
            guard s.entries[phf.hashOfHashes] == nil else { return }
            let offset = try write(record, &s) + 5 + 40
            s.entries[phf.hashOfHashes] = Entry(offset: offset, length: json.count, lastUsed: seconds)
            s.waitingCopies.append(phf.hashOfHashes)
        }
    }

    /// A use within this many seconds of the last one recorded is not written again: the date serves
    /// the cache-age policy (`DOMaxCacheAge`, in days), and a warm `cat` of a tree would otherwise
    /// append a record per file.
    static let useResolutionSeconds: Int64 = 3600

    /// Records a use of a kept copy at `time`; false when there is no such copy.
    @discardableResult
    func markUsed(_ hashOfHashes: SHA256Digest, at time: Date = Date()) -> Bool {
        let seconds = Int64(time.timeIntervalSince1970)
        switch state.withLock({ $0.entries[hashOfHashes]?.lastUsed }) {
        case nil: return false
        case let last? where seconds - last < Self.useResolutionSeconds && seconds >= last: return true
        default: break
        }
        let record = Self.encode(kind: Self.useKind, hashOfHashes.bytes + Self.bytes(of: seconds))
        state.withLock { s in
            // A lost use record costs a date: the copy's earlier one stands.
            guard s.entries[hashOfHashes] != nil, (try? write(record, &s)) != nil else { return }
            s.entries[hashOfHashes]?.lastUsed = seconds
        }
        return true
    }

    /// Writes the waiting records to the file now.
    func flush() throws { try state.withLock { try writeWaiting(&$0) } }

    /// Adds a record at the end (under the lock); returns where it starts. It waits in memory, and is
    /// written with the others once `flushAtBytes` wait; a failed write throws for this record (its
    /// copy, if it is one, is not kept).
    private func write(_ record: [UInt8], _ s: inout State) throws -> Int {
        let start = s.end
        s.waiting += record
        s.end += record.count
        if s.waiting.count >= Self.flushAtBytes { try writeWaiting(&s) }
        return start
    }

    /// Writes every waiting record. A failed or short write is cut off again, so the file never keeps
    /// half a record in front of later ones, and the copies that waited are forgotten (the next open
    /// copies them again).
    private func writeWaiting(_ s: inout State) throws {
        guard !s.waiting.isEmpty else { return }
        let start = s.written
        let written = s.waiting.withUnsafeBytes { Foundation.write(fd, $0.baseAddress!, $0.count) }
        let complete = written == s.waiting.count
        let code = written < 0 ? errno : EIO
        if !complete {
            _ = ftruncate(fd, off_t(start))
            for hoh in s.waitingCopies { s.entries.removeValue(forKey: hoh) }
            s.end = start
        }
        s.waiting.removeAll(keepingCapacity: true)
        s.waitingCopies.removeAll(keepingCapacity: true)
        guard complete else { throw PieceStore.Failure.io(operation: "append", path: path, errno: code) }
    }
}
