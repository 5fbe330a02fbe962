import DOCore
import Synchronization

/// Single flight: at most one task per piece index at a time, shared by every reader of that piece.
///
/// A task removes itself when it ends, success or failure, so a later read after a failure tries again,
/// and a piece that has reached the store is served from there rather than from a retained buffer.
final class PieceFlights: Sendable {
    private let tasks = Mutex<[Int: Task<PieceBuffer, any Error>]>([:])

    /// Pieces being fetched now.
    var count: Int { tasks.withLock { $0.count } }

    /// Whether piece `index` is being fetched now.
    func contains(_ index: Int) -> Bool { tasks.withLock { $0[index] != nil } }

    func task(for index: Int, _ work: @escaping @Sendable () async throws -> PieceBuffer) -> Task<PieceBuffer, any Error> {
        tasks.withLock { tasks in
            if let existing = tasks[index] { return existing }
            EngineMetrics.fetchesInFlight.increment()
            let task = Task { [self] in
                defer {
                    _ = self.tasks.withLock { $0.removeValue(forKey: index) }
                    EngineMetrics.fetchesInFlight.decrement()
                }
                return try await work()
            }
            tasks[index] = task
            return task
        }
    }
}
