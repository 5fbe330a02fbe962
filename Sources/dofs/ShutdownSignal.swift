import Dispatch
import Foundation
import Synchronization

/// SIGINT / SIGTERM, delivered to async code instead of killing the process.
///
/// The handlers are installed once, on the first `wait`, and stay: a signal source made again after
/// an earlier one for the same signal was cancelled never fired (libdispatch on Linux), so `dofs get
/// --seed-for`, which waits once during the download and again while seeding, ignored SIGTERM while
/// seeding. A signal is remembered: a `wait` after it returns at once, so a signal that arrives between
/// two waits is not lost either.
enum ShutdownSignal {
    private struct State {
        var received: String?
        var waiters: [Int: CheckedContinuation<String, Never>] = [:]
        var nextWaiter = 0
    }

    private static let state = Mutex(State())
    private static let queue = DispatchQueue(label: "dofs.signals")
    /// Made once (a static `let` is initialized once, thread-safely), never cancelled, never touched
    /// after: nothing shares mutable state through it.
    nonisolated(unsafe) private static let sources: [any DispatchSourceSignal] = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")].map { number, name in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
        source.setEventHandler { deliver(name) }
        source.resume()
        return source
    }

    /// Suspends until SIGINT or SIGTERM arrives (or returns at once if one already did); returns its
    /// name, or "cancelled" when the waiting task is cancelled first.
    static func wait() async -> String {
        _ = sources
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { s -> String? in
                    if let received = s.received { return received }
                    if Task.isCancelled { return "cancelled" }
                    s.waiters[id] = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: "cancelled")
        }
    }

    private static func deliver(_ name: String) {
        let waiters = state.withLock { s -> [CheckedContinuation<String, Never>] in
            if s.received == nil { s.received = name }
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: name) }
    }
}
