import DOCore
import Foundation

/// The in-memory list of stored pieces, with sizes and recency for the size cap.
struct PieceIndex {
    private var sizes: [PieceStore.Key: Int] = [:]
    /// Recency counter per key; smallest = least recently used.
    private var lastUse: [PieceStore.Key: UInt64] = [:]
    private var clock: UInt64 = 0
    private(set) var totalBytes = 0

    var count: Int { sizes.count }
    var allKeys: [PieceStore.Key] { Array(sizes.keys) }

    func contains(_ key: PieceStore.Key) -> Bool { sizes[key] != nil }

    mutating func insert(_ key: PieceStore.Key, size: Int) {
        if let old = sizes.updateValue(size, forKey: key) { totalBytes -= old }
        totalBytes += size
        touch(key)
    }

    mutating func touch(_ key: PieceStore.Key) {
        clock += 1
        lastUse[key] = clock
    }

    mutating func remove(_ key: PieceStore.Key) {
        if let old = sizes.removeValue(forKey: key) { totalBytes -= old }
        lastUse.removeValue(forKey: key)
    }

    /// Removes least-recently-used keys until the total fits `cap`; returns them for deletion on disk.
    mutating func evict(toFit cap: Int, keep: PieceStore.Key) -> [PieceStore.Key] {
        guard totalBytes > cap else { return [] }
        var victims: [PieceStore.Key] = []
        for (key, _) in lastUse.sorted(by: { $0.value < $1.value }) where key != keep {
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
                idx.insert(.verified(digest), size: size)
            }
        }
        let simple = root + "/simple"
        for content in (try? fm.contentsOfDirectory(atPath: simple)) ?? [] {
            for name in (try? fm.contentsOfDirectory(atPath: simple + "/" + content)) ?? [] {
                guard let i = Int(name), let size = FileSystem.regularFileSize("\(simple)/\(content)/\(name)") else { continue }
                idx.insert(.unverified(content: content, index: i), size: size)
            }
        }
        return idx
    }
}
