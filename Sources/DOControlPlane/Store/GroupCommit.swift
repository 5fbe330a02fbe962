import Synchronization

/// Group commit: items submitted by many callers at once are handed to `run` together, in batches,
/// and each caller gets its own answer when its batch is done.
///
/// There is no timer at low load. An item that arrives when fewer than `maxConcurrentBatches` batches
/// are running, and at least `minInterval` after the last batch started, starts one at once (alone: at
/// low load an item waits for nothing but its own work). Otherwise items queue up and leave together,
/// up to `maxBatch`, when a batch slot is free and `minInterval` has passed since the last batch
/// started. So under load a batch holds what arrived in at least `minInterval`, and its size follows
/// the load.
///
/// Why (the PostgreSQL membership store, bench/RESULTS.md, fleet): a batch of any size costs the same
/// round trip, executor start and commit, hundreds of microseconds of PostgreSQL's CPU; batches that
/// started as soon as a slot was free held 9-15 joins at 5,000-6,000 joins/s. `minInterval` bounds
/// batches per second, and so that cost, at the price of at most `minInterval` of latency per join
/// under load.
final class GroupCommit<Item: Sendable, Answer: Sendable>: Sendable {
    typealias Run = @Sendable ([Item]) async -> [Result<Answer, any Error>]

    private struct Waiting {
        let item: Item
        let continuation: CheckedContinuation<Answer, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var running = 0
        /// When the last batch started.
        var lastStart: ContinuousClock.Instant?
    }

    private enum Next {
        case batch([Waiting])
        case wait(Duration)
        case done
    }

    private let state = Mutex(State())
    private let maxBatch: Int
    private let maxConcurrentBatches: Int
    private let minInterval: Duration
    private let run: Run

    /// `run` gets a non-empty batch and returns one result per item, in order.
    init(maxBatch: Int, maxConcurrentBatches: Int, minInterval: Duration = .zero, run: @escaping Run) {
        self.maxBatch = max(1, maxBatch)
        self.maxConcurrentBatches = max(1, maxConcurrentBatches)
        self.minInterval = max(.zero, minInterval)
        self.run = run
    }

    /// `item`'s answer, once the batch it joined has run.
    func submit(_ item: Item) async throws -> Answer {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.queue.append(Waiting(item: item, continuation: continuation))
                guard state.running < maxConcurrentBatches else { return false }
                state.running += 1
                return true
            }
            if start { Task { await self.drain() } }
        }
    }

    /// Runs batches, each no sooner than `minInterval` after the last one started, until the queue
    /// is empty, then gives its slot back.
    private func drain() async {
        while true {
            let next = state.withLock { state -> Next in
                guard !state.queue.isEmpty else {
                    state.running -= 1
                    return .done
                }
                let now = ContinuousClock.now
                if let last = state.lastStart, now < last + minInterval {
                    return .wait(last + minInterval - now)
                }
                state.lastStart = now
                let taken = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(taken.count)
                return .batch(taken)
            }
            switch next {
            case .done:
                return
            case .wait(let delay):
                // Cannot be cancelled (nothing cancels this task); the queue is looked at again after.
                try? await Task.sleep(for: delay)
            case .batch(let batch):
                let results = await run(batch.map(\.item))
                for (index, waiting) in batch.enumerated() {
                    if index < results.count {
                        waiting.continuation.resume(with: results[index])
                    } else {
                        waiting.continuation.resume(throwing: MembershipStoreError(description: "a batch returned no answer for an item"))
                    }
                }
            }
        }
    }
}
