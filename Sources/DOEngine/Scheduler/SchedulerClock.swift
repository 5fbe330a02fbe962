import DOCore
import Foundation

/// Time as the piece scheduler sees it: seconds on a monotonic line, and sleeping until a point of it.
///
/// The scheduler never reads the wall clock or `ContinuousClock` itself, so its unit tests can drive it
/// with a `ManualClock`-like fake and finish in milliseconds whatever the budgets are. `sleep` throws
/// (and returns early) when the sleeping task is cancelled.
public protocol SchedulerClock: Sendable {
    /// Seconds since an arbitrary origin; never goes back.
    var now: Double { get }
    func sleep(until deadline: Double) async throws
}

/// The process's monotonic clock (`ContinuousClock`).
public struct SystemSchedulerClock: SchedulerClock {
    private static let origin = ContinuousClock.now

    public init() {}

    public var now: Double {
        (ContinuousClock.now - Self.origin).seconds
    }

    public func sleep(until deadline: Double) async throws {
        let left = deadline - now
        guard left > 0 else { return }
        try await Task.sleep(for: .seconds(left))
    }
}
