import Synchronization

/// An instant on the scheduler's clock for one content, set by the first piece that asks, the same for
/// every piece after. `ContentSourceSet` keeps two:
/// - when pieces stop waiting for the swarm's first join answer (`PeeringConfiguration.firstJoinWaitSeconds`),
///   so pieces asked for later do not wait a budget of their own. The answer itself is news
///   (`SessionSwarm` nudges the swarm's waiters): pieces waiting for it are looked at again the moment
///   it comes, not when the budget ends;
/// - when our view of the swarm was first seen ready, where owner waits begin for the pieces asked for
///   before it.
final class InstantSetOnce: Sendable {
    private let instant = Mutex<Double?>(nil)

    init() {}

    /// `now + seconds` the first time it is asked, the same instant after.
    func deadline(now: Double, seconds: Double = 0) -> Double {
        instant.withLock { instant in
            if let instant { return instant }
            instant = now + max(0, seconds)
            return instant!
        }
    }
}
