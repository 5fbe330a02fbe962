import DOCore
import Foundation

/// The in-memory list of stored pieces: where each one is, its size, and recency for the size cap.
struct PieceIndex {
    /// A piece is readable from its temporary file as soon as it is staged, and from its final path
    /// once the group commit made it durable.
    enum Location: Equatable {
        case staged(tmpPath: String)
        case final
    }

    private var entries: [PieceStore.Key: (size: Int, location: Location)] = [:]
    /// Recency counter per key; smallest = least recently used.
    private var lastUse: [PieceStore.Key: UInt64] = [:]
    private var clock: UInt64 = 0
    private(set) var totalBytes = 0

    var count: Int { entries.count }
    var allKeys: [PieceStore.Key] { Array(entries.keys) }

    func contains(_ key: PieceStore.Key) -> Bool { entries[key] != nil }

    func location(_ key: PieceStore.Key) -> Location? { entries[key]?.location }

    mutating func insert(_ key: PieceStore.Key, size: Int, location: Location) {
        if let old = entries.updateValue((size, location), forKey: key) { totalBytes -= old.size }
        totalBytes += size
        touch(key)
    }

    mutating func promote(_ key: PieceStore.Key) {
        entries[key]?.location = .final
    }

    mutating func touch(_ key: PieceStore.Key) {
        clock += 1
        lastUse[key] = clock
    }

    mutating func remove(_ key: PieceStore.Key) {
        if let old = entries.removeValue(forKey: key) { totalBytes -= old.size }
        lastUse.removeValue(forKey: key)
    }

    /// Removes least-recently-used committed pieces until the total fits `cap`; returns them for
    /// deletion on disk. Staged pieces are about to be committed and are never chosen.
    mutating func evict(toFit cap: Int) -> [PieceStore.Key] {
        guard totalBytes > cap else { return [] }
        var victims: [PieceStore.Key] = []
        for (key, _) in lastUse.sorted(by: { $0.value < $1.value }) where entries[key]?.location == .final {
            if totalBytes <= cap { break }
            remove(key)
            victims.append(key)
        }
        return victims
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
