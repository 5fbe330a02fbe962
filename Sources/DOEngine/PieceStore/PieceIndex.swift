import DOCore
import Foundation

/// The in-memory list of stored pieces: where each one is, its size, and recency for the size cap.
///
/// Every operation is O(1) except `evict`, which walks from the least recently used piece and stops as
/// soon as the total fits, and `scan`, which runs once at start. Recency is a doubly linked list threaded
/// through the entries (no sort, no clock), so no caller ever holds the index's lock over work
/// proportional to the cache's size.
struct PieceIndex {
    /// A piece is readable from its temporary file as soon as it is staged, and from its final path
    /// once the group commit made it durable.
    enum Location: Equatable {
        case staged(tmpPath: String)
        case final
        /// Appended to a pack, not yet listed there (see `PiecePacks`): readable, not durable.
        case packStaged(PiecePacks.Slot)
        /// Listed in its pack after a sync: durable.
        case packed(PiecePacks.Slot)

        /// Whether the piece's bytes are durable under its place, so eviction may take it.
        var isDurable: Bool {
            switch self {
            case .final, .packed: return true
            case .staged, .packStaged: return false
            }
        }
    }

    private struct Entry {
        var size: Int
        var location: Location
        /// Neighbours in recency order: `older` was used before this one, `newer` after.
        var older: PieceStore.Key?
        var newer: PieceStore.Key?
    }

    private var entries: [PieceStore.Key: Entry] = [:]
    private var oldest: PieceStore.Key?
    private var newest: PieceStore.Key?
    /// Pieces per simple-mode content, kept so that `user.dofs.pieces` never counts.
    private var simpleCounts: [String: Int] = [:]
    private(set) var totalBytes = 0
    /// Bytes promised to commits that are writing their piece now (see `PieceStore.commit`): counted
    /// against the cap with `totalBytes`, so that concurrent commits never each take the same room.
    var reservedBytes = 0

    var count: Int { entries.count }
    var allKeys: [PieceStore.Key] { Array(entries.keys) }

    func contains(_ key: PieceStore.Key) -> Bool { entries[key] != nil }

    func location(_ key: PieceStore.Key) -> Location? { entries[key]?.location }

    func size(of key: PieceStore.Key) -> Int? { entries[key]?.size }

    /// Stored pieces of the simple-mode content `content`.
    func simpleCount(_ content: String) -> Int { simpleCounts[content] ?? 0 }

    /// Adds or replaces `key`, as the most recently used; true when it was not there before.
    @discardableResult
    mutating func insert(_ key: PieceStore.Key, size: Int, location: Location) -> Bool {
        if let old = entries[key] {
            totalBytes += size - old.size
            entries[key]!.size = size
            entries[key]!.location = location
            touch(key)
            return false
        }
        entries[key] = Entry(size: size, location: location, older: newest, newer: nil)
        if let n = newest { entries[n]!.newer = key } else { oldest = key }
        newest = key
        totalBytes += size
        if case .unverified(let content, _) = key { simpleCounts[content, default: 0] += 1 }
        return true
    }

    /// Marks a staged piece durable; nothing unless `key` is still at `staged` (a piece removed and
    /// committed again meanwhile is elsewhere). True when promoted.
    @discardableResult
    mutating func promote(_ key: PieceStore.Key, from staged: Location) -> Bool {
        guard entries[key]?.location == staged else { return false }
        switch staged {
        case .staged: entries[key]!.location = .final
        case .packStaged(let slot): entries[key]!.location = .packed(slot)
        case .final, .packed: return false
        }
        return true
    }

    /// Marks `key` as the most recently used; nothing if absent.
    mutating func touch(_ key: PieceStore.Key) {
        guard newest != key, entries[key] != nil else { return }
        unlink(key)
        entries[key]!.older = newest
        entries[key]!.newer = nil
        if let n = newest { entries[n]!.newer = key } else { oldest = key }
        newest = key
    }

    /// Removes `key`; true when it was there.
    @discardableResult
    mutating func remove(_ key: PieceStore.Key) -> Bool { take(key) != nil }

    /// Removes `key`; where it was, `nil` when absent.
    mutating func take(_ key: PieceStore.Key) -> Location? {
        guard let old = entries[key] else { return nil }
        unlink(key)
        entries.removeValue(forKey: key)
        totalBytes -= old.size
        if case .unverified(let content, _) = key {
            let left = (simpleCounts[content] ?? 1) - 1
            simpleCounts[content] = left > 0 ? left : nil
        }
        return old.location
    }

    /// Removes least-recently-used committed pieces until the total fits `cap`; returns them, with
    /// where they were, for deletion on disk. Staged pieces are about to be committed and are never
    /// chosen (they are the newest, so the walk meets them last).
    mutating func evict(toFit cap: Int) -> [(key: PieceStore.Key, location: Location)] {
        var victims: [(key: PieceStore.Key, location: Location)] = []
        var cursor = oldest
        while totalBytes > cap, let key = cursor {
            cursor = entries[key]?.newer
            guard let location = entries[key]?.location, location.isDurable else { continue }
            remove(key)
            victims.append((key, location))
        }
        if !victims.isEmpty { EngineMetrics.cacheEvictions.increment(by: victims.count) }
        return victims
    }

    /// Detaches `key` from the recency list (its entry stays).
    private mutating func unlink(_ key: PieceStore.Key) {
        guard let e = entries[key] else { return }
        if let o = e.older { entries[o]!.newer = e.newer } else { oldest = e.newer }
        if let n = e.newer { entries[n]!.older = e.older } else { newest = e.older }
    }

    /// Rebuilds the index from the directory tree: only well-named files count.
    static func scan(root: String) throws -> PieceIndex {
        var idx = PieceIndex()
        let fm = FileManager.default
        let verified = root + "/verified"
        if let walker = fm.enumerator(atPath: verified) {
            while let rel = walker.nextObject() as? String {
                let name = (rel as NSString).lastPathComponent
                guard name.count == 64, let digest = SHA256Digest(hex: name),
                      let size = FileSystem.regularFileSize(verified + "/" + rel) else { continue }
                idx.insert(.verified(digest), size: size, location: .final)
            }
        }
        let simple = root + "/simple"
        for content in (try? fm.contentsOfDirectory(atPath: simple)) ?? [] {
            for name in (try? fm.contentsOfDirectory(atPath: simple + "/" + content)) ?? [] {
                guard let i = Int(name), let size = FileSystem.regularFileSize("\(simple)/\(content)/\(name)") else { continue }
                idx.insert(.unverified(content: content, index: i), size: size, location: .final)
            }
        }
        return idx
    }
}
