import CLinux
import DOCore
import Foundation
import Synchronization

/// Writes piece files past the page cache (`O_DIRECT`) when the file system allows it.
///
/// Why: a buffered write copies every byte of a cold read into fresh page-cache pages, and on the
/// machines measured that copy was the largest single cost of a cold read (30-35% of the daemon's
/// CPU, `bench/results/read-20261202-002647.perf.txt`): the pages are new memory each time, and the
/// same bytes are already in the process, verified, about to be served from there (`RecentPieces`).
/// A direct write hands the disk the bytes without that copy.
///
/// Direct I/O needs the buffer, the length and the file offset aligned to the device's block. A
/// `PieceBuffer` is page-aligned, so its aligned part is written directly from the piece's own memory
/// (no copy: until 2026-12-02 each piece was first copied into a pooled aligned buffer, 6% of a cold
/// read's CPU); a piece's last partial block is written through the page cache (`O_DIRECT` cleared
/// on the open file). A file system that refuses `O_DIRECT` (tmpfs, some FUSE or network file
/// systems) is remembered and written to through the page cache from then on.
///
/// Like `FileSystem.writeFile`: a new file, removed on any failure (ENOSPC included), nothing
/// partial left behind. No fsync: the `GroupCommitter` makes batches durable.
final class PieceFileWriter: Sendable {
    /// Alignment of direct writes: 4096 is a multiple of every logical block size Linux disks report
    /// (512 or 4096), and a page; `PieceBuffer`s are aligned to it.
    static let alignment = PieceBuffer.alignment

    private let direct: Bool
    private let minimum: Int
    private let directRefused = Atomic(false)
    /// Direct writes at once, each holding a blocking thread (and one write lane of `PendingWrites`).
    /// Four wrote faster here (1,160 MB/s against 880 with `dd oflag=direct`), but four commits of one
    /// content at once each reserve room under a cache cap before any is staged and evictable, so a
    /// 4 MiB content stayed whole under a 2 MiB cap (`NodeOperationsTests`, 2 runs in 5); two, as before.
    static let concurrentWrites = 2
    private let slots = DispatchSemaphore(value: concurrentWrites)

    /// Writes directly when `direct`, for pieces of at least `minimumBytes` (and one block).
    init(direct: Bool, minimumBytes: Int) {
        self.direct = direct
        minimum = max(minimumBytes, Self.alignment)
    }

    /// Whether pieces of the minimum size and more go past the page cache (false once the file system refused).
    var writesDirectly: Bool { direct && !directRefused.load(ordering: .relaxed) }

    func write(_ piece: PieceBuffer, to path: String) throws {
        if writesDirectly, piece.count >= minimum {
            switch writeDirect(piece, to: path) {
            case .written: return
            case .failed(let failure): throw failure
            case .refused: directRefused.store(true, ordering: .relaxed)
            }
        }
        try FileSystem.writeFile(piece, to: path)
    }

    private enum DirectOutcome {
        case written
        case failed(PieceStore.Failure)
        /// The file system does not do direct I/O; nothing is left at `path`.
        case refused
    }

    private func writeDirect(_ piece: PieceBuffer, to path: String) -> DirectOutcome {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | clinux_o_direct(), 0o644)
        guard fd >= 0 else {
            return errno == EINVAL ? .refused : .failed(.io(operation: "create", path: path, errno: errno))
        }
        let aligned = piece.count / Self.alignment * Self.alignment
        var outcome = DirectOutcome.written
        slots.wait()
        let directFailure = piece.withUnsafeBytes { FileSystem.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[..<aligned]), at: 0) }
        slots.signal()
        if let e = directFailure {
            outcome = e == EINVAL ? .refused : .failed(.io(operation: "write", path: path, errno: e))
        } else if aligned < piece.count {
            // The last partial block: through the page cache, on the same descriptor.
            let flags = fcntl(fd, F_GETFL)
            if flags < 0 || fcntl(fd, F_SETFL, flags & ~clinux_o_direct()) != 0 {
                outcome = .failed(.io(operation: "fcntl", path: path, errno: errno))
            } else if let e = piece.withUnsafeBytes({ FileSystem.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[aligned...]), at: aligned) }) {
                outcome = .failed(.io(operation: "write", path: path, errno: e))
            }
        }
        if close(fd) != 0, case .written = outcome { outcome = .failed(.io(operation: "close", path: path, errno: errno)) }
        if case .written = outcome { return outcome }
        unlink(path)
        return outcome
    }
}
