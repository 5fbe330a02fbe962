import DOCore
import Dispatch
import Synchronization

/// Pieces a content's readers are answered with while their disk write still runs (write-behind).
///
/// Why: a reader's reply used to wait for its piece's commit, an `O_DIRECT` write that waits for the
/// disk; this VM's disk writes 0.3-1.1 GB/s with 1 MiB writes, about the pace of a cold read, so every
/// reply waited on the disk and the read went no faster than the disk (1.54 s for a cold 1 GiB,
/// `bench/results/read-20261202-133322.txt`). With the write behind the reply, the disk and the rest
/// of the read overlap. A small piece (appended to a pack through the page cache) waits for no disk,
/// but waiting for its write moved the reply to a blocking thread and back: one context switch more
/// per file of a tree (`bench/RESULTS.md`, small files).
///
/// ## Contract
/// - Only a piece ready to be served enters (verified, in verified mode: `ContentSession.deliver` is
///   called after the scheduler's SHA-256 check), so answering a read from here is as safe as from
///   the store. It leaves once its commit ended, stored or not (a failed write: the next read fetches
///   it again); a stored piece is in the store before it leaves, so a reader finds it in one or the other.
/// - Bounded: `admit` refuses a piece past `limitBytes`, and the caller then commits it itself,
///   waiting as before. The disk paces the read again once it falls that far behind.
/// - Writes run on the node's write lanes, serial queues shared by every content, as many as the
///   store's writer lets write at once (`PieceFileWriter.concurrentWrites`): a lane's thread does not
///   wait for a slot behind other lanes, and a content opened costs no queue of its own.
final class PendingWrites: Sendable {
    private struct State {
        var pieces: [Int: (buffer: PieceBuffer, read: Bool)] = [:]
        var bytes = 0
        /// Who waits for which pieces' writes to end (`written`).
        var waiters: [(pieces: Set<Int>, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())
    let limitBytes: Int
    private static let lanes = (0..<PieceFileWriter.concurrentWrites).map {
        DispatchQueue(label: "dofs.write-behind.\($0)", qos: .userInitiated)
    }

    init(limitBytes: Int) {
        self.limitBytes = limitBytes
    }

    /// Takes piece `index` and runs `write` for it on a lane, when it fits under the limit; false (and
    /// nothing run) when it does not, or when the piece is pending already.
    func admit(_ index: Int, _ piece: PieceBuffer, write: @escaping @Sendable () -> Void) -> Bool {
        let taken = state.withLock { s -> Bool in
            guard s.pieces[index] == nil, s.bytes + piece.count <= limitBytes else { return false }
            s.pieces[index] = (piece, false)
            s.bytes += piece.count
            return true
        }
        if taken { Self.lanes[index % Self.lanes.count].async(execute: write) }
        return taken
    }

    /// The piece while its write runs.
    func buffer(_ index: Int) -> PieceBuffer? { state.withLock { $0.pieces[index]?.buffer } }

    func contains(_ index: Int) -> Bool { state.withLock { $0.pieces[index] != nil } }

    /// A reader has read piece `index` to its end; returns false when it is not pending.
    @discardableResult
    func markRead(_ index: Int) -> Bool {
        state.withLock { s in
            guard s.pieces[index] != nil else { return false }
            s.pieces[index]!.read = true
            return true
        }
    }

    /// Piece `index`'s write ended: it leaves. `then` learns whether a reader read it to its end
    /// meanwhile (so the store need not keep it in memory for one), before anyone waiting is woken.
    func finish(_ index: Int, then: (_ read: Bool) -> Void) {
        let read = state.withLock { s -> Bool in
            guard let gone = s.pieces.removeValue(forKey: index) else { return false }
            s.bytes -= gone.buffer.count
            return gone.read
        }
        then(read)
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            var woken: [CheckedContinuation<Void, Never>] = []
            s.waiters = s.waiters.compactMap { waiter in
                let left = waiter.pieces.subtracting([index])
                if left.isEmpty {
                    woken.append(waiter.continuation)
                    return nil
                }
                return (left, waiter.continuation)
            }
            return woken
        }
        woken.forEach { $0.resume() }
    }

    /// Bytes pending now.
    var bytes: Int { state.withLock { $0.bytes } }

    /// Callers of `written` still waiting.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Whether any write is pending.
    var isEmpty: Bool { state.withLock { $0.pieces.isEmpty } }

    /// Returns once every write pending now has ended (later ones are not waited for, so a steady
    /// reader cannot keep a waiter waiting).
    func written() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.pieces.isEmpty { return true }
                s.waiters.append((Set(s.pieces.keys), done))
                return false
            }
            if now { done.resume() }
        }
    }
}
