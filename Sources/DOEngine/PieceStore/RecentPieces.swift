import DOCore
import Synchronization

/// The pieces committed last, kept in memory up to a byte limit, oldest dropped first.
///
/// Why: piece files are written past the page cache (`PieceFileWriter`), so without this a piece
/// fetched by readahead would be read back from the disk moments later by the reader it was
/// fetched for, and by the peers it was just announced to. The bytes are the verified ones the
/// store committed, so serving them is as safe as serving the file. They are held in the buffer they
/// arrived in (`PieceBuffer`): the reader's reply and the disk write use the same memory.
final class RecentPieces: Sendable {
    private let limit: Int
    private let state = Mutex(State())

    private struct State {
        var pieces: [PieceStore.Key: (bytes: PieceBuffer, seq: Int)] = [:]
        /// Insertion order; entries whose seq no longer matches `pieces` were removed or replaced.
        var order: [(key: PieceStore.Key, seq: Int)] = []
        var head = 0
        var bytes = 0
        var seq = 0
    }

    /// `limit` bytes at most (0: keeps nothing).
    init(limit: Int) {
        self.limit = limit
    }

    func insert(_ key: PieceStore.Key, bytes: PieceBuffer) {
        guard bytes.count <= limit else { return }
        state.withLock { s in
            if let old = s.pieces[key] { s.bytes -= old.bytes.count }
            s.seq += 1
            s.pieces[key] = (bytes, s.seq)
            s.order.append((key, s.seq))
            s.bytes += bytes.count
            while s.bytes > limit, s.head < s.order.count {
                let oldest = s.order[s.head]
                s.head += 1
                if let held = s.pieces[oldest.key], held.seq == oldest.seq {
                    s.pieces[oldest.key] = nil
                    s.bytes -= held.bytes.count
                }
            }
            // Drop the consumed front of the order now and then, so it does not grow without bound.
            if s.head > 64, s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            // Under the lock, so the gauge's last value is the last state.
            EngineMetrics.recentPieceBytes.record(s.bytes)
        }
    }

    func bytes(of key: PieceStore.Key) -> PieceBuffer? {
        state.withLock { $0.pieces[key]?.bytes }
    }

    func remove(_ key: PieceStore.Key) {
        state.withLock { s in
            guard let removed = s.pieces.removeValue(forKey: key) else { return }
            s.bytes -= removed.bytes.count
            EngineMetrics.recentPieceBytes.record(s.bytes)
        }
    }

    /// Bytes held now.
    var heldBytes: Int { state.withLock { $0.bytes } }
}
