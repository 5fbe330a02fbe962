import DOCore
import Synchronization

/// The prefetches a node runs now: `dofs status` lists the background ones, `dofs cache evict` refuses
/// a content being prefetched, and shutdown cancels them (a cancelled prefetch starts no new piece).
final class ActivePrefetches: Sendable {
    private struct Entry {
        let path: String
        let hashOfHashes: SHA256Digest?
        let background: Bool
        var task: Task<Void, Never>?
    }

    private let entries = Mutex<(next: Int, running: [Int: Entry])>((0, [:]))

    /// Records a prefetch; call `end` with the answer when it stops.
    func begin(path: String, hashOfHashes: SHA256Digest?, background: Bool) -> Int {
        entries.withLock { e in
            let id = e.next
            e.next += 1
            e.running[id] = Entry(path: path, hashOfHashes: hashOfHashes, background: background)
            return id
        }
    }

    /// Attaches the task of a background prefetch (so shutdown can cancel it).
    func attach(_ task: Task<Void, Never>, to id: Int) {
        entries.withLock { $0.running[id]?.task = task }
    }

    func end(_ id: Int) {
        _ = entries.withLock { $0.running.removeValue(forKey: id) }
    }

    /// The verified contents prefetched now, with a path each.
    var running: [(SHA256Digest, String)] {
        entries.withLock { $0.running.values.compactMap { e in e.hashOfHashes.map { ($0, e.path) } } }
    }

    var backgroundPaths: [String] {
        entries.withLock { $0.running.values.filter(\.background).map(\.path).sorted() }
    }

    func cancelAll() async {
        let tasks = entries.withLock { $0.running.values.compactMap(\.task) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }
}
