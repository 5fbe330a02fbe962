import Foundation

/// Thrown when an operation on a mount or a server did not finish in its time.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let what: String
    let seconds: TimeInterval
    var description: String { "\(what) did not finish within \(seconds) s" }
}

/// Runs `body` on a thread of its own and waits at most `seconds` for it.
///
/// A read from a FUSE mount can block forever if the daemon misbehaves. This keeps the test thread
/// free: on timeout it throws, and the stuck thread is released later when tearDown kills the daemon
/// (the kernel then fails the pending request with ENOTCONN).
func withDeadline<T: Sendable>(_ seconds: TimeInterval, _ what: String,
                               _ body: @escaping @Sendable () -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        box.set(body())
        done.signal()
    }
    thread.stackSize = 1 << 20
    thread.start()
    guard done.wait(timeout: .now() + seconds) == .success, let value = box.value else {
        throw DeadlineExceeded(what: what, seconds: seconds)
    }
    return value
}

/// Polls `condition` every `interval` seconds until it holds or `timeout` seconds pass.
@discardableResult
func waitUntil(timeout: TimeInterval, interval: TimeInterval = 0.02, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if condition() { return true }
        if Date() >= deadline { return false }
        Thread.sleep(forTimeInterval: interval)
    }
}
