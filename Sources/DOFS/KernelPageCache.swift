import CFuse3
import DOCore
import Dispatch
import Synchronization

/// Puts verified contents into the kernel's page cache before anyone reads them (FUSE_NOTIFY_STORE),
/// so their reads never reach dofs.
///
/// Used for the small files fetched ahead of a folder read in order: without it, each still cost its
/// reader a READ round trip, answered from memory by a FUSE worker that had to get a core while the
/// fetches of the files ahead ran beside it (`bench/RESULTS.md`, small files). A filled file opens as
/// before (OPEN still reaches dofs, so readers are still counted) and is read like a warm one.
///
/// Contract: only verified bytes of a whole content are given here. Whole, because the kernel marks a
/// partial last page valid only when the data reaches the file's end; verified, because the mount opens
/// files with `keep_cache` (contents never change), so a filled page is served for as long as the kernel
/// keeps it.
///
/// The fills run on one serial queue, never on a thread that answers requests: the kernel fills a page
/// under its lock, and a page being read is locked until its READ is answered, so a fill on a thread
/// that answers that READ would wait for itself. Fills stop (`detach`) before the session is destroyed.
final class KernelPageCache: Sendable {
    private let queue = DispatchQueue(label: "dofs.kernel-page-cache", qos: .utility)
    /// The libfuse session while the mount serves (set before its loop starts, cleared after it ends).
    private let session = Mutex<SessionPointer?>(nil)

    private struct SessionPointer: @unchecked Sendable { let raw: OpaquePointer }

    /// One file's whole content for the kernel, and what to do once it took it.
    private struct Fill: Sendable {
        let ino: UInt64
        let bytes: PieceBuffer
        let filled: @Sendable () -> Void
    }

    /// Fills the kernel declined because it did not know the file yet: fetched ahead of its folder's
    /// listing (the first files of the folder a tree walk reads next). Tried once more at the next open
    /// in that folder (`retryDeclined`), by when the folder was listed. Oldest fills first out, past
    /// `declinedBytesKept` (a single-piece file can be a whole 1 MiB piece).
    private let declined = Mutex<(folders: [(folder: UInt64, fills: [Fill])], bytes: Int)>(([], 0))
    static let declinedBytesKept = 4 << 20

    /// Starts filling through `session` (before the loop serves).
    func attach(_ session: OpaquePointer) {
        self.session.withLock { $0 = SessionPointer(raw: session) }
    }

    /// Ends filling; returns once no fill is running, so the session may be destroyed.
    func detach() {
        queue.sync { session.withLock { $0 = nil } }
    }

    /// Fills the page cache of inode `ino` (in folder `folder`) with its whole content, `bytes`, soon, and
    /// calls `filled` if the kernel took it. A kernel that holds no such inode (not listed or looked up
    /// yet, or forgotten) declines; the fill is tried once more at the next open in `folder`, and if
    /// declined again, its reader asks dofs as before.
    func fill(ino: UInt64, folder: UInt64, with bytes: PieceBuffer, filled: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            let fill = Fill(ino: ino, bytes: bytes, filled: filled)
            if !store(fill) { keepDeclined(fill, folder: folder) }
        }
    }

    /// Tries once more the fills the kernel declined for files of `folder` (a file of it was just opened,
    /// so the folder was listed or looked up by now).
    func retryDeclined(in folder: UInt64) {
        let fills = declined.withLock { kept -> [Fill] in
            guard let at = kept.folders.firstIndex(where: { $0.folder == folder }) else { return [] }
            let fills = kept.folders.remove(at: at).fills
            kept.bytes -= fills.reduce(0) { $0 + $1.bytes.count }
            return fills
        }
        guard !fills.isEmpty else { return }
        queue.async { [self] in
            for fill in fills { _ = store(fill) }
        }
    }

    /// One fill, on `queue`; whether the kernel took it.
    private func store(_ fill: Fill) -> Bool {
        guard let se = session.withLock({ $0 }) else { return false }
        let rc = fill.bytes.withUnsafeBytes { b in cfuse_notify_store(se.raw, fuse_ino_t(fill.ino), 0, b.baseAddress, b.count) }
        FuseMetrics.pageCacheFills[rc == 0 ? .filled : .declined]?.increment()
        if rc == 0 { fill.filled() }
        return rc == 0
    }

    private func keepDeclined(_ fill: Fill, folder: UInt64) {
        declined.withLock { kept in
            if let at = kept.folders.firstIndex(where: { $0.folder == folder }) {
                kept.folders[at].fills.append(fill)
            } else {
                kept.folders.append((folder, [fill]))
            }
            kept.bytes += fill.bytes.count
            while kept.bytes > Self.declinedBytesKept, !kept.folders.isEmpty {
                let oldest = kept.folders[0].fills.removeFirst()
                kept.bytes -= oldest.bytes.count
                if kept.folders[0].fills.isEmpty { kept.folders.removeFirst() }
            }
        }
    }
}
