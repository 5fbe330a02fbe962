import Synchronization

/// The policy in force in a running node, replaced whole when a policy file changes (or on SIGHUP):
/// every reader takes `current` at the moment it decides, so a new value applies from the next
/// decision on, without a restart.
public final class LivePolicy: Sendable {
    private let state: Mutex<AdminPolicy>

    public init(_ policy: AdminPolicy = .defaults) {
        state = Mutex(policy)
    }

    public var current: AdminPolicy { state.withLock { $0 } }

    /// Puts `policy` in force; returns the keys whose values changed.
    @discardableResult
    public func replace(with policy: AdminPolicy) -> [PolicyKey] {
        state.withLock { old in
            let changed = PolicyKey.allCases.filter { old[$0] != policy[$0] }
            old = policy
            return changed
        }
    }
}
