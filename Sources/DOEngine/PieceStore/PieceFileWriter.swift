import CLinux
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
/// Direct I/O needs the buffer, the length and the file offset aligned to the device's block: the
/// bytes are copied once into an aligned buffer from a small pool (warm memory, reused), the aligned
/// part is written directly and a piece's last partial block is written through the page cache
/// (`O_DIRECT` cleared on the open file). A file system that refuses `O_DIRECT` (tmpfs, some FUSE or
/// network file systems) is remembered and written to through the page cache from then on.
///
/// Like `FileSystem.writeFile`: a new file, removed on any failure (ENOSPC included), nothing
/// partial left behind. No fsync: the `GroupCommitter` makes batches durable.
final class PieceFileWriter: Sendable {
    /// Alignment of direct writes: 4096 is a multiple of every logical block size Linux disks report
    /// (512 or 4096), and a page, so the pool's buffers suit both.
    static let alignment = 4096

    private let direct: Bool
    private let minimum: Int
    private let directRefused = Atomic(false)
    /// Direct writes at once. One disk gains nothing from more, and each holds an aligned copy of
    /// its piece: two bound that memory (and the blocking threads) however many pieces arrive. Four
    /// held 8 MiB of aligned buffers, and the daemon's peak memory on a cold read was over its
    /// 100 MiB target (`bench/read-bench.sh`); the cold read is bound by the CPU, not by the disk.
    static let concurrentWrites = 2
    private let slots = DispatchSemaphore(value: concurrentWrites)
    private let pool = AlignedBufferPool(alignment: alignment, keep: concurrentWrites)

    /// Writes directly when `direct`, for pieces of at least `minimumBytes` (and one block).
    init(direct: Bool, minimumBytes: Int) {
        self.direct = direct
        minimum = max(minimumBytes, Self.alignment)
    }

    /// Whether pieces of the minimum size and more go past the page cache (false once the file system refused).
    var writesDirectly: Bool { direct && !directRefused.load(ordering: .relaxed) }

    func write(_ bytes: [UInt8], to path: String) throws {
        if writesDirectly, bytes.count >= minimum {
            switch writeDirect(bytes, to: path) {
            case .written: return
            case .failed(let failure): throw failure
            case .refused: directRefused.store(true, ordering: .relaxed)
            }
        }
        try FileSystem.writeFile(bytes, to: path)
    }

    private enum DirectOutcome {
        case written
        case failed(PieceStore.Failure)
        /// The file system does not do direct I/O; nothing is left at `path`.
        case refused
    }

    private func writeDirect(_ bytes: [UInt8], to path: String) -> DirectOutcome {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | clinux_o_direct(), 0o644)
        guard fd >= 0 else {
            return errno == EINVAL ? .refused : .failed(.io(operation: "create", path: path, errno: errno))
        }
        let aligned = bytes.count / Self.alignment * Self.alignment
        slots.wait()
        let buffer = pool.take(capacity: aligned)
        defer {
            pool.give(buffer)
            slots.signal()
        }
        bytes.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[..<aligned]))
        }
        var outcome = DirectOutcome.written
        if let e = Self.writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[..<aligned]), at: 0) {
            outcome = e == EINVAL ? .refused : .failed(.io(operation: "write", path: path, errno: e))
        } else if aligned < bytes.count {
            // The last partial block: through the page cache, on the same descriptor.
            let flags = fcntl(fd, F_GETFL)
            if flags < 0 || fcntl(fd, F_SETFL, flags & ~clinux_o_direct()) != 0 {
                outcome = .failed(.io(operation: "fcntl", path: path, errno: errno))
            } else if let e = bytes.withUnsafeBytes({ Self.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[aligned...]), at: aligned) }) {
                outcome = .failed(.io(operation: "write", path: path, errno: e))
            }
        }
        if close(fd) != 0, case .written = outcome { outcome = .failed(.io(operation: "close", path: path, errno: errno)) }
        if case .written = outcome { return outcome }
        unlink(path)
        return outcome
    }

    /// Writes all of `bytes` at `offset`; the errno of the failure, if any.
    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int32? {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return EIO }
            done += n
        }
        return nil
    }
}

/// Aligned buffers for direct I/O, reused: at most `keep` idle ones are kept. Memory reused is
/// memory the kernel does not have to zero and map again for every piece.
final class AlignedBufferPool: Sendable {
    private let alignment: Int
    private let keep: Int
    /// Idle buffers as (address, length): plain integers, so the pool can be shared across threads.
    private let idle = Mutex<[(address: UInt, count: Int)]>([])

    init(alignment: Int, keep: Int) {
        self.alignment = alignment
        self.keep = keep
    }

    deinit {
        idle.withLock { buffers in for b in buffers { free(UnsafeMutableRawPointer(bitPattern: b.address)) } }
    }

    /// An aligned buffer of at least `capacity` bytes (its whole length: use a prefix); give it back after use.
    func take(capacity: Int) -> UnsafeMutableRawBufferPointer {
        let reused = idle.withLock { buffers -> (address: UInt, count: Int)? in
            guard let i = buffers.lastIndex(where: { $0.count >= capacity }) else { return nil }
            return buffers.remove(at: i)
        }
        if let reused { return UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: reused.address), count: reused.count) }
        let size = max(alignment, (capacity + alignment - 1) / alignment * alignment)
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, alignment, size) == 0, let memory else { fatalError("out of memory for a \(size)-byte I/O buffer") }
        return UnsafeMutableRawBufferPointer(start: memory, count: size)
    }

    func give(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        let dropped = idle.withLock { buffers -> UInt? in
            buffers.append((UInt(bitPattern: base), buffer.count))
            return buffers.count > keep ? buffers.removeFirst().address : nil
        }
        if let dropped { free(UnsafeMutableRawPointer(bitPattern: dropped)) }
    }
}
