import DOCore
import Foundation
import Synchronization

/// DO's download bandwidth policies on the HTTP path: one token bucket for foreground and one for
/// background downloads, shared by every CDN and cache-host request of the node. Peers are not
/// throttled, as in DO (their traffic stays on the LAN).
///
/// A request pays for its bytes before it is sent, so the link sees the policy's rate on average
/// over a few pieces. The rate is read from the live policy at every request: a changed policy file
/// applies from the next piece on. For the percentage policies the node measures what its HTTP sources
/// deliver per second (the best second so far) and limits to that share of it.
public final class DownloadThrottle: Sendable {
    public struct Configuration: Sendable {
        /// How much a bucket holds, in seconds of its rate: 0.25 s lets a reader's first piece go at
        /// once without letting a burst exceed the policy by more than a quarter of a second's worth.
        public var burstSeconds = 0.25
        public init() {}
    }

    let policy: LivePolicy
    let configuration: Configuration
    private let state = Mutex(State())
    private let started = ContinuousClock.now

    private struct State {
        var buckets: [DownloadPriority: TokenBucket] = [:]
        /// Bytes delivered in the current one-second window, and that window's start.
        var windowBytes = 0
        var windowStart = 0.0
        /// The most bytes delivered in one whole window so far.
        var peakBytesPerSecond: Double?
    }

    public init(policy: LivePolicy, configuration: Configuration = .init()) {
        self.policy = policy
        self.configuration = configuration
    }

    /// Seconds since the throttle was made: its clock.
    private var now: Double {
        (ContinuousClock.now - started).seconds
    }

    /// Waits until `bytes` may be requested at the current task's priority.
    func acquire(_ bytes: Int) async {
        let priority = DownloadPriority.current
        let hour = Self.localHour()
        let t = now
        let wait = state.withLock { s -> Double in
            guard let rate = policy.current.downloadLimit(priority, hour: hour, measuredBytesPerSecond: s.peakBytesPerSecond),
                  rate > 0 else { return 0 }
            let capacity = rate * configuration.burstSeconds
            var bucket = s.buckets[priority] ?? TokenBucket(tokens: capacity, now: t)
            let wait = bucket.take(bytes, rate: rate, capacity: capacity, now: t)
            s.buckets[priority] = bucket
            return wait
        }
        if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
    }

    /// The hour of the day, local time (as `Calendar.current` gives it, without Foundation's calendar
    /// machinery, which cost more than the rest of a small piece's throttling).
    static func localHour() -> Int {
        var seconds = time(nil)
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return Calendar.current.component(.hour, from: Date()) }
        return Int(parts.tm_hour)
    }

    /// Counts `bytes` delivered by an HTTP source, for the measured rate.
    func delivered(_ bytes: Int) {
        let t = now
        state.withLock { s in
            if t - s.windowStart >= 1 {
                if t - s.windowStart < 2 { s.peakBytesPerSecond = max(s.peakBytesPerSecond ?? 0, Double(s.windowBytes)) }
                s.windowStart = t
                s.windowBytes = 0
            }
            s.windowBytes += bytes
        }
    }
}
