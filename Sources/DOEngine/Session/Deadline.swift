import DOCore
import Dispatch
import Synchronization

/// Waits for a shared task with a time limit, without cancelling the task itself: other readers may
/// still want its result, and a piece that arrives late still lands in the cache.
enum Deadline {
    /// Waits for `task` until `deadline`; `seconds` is the deadline's length, for the error message.
    static func wait(for task: Task<PieceBuffer, any Error>, until deadline: ContinuousClock.Instant,
                     seconds: Double) async throws(FetchError) -> PieceBuffer {
        let result: Result<PieceBuffer, FetchError> = await withCheckedContinuation { continuation in
            let once = ResumeOnce(continuation)
            // A Dispatch timer, armed on this thread: a task that sleeps would first have to start on
            // the pool (a thread wake-up per read that waits, most of which end long before the deadline).
            let timer = DispatchWorkItem { once.resume(.failure(.deadlineExceeded(seconds: seconds))) }
            let left = ContinuousClock.now.duration(to: deadline).components
            let nanoseconds = min(max(0, left.seconds), 1 << 32) * 1_000_000_000 + max(0, left.attoseconds / 1_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: nanoseconds)), execute: timer)
            Task {
                let outcome = await task.result
                timer.cancel()
                switch outcome {
                case .success(let bytes): once.resume(.success(bytes))
                case .failure(let error as FetchError): once.resume(.failure(error))
                case .failure(let error): once.resume(.failure(.pieceUnavailable(index: -1, attempts: 0, last: "\(error)")))
                }
            }
        }
        return try result.get()
    }
}

/// A continuation that tolerates being resumed twice (the loser of a race is ignored).
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>

    init(_ c: CheckedContinuation<T, Never>) { continuation = Mutex(c) }

    func resume(_ value: T) {
        continuation.withLock { c in
            c?.resume(returning: value)
            c = nil
        }
    }
}
