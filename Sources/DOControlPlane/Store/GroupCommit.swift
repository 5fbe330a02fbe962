import Synchronization

/// Group commit: items submitted by many callers at once are handed to `run` together, in batches,
/// and each caller gets its own answer when its batch is done.
///
/// There is no timer. An item that arrives when fewer than `maxConcurrentBatches` batches are running
/// starts one at once (alone: at low load an item waits for nothing but its own work); items that
/// arrive while all are running queue up and leave together, up to `maxBatch`, as soon as a batch
/// ends. So a batch is exactly what arrived during the previous one, and its size follows the load.
///
/// Why (the PostgreSQL membership store, bench/RESULTS.md, fleet): one join at a time costs two round
/// trips and two statement executions; a batch of any size costs the same two.
final class GroupCommit<Item: Sendable, Answer: Sendable>: Sendable {
    typealias Run = @Sendable ([Item]) async -> [Result<Answer, any Error>]

    private struct Waiting {
        let item: Item
        let continuation: CheckedContinuation<Answer, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var running = 0
    }

    private let state = Mutex(State())
    private let maxBatch: Int
    private let maxConcurrentBatches: Int
    private let run: Run

    /// `run` gets a non-empty batch and returns one result per item, in order.
    init(maxBatch: Int, maxConcurrentBatches: Int, run: @escaping Run) {
        self.maxBatch = max(1, maxBatch)
        self.maxConcurrentBatches = max(1, maxConcurrentBatches)
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

    /// Runs batches until the queue is empty, then gives its slot back.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                guard !state.queue.isEmpty else {
                    state.running -= 1
                    return []
                }
                let taken = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(taken.count)
                return taken
            }
            guard !batch.isEmpty else { return }
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
