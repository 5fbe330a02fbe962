import Foundation
import Synchronization

/// Recent failures of `/by-url/` and `/by-id/` lookups: a name that failed a moment ago fails again at
/// once, with the same errno, without asking the control plane or the origin again.
///
/// Bounded twice: an answer expires after `ttlSeconds` (the content may be published or the server
/// fixed meanwhile), and at most `capacity` answers are kept, the oldest dropped first. Before, failed
/// names stayed in the tree forever (about 8 MB per 10,000) and were listed.
final class NegativeLookups: Sendable {
    /// 10 s: as long as a transiently simple content waits before it is asked about again.
    static let defaultTTLSeconds = 10.0
    /// 4096 answers of at most a few KiB each (a URL is at most 4 KiB).
    static let defaultCapacity = 4096

    private struct State {
        var answers: [String: (until: ContinuousClock.Instant, errno: Int32)] = [:]
        /// Keys in the order they were added, for dropping the oldest; may hold stale keys.
        var order: [String] = []
        var orderStart = 0
    }

    let ttlSeconds: Double
    let capacity: Int
    private let state = Mutex(State())

    init(ttlSeconds: Double = defaultTTLSeconds, capacity: Int = defaultCapacity) {
        self.ttlSeconds = ttlSeconds
        self.capacity = capacity
    }

    /// The errno of a recent failure of `key`, if it has not expired.
    func errno(for key: String) -> Int32? {
        state.withLock { s in
            guard let answer = s.answers[key] else { return nil }
            if ContinuousClock.now < answer.until { return answer.errno }
            s.answers.removeValue(forKey: key)
            return nil
        }
    }

    func record(_ key: String, errno: Int32) {
        let until = ContinuousClock.now + .seconds(ttlSeconds)
        state.withLock { s in
            if s.answers.updateValue((until, errno), forKey: key) == nil { s.order.append(key) }
            while s.answers.count > capacity, s.orderStart < s.order.count {
                s.answers.removeValue(forKey: s.order[s.orderStart])
                s.orderStart += 1
            }
            // Compact the order list once its dropped prefix is as long as what is left.
            if s.orderStart > capacity {
                s.order.removeFirst(s.orderStart)
                s.orderStart = 0
                s.order.removeAll { s.answers[$0] == nil }
            }
        }
    }

    var count: Int { state.withLock { $0.answers.count } }
}
