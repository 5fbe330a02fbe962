import Synchronization

/// When a shared content stops waiting for its swarm's first join answer before going to HTTP
/// sources (`PeeringConfiguration.firstJoinWaitSeconds`): one instant per content, on the scheduler's
/// clock, set by the first piece that asks, so pieces asked for later do not wait a budget of their
/// own. The answer itself is news (`SessionSwarm` nudges the swarm's waiters): pieces waiting for it
/// are looked at again the moment it comes, not when the budget ends.
final class FirstJoinWait: Sendable {
    private let end = Mutex<Double?>(nil)

    init() {}

    /// The instant the wait ends: `now + seconds` the first time it is asked, the same instant after.
    func deadline(now: Double, seconds: Double) -> Double {
        end.withLock { end in
            if let end { return end }
            end = now + max(0, seconds)
            return end!
        }
    }
}
