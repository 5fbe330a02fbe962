@testable import DOEngine
import DOCore
import Foundation
import Logging
import Synchronization
import XCTest

/// A clock that moves only when the test says so: `advanceToNextSleeper` jumps to the earliest deadline
/// anybody sleeps until, so the scheduler's budgets and back-offs cost no real time.
final class FakeClock: SchedulerClock {
    private struct Sleeper {
        let deadline: Double
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var now = 0.0
        var sleepers: [Int: Sleeper] = [:]
        var nextId = 0
    }

    private let state = Mutex(State())

    var now: Double { state.withLock { $0.now } }

    func sleep(until deadline: Double) async throws {
        let id = state.withLock { s -> Int in
            s.nextId += 1
            return s.nextId
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if deadline <= s.now || Task.isCancelled { return true }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: c)
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume()
        }
        try Task.checkCancellation()
    }

    /// The earliest deadline anybody sleeps until.
    var nextDeadline: Double? { state.withLock { $0.sleepers.values.map(\.deadline).min() } }

    func advance(to time: Double) {
        let due = state.withLock { s -> [Sleeper] in
            s.now = max(s.now, time)
            let due = s.sleepers.filter { $0.value.deadline <= s.now }
            for id in due.keys { s.sleepers[id] = nil }
            return Array(due.values)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}

/// How a fake source behaves for each request.
enum FakeBehaviour: Sendable {
    /// Delivers the right bytes after this many seconds.
    case fast(Double)
    /// Delivers wrong bytes after this many seconds.
    case lying(Double)
    /// Never answers (until cancelled).
    case withholding
    /// Fails after this many seconds.
    case failing(Double, FetchError)
    /// Fails, then succeeds, then fails ... (each after this many seconds).
    case flapping(Double)
}

/// A piece source under the test's control, which counts what it was asked and charged.
final class FakeSource: PieceSource {
    struct Counts {
        var requests = 0
        var cancelled = 0
        var badPiecesCharged = 0
        var failuresCharged = 0
        var dropped = 0
        /// Requests being answered now, and the most there ever were at once.
        var inFlight = 0
        var mostInFlight = 0
    }

    let kind: SourceKind
    let name: String
    let behaviour: FakeBehaviour
    let content: [UInt8]
    let clock: FakeClock
    /// What the source says of its queue (`PieceSource.queuedSeconds`): a peer that chokes us.
    var queuedSeconds: Double? { queued.withLock { $0 } }
    private let queued: Mutex<Double?>
    private let state = Mutex(Counts())

    init(_ name: String, kind: SourceKind, _ behaviour: FakeBehaviour, content: [UInt8], clock: FakeClock,
         queuedSeconds: Double? = nil) {
        self.name = name
        self.kind = kind
        self.behaviour = behaviour
        self.content = content
        self.clock = clock
        queued = Mutex(queuedSeconds)
    }

    /// The peer chokes us from now (`seconds` ago), or unchokes us (`nil`).
    func setQueued(_ seconds: Double?) { queued.withLock { $0 = seconds } }

    var counts: Counts { state.withLock { $0 } }

    func fetch(range: Range<Int>) async throws(FetchError) -> [UInt8] {
        let request = state.withLock { c -> Int in
            c.requests += 1
            c.inFlight += 1
            c.mostInFlight = max(c.mostInFlight, c.inFlight)
            return c.requests
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        let truth = Array(content[range])
        func wait(_ seconds: Double) async throws(FetchError) {
            do {
                try await clock.sleep(until: clock.now + seconds)
            } catch {
                state.withLock { $0.cancelled += 1 }
                throw .transport(.timedOut(url: name, detail: "fake"))
            }
        }
        switch behaviour {
        case .fast(let s):
            try await wait(s)
            return truth
        case .lying(let s):
            try await wait(s)
            return truth.map { $0 ^ 0xFF }
        case .withholding:
            try await wait(1e9)
            throw .transport(.timedOut(url: name, detail: "fake"))
        case .failing(let s, let error):
            try await wait(s)
            throw error
        case .flapping(let s):
            try await wait(s)
            if request % 2 == 1 { throw .transport(.connectFailed(url: name, detail: "flap")) }
            return truth
        }
    }

    func chargeBadPiece(index: Int) -> Bool {
        state.withLock { c in
            c.badPiecesCharged += 1
            return c.badPiecesCharged >= 3
        }
    }

    func chargeFailure(_ error: FetchError) { state.withLock { $0.failuresCharged += 1 } }

    func chargeDropped() { state.withLock { $0.dropped += 1 } }
}

/// A source set of fixed sources in a fixed order; sources named in `unannounced` are not eligible
/// until `announce` is called for them (news, as a peer's `have`).
final class FakeSourceSet: PieceSourceSet {
    private struct State {
        var generation = 0
        var hidden: Set<String>
        var waiters: [CheckedContinuation<Void, Never>] = []
        var eligibleCalls = 0
    }

    let sources: [FakeSource]
    private let state: Mutex<State>
    /// False: a set that can never bring news (a content without a swarm), as `ContentSourceSet` says.
    let mayBringNews: Bool
    /// What every answer says of HTTP sources beside peers that fill every place.
    let httpOvertakesPeers: Bool

    init(_ sources: [FakeSource], unannounced: Set<String> = [], bringsNews: Bool = true, httpOvertakesPeers: Bool = false) {
        self.sources = sources
        self.mayBringNews = bringsNews
        self.httpOvertakesPeers = httpOvertakesPeers
        state = Mutex(State(hidden: unannounced))
    }

    var eligibleCalls: Int { state.withLock { $0.eligibleCalls } }

    func eligible(piece: Int, progress: inout PieceProgress, now: Double) -> EligibleSources {
        let hidden = state.withLock { s -> Set<String> in
            s.eligibleCalls += 1
            return s.hidden
        }
        return EligibleSources(sources: sources.filter { !hidden.contains($0.name) }, newsMayHelp: !hidden.isEmpty,
                               httpOvertakesPeers: httpOvertakesPeers)
    }

    func announce(_ name: String) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.hidden.remove(name)
            s.generation += 1
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    var newsGeneration: Int { state.withLock { $0.generation } }

    func waitForNews(after generation: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.generation > generation { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }
}

/// `ContentSourceSet`'s cap on HTTP fetches alone: one CDN source, offered only while fewer than `cap`
/// of its fetches are counted by the gate; a fetch ending is news (it frees a place).
final class CappedFakeSourceSet: PieceSourceSet {
    let cdn: FakeSource
    let cap: Int
    private let news: FakeSourceSet
    let gate: HTTPGate

    init(_ cdn: FakeSource, cap: Int) {
        self.cdn = cdn
        self.cap = cap
        let news = FakeSourceSet([])
        self.news = news
        gate = HTTPGate(onRelease: { news.announce("") })
    }

    func eligible(piece: Int, progress: inout PieceProgress, now: Double) -> EligibleSources {
        guard gate.inFlight < cap else { return EligibleSources(sources: [], newsMayHelp: true) }
        return EligibleSources(sources: [gate.wrap(cdn, piece: piece, cap: cap)], newsMayHelp: true)
    }

    var newsGeneration: Int { news.newsGeneration }
    func waitForNews(after generation: Int) async { await news.waitForNews(after: generation) }
}

/// Runs `body` (a scheduler fetch) on the fake clock: whenever every task waits, the clock jumps to the
/// next deadline. Returns the result and the fake time it took. `actions` run at fake instants.
func runOnFakeClock<T: Sendable>(_ clock: FakeClock, actions: [(at: Double, run: @Sendable () -> Void)] = [],
                                 file: StaticString = #filePath, line: UInt = #line,
                                 _ body: @escaping @Sendable () async throws -> T) async throws -> (T, Double) {
    let started = clock.now
    let task = Task { try await body() }
    let done = Mutex(false)
    let watcher = Task {
        _ = await task.result
        done.withLock { $0 = true }
    }
    var pending = actions.sorted { $0.at < $1.at }
    var steps = 0
    while !done.withLock({ $0 }) {
        steps += 1
        guard steps < 5000 else {
            task.cancel()
            XCTFail("the fetch did not end within 5000 clock steps", file: file, line: line)
            break
        }
        // Let every task run until it waits (real time, a few milliseconds).
        try await Task.sleep(for: .milliseconds(3))
        if done.withLock({ $0 }) { break }
        let next = clock.nextDeadline
        if let action = pending.first, next.map({ action.at <= $0 }) ?? true {
            pending.removeFirst()
            clock.advance(to: action.at)
            action.run()
        } else if let next {
            clock.advance(to: next)
        }
    }
    _ = await watcher.value
    let value = try await task.value
    return (value, clock.now - started)
}
