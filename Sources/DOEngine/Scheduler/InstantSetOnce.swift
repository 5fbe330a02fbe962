import Synchronization

/// An instant on the scheduler's clock for one content, set by the first piece that asks, the same for
/// every piece after. `ContentSourceSet` keeps three:
/// - when pieces stop waiting for the swarm's first join answer (`PeeringConfiguration.firstJoinWaitSeconds`),
///   so pieces asked for later do not wait a budget of their own. The answer itself is news
///   (`SessionSwarm` nudges the swarm's waiters): pieces waiting for it are looked at again the moment
///   it comes, not when the budget ends;
/// - when our view of the swarm was first seen ready, where owner waits begin for the pieces asked for
///   before it;
/// - when our first join was answered, where the members' first-join times are placed.
final class InstantSetOnce: Sendable {
    private let instant = Mutex<Double?>(nil)

    init() {}

    /// `now + seconds` the first time it is asked, the same instant after.
    func deadline(now: Double, seconds: Double = 0) -> Double {
        pin(now + max(0, seconds))
    }

    /// The instant, once set.
    var value: Double? { instant.withLock { $0 } }

    /// `value` the first time it is asked, the same instant after.
    func pin(_ value: @autoclosure () -> Double) -> Double {
        instant.withLock { instant in
            if let instant { return instant }
            instant = value()
            return instant!
        }
    }
}
