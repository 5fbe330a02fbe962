import NIOCore

/// How a Hummingbird server is started by dofs: give the `Application` `onServerRunning`, run it on a
/// task with `launch`, and `launch` returns once the server listens (with the port it bound) or with
/// what stopped it first; on failure the task has ended by then. Both the control plane and the
/// node's metrics endpoint start this way.
public final class ServerLaunch: Sendable {
    private let started: AsyncStream<Result<Int, any Error>>
    private let signal: AsyncStream<Result<Int, any Error>>.Continuation
    /// Reported when the channel cannot say its local port.
    private let configuredPort: Int

    public init(port: Int) {
        (started, signal) = AsyncStream.makeStream(of: Result<Int, any Error>.self)
        configuredPort = port
    }

    /// For `Application(onServerRunning:)`.
    public var onServerRunning: @Sendable (any Channel) async -> Void {
        { [signal, configuredPort] channel in signal.yield(.success(channel.localAddress?.port ?? configuredPort)) }
    }

    /// Runs `serve` (the server's whole life) on a task; returns that task and the outcome of starting.
    public func launch(_ serve: @escaping @Sendable () async throws -> Void) async -> (task: Task<Void, any Error>, outcome: Result<Int, any Error>) {
        let signal = self.signal
        let task = Task {
            defer { signal.finish() }
            do {
                try await serve()
                signal.yield(.failure(CancellationError()))
            } catch {
                signal.yield(.failure(error))
                throw error
            }
        }
        var outcome: Result<Int, any Error> = .failure(CancellationError())
        for await first in started {
            outcome = first
            break
        }
        if case .failure = outcome {
            task.cancel()
            _ = await task.result
        }
        return (task, outcome)
    }
}
