import CLinux
import DOCore
import Foundation
import Logging
import Synchronization

/// Makes staged piece files durable in batches: one `syncfs` for many pieces, then the renames.
///
/// Why: an `fsync` per 1 MiB piece costs ~9 ms on the disks measured here, which capped a cold read at
/// ~136 MB/s. Readers do not need durability, only completeness, and a staged piece is complete and
/// readable from its temporary file at once; what must never happen is a piece reaching its final name
/// before its bytes are on disk. So pieces wait in `tmp/` until one `syncfs` covers a whole batch, and
/// only then are renamed into place. A crash before that loses the batch (deleted at the next start),
/// never leaves a half piece under a final name.
final class GroupCommitter: @unchecked Sendable {
    struct Staged: Sendable {
        enum Place: Sendable {
            /// A piece file, renamed from `tmpPath` to `finalPath` once durable.
            case file(tmpPath: String, finalPath: String)
            /// A piece appended to a pack, listed there once durable.
            case pack(PiecePacks.Slot)
        }

        var key: PieceStore.Key
        var place: Place
    }

    private let condition = NSCondition()
    private var queue: [Staged] = []
    private var busy = false
    /// Set by `flush`: commit what is queued now, without waiting for more pieces to gather.
    private var urgent = false
    private let syncDirectory: String
    private let packs: PiecePacks?
    private let logger: Logger
    private let repeating = RepeatingLog()
    private let onCommitted: @Sendable ([Staged], [Staged]) -> Void
    /// Shard folders known to exist: creating one costs a path walk, so each is made once per run.
    private var madeDirectories = Set<String>()

    /// `onCommitted` runs on the committer thread after each batch with the items that reached their
    /// final names and those that failed (their temporary files are gone).
    /// Pack pieces are listed in `packs` after the sync, and ranges dropped from packs before the
    /// sync are punched after it.
    init(syncDirectory: String, packs: PiecePacks?, logger: Logger,
         onCommitted: @escaping @Sendable (_ done: [Staged], _ failed: [Staged]) -> Void) {
        self.syncDirectory = syncDirectory
        self.packs = packs
        self.logger = logger
        self.onCommitted = onCommitted
        let thread = Thread { [self] in run() }
        thread.name = "dofs-commit"
        thread.start()
    }

    func enqueue(_ item: Staged) {
        condition.lock()
        queue.append(item)
        // Only the first piece of a batch wakes the committer: it waits for an empty queue to fill, and
        // while it gathers a batch (a timed wait) or commits one it looks at the queue again by itself.
        // Waking it for every piece cost a futex wake and a context switch per small file. Broadcast:
        // a `flush` may be waiting on the same condition, and must not take the wake-up; a flush waits
        // for the queue to empty, which an enqueue never brings about.
        if queue.count == 1 { condition.broadcast() }
        condition.unlock()
    }

    /// Blocks until everything enqueued so far is durable (at unmount, and when staged pieces fill
    /// the cache's cap). The batch is committed at once, without the gathering delay.
    func flush() {
        condition.lock()
        urgent = true
        condition.broadcast()
        while !queue.isEmpty || busy { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
            // Let a burst of pieces gather so one sync covers many of them, unless someone waits.
            let gathered = Date(timeIntervalSinceNow: 0.02)
            while !urgent, condition.wait(until: gathered) {}
            urgent = false
            let batch = queue
            queue.removeAll()
            busy = true
            condition.unlock()

            let (done, failed) = commit(batch)
            onCommitted(done, failed)

            condition.lock()
            busy = false
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The folder part of an absolute path (a byte search: `NSString`'s path methods cost a few
    /// microseconds per piece).
    static func folder(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        return String(path[..<slash])
    }

    /// Syncs, then renames the batch's piece files and lists its pack pieces: what reached its final
    /// place, and what failed (its bytes are not reachable by any name after a restart).
    private func commit(_ batch: [Staged]) -> (done: [Staged], failed: [Staged]) {
        let unpunched = packs?.takeUnpunched() ?? []
        let fd = open(syncDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 || clinux_syncfs(fd) != 0 {
            repeating.log(logger, .error, kind: "sync", "piece store: cannot sync \(syncDirectory): \(String(cString: strerror(errno))); pieces stay uncommitted")
            if fd >= 0 { close(fd) }
            packs?.keepUnpunched(unpunched)
            for item in batch { if case .file(let tmp, _) = item.place { unlink(tmp) } }
            return ([], batch)
        }
        close(fd)
        packs?.punch(unpunched)
        var done: [Staged] = [], failed: [Staged] = [], packed: [(SHA256Digest, PiecePacks.Slot)] = []
        for item in batch {
            switch item.place {
            case .pack(let slot):
                guard case .verified(let digest) = item.key else { failed.append(item); continue }
                packed.append((digest, slot))
            case .file(let tmp, let finalPath):
                do {
                    let dir = Self.folder(of: finalPath)
                    if !madeDirectories.contains(dir) {
                        try FileSystem.makeDirectories(dir)
                        madeDirectories.insert(dir)
                    }
                    guard rename(tmp, finalPath) == 0 else {
                        throw PieceStore.Failure.io(operation: "rename", path: finalPath, errno: errno)
                    }
                    done.append(item)
                } catch {
                    repeating.log(logger, .error, kind: "rename", "piece store: \(error)")
                    unlink(tmp)
                    failed.append(item)
                }
            }
        }
        if let packs, !packed.isEmpty {
            let unlisted = packs.list(packed)
            if !unlisted.isEmpty { repeating.log(logger, .error, kind: "list", "piece store: cannot list \(unlisted.count) packed piece(s) in \(packs.folder)") }
            for item in batch {
                guard case .pack(let slot) = item.place, case .verified = item.key else { continue }
                if unlisted.contains(slot) { failed.append(item) } else { done.append(item) }
            }
        }
        return (done, failed)
    }
}
