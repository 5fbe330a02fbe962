import NIOCore
import Synchronization

/// The server's upload slots: which sessions are unchoked, and who waits for a slot, first come first served.
///
/// Pure bookkeeping by session id; the caller tells the granted session (outside this lock).
final class UploadSlots: Sendable {
    private struct State {
        var unchoked: Set<Int> = []
        var waiting = CircularBuffer<Int>()
        var peak = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Takes a free slot for `session` (true), or queues it (false). Idempotent.
    func acquire(_ session: Int) -> Bool {
        state.withLock { s in
            if s.unchoked.contains(session) { return true }
            if s.unchoked.count < capacity {
                s.unchoked.insert(session)
                s.peak = max(s.peak, s.unchoked.count)
                return true
            }
            if !s.waiting.contains(session) { s.waiting.append(session) }
            return false
        }
    }

    /// Removes `session` from the slots or from the queue; returns the session that now gets the freed
    /// slot, if any (it is already counted as unchoked).
    func leave(_ session: Int) -> Int? {
        state.withLock { s in
            if let i = s.waiting.firstIndex(of: session) { s.waiting.remove(at: i) }
            guard s.unchoked.remove(session) != nil, !s.waiting.isEmpty else { return nil }
            let next = s.waiting.removeFirst()
            s.unchoked.insert(next)
            return next
        }
    }

    var hasWaiters: Bool { state.withLock { !$0.waiting.isEmpty } }
    var unchokedCount: Int { state.withLock { $0.unchoked.count } }
    /// The most sessions ever unchoked at once.
    var peakUnchokedCount: Int { state.withLock { $0.peak } }
}
