/// A token bucket for bytes: `rate` bytes a second refill it up to `capacity`; taking more than it
/// holds goes into debt, and the answer is how long the taker must wait before sending.
///
/// The clock is a number of seconds given on every call, so a test drives it by hand. Debt (rather
/// than refusing) keeps one large take, a 1 MiB piece, from waiting forever behind a small capacity:
/// the wait is exactly what the rate asks for.
public struct TokenBucket: Sendable, Equatable {
    /// Bytes available now; negative while in debt.
    public private(set) var tokens: Double
    private var updated: Double

    public init(tokens: Double, now: Double) {
        self.tokens = tokens
        updated = now
    }

    /// Takes `bytes` at `rate` bytes/s (capacity `capacity` bytes) at time `now`; returns the seconds
    /// to wait before those bytes may go (0 when the bucket covered them).
    public mutating func take(_ bytes: Int, rate: Double, capacity: Double, now: Double) -> Double {
        refill(rate: rate, capacity: capacity, now: now)
        tokens -= Double(bytes)
        return tokens >= 0 ? 0 : -tokens / rate
    }

    /// Adds what `rate` earned since the last call, up to `capacity`.
    public mutating func refill(rate: Double, capacity: Double, now: Double) {
        if now > updated { tokens = min(capacity, tokens + (now - updated) * rate) }
        updated = max(updated, now)
    }
}
