import Synchronization

/// One task that runs the periodic duties of every peer connection of the process with the same
/// interval (stall checks, keep-alives, `have` refreshes, slot reclaims), instead of a sleeping task
/// per connection.
///
/// Why: a peer of a 100-member swarm holds up to 24 connections of its own and up to 64 on its
/// server, each of which woke every second to do, most of the time, nothing; a timer, a thread wake-up
/// and a task hop per connection and second made an idle seeder cost ~3.5 ms of CPU per second and 110
/// wake-ups (peer-cpu-bench, 24 peers). One timer now ticks them all, each tick a few locked checks.
///
/// ## Contract
/// - `add` returns a token; the tick runs every `interval` (first after one interval) until `remove`.
///   Ticks run one after another on the ticker's task, so a tick must not block nor wait: it takes
///   its locks, queues what it must send and wakes its sender.
/// - The task runs only while something is registered; tickers are shared per interval (tests
///   configure short timeouts, and get tickers of their own).
final class ConnectionTicker: Sendable {
    typealias Tick = @Sendable () -> Void

    let interval: Duration
    private struct State {
        var ticks: [Int: Tick] = [:]
        var next = 0
        var task: Task<Void, Never>?
    }
    private let state = Mutex(State())

    private init(interval: Duration) { self.interval = interval }

    private static let shared = Mutex<[Duration: ConnectionTicker]>([:])

    /// The process's ticker for `seconds`.
    static func every(_ seconds: Double) -> ConnectionTicker {
        let interval = Duration.milliseconds(Int64((seconds * 1000).rounded()))
        return shared.withLock { tickers in
            if let ticker = tickers[interval] { return ticker }
            let ticker = ConnectionTicker(interval: interval)
            tickers[interval] = ticker
            return ticker
        }
    }

    /// Runs `tick` every interval until `remove(token)`.
    func add(_ tick: @escaping Tick) -> Int {
        state.withLock { s in
            s.next += 1
            s.ticks[s.next] = tick
            if s.task == nil { s.task = Task { [self] in await run() } }
            return s.next
        }
    }

    func remove(_ token: Int) {
        let stopped = state.withLock { s -> Task<Void, Never>? in
            s.ticks[token] = nil
            guard s.ticks.isEmpty else { return nil }
            defer { s.task = nil }
            return s.task
        }
        stopped?.cancel()
    }

    private func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let ticks = state.withLock { s in Task.isCancelled ? [] : Array(s.ticks.values) }
            for tick in ticks { tick() }
        }
    }
}
