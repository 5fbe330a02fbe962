import DOCore
import Logging
import Synchronization

/// How many pieces of one content are being fetched from HTTP sources (CDN URLs, cache hosts) now, for
/// the cap `PeeringConfiguration.maxHTTPFetchesInSwarm` (see `ContentSourceSet`), and when each fetch
/// starts, for the swarm's claims (`onStart`; see `SessionSwarm.piecesOnTheirWay`). Each HTTP source the
/// source set hands out is wrapped (`GatedSource`) with the cap in force; when a fetch ends,
/// `onRelease` runs (the swarm's news, so pieces waiting for a place look again: an event, not a poll).
///
/// A place is taken when the scheduler starts the fetch (`mayStart`: check and take in one step), not
/// when the fetch's task runs and not when the set offers the source: the pieces of a reader's window
/// are decided together (the first join's answer wakes them all), and each saw an empty gate. The
/// first member of a 100-peer swarm then fetched sixteen pieces at once while it knew no other
/// member, and the members listed a moment later fetched again those they owned.
final class HTTPGate: Sendable {
    private let state = Mutex(State())
    /// The scheduler's clock: when each fetch in flight started (`longestInFlightSeconds`).
    let clock: any SchedulerClock
    /// Runs when a fetch of a piece starts (the swarm claims it: `PeerMessage.fetching`).
    let onStart: @Sendable (_ piece: Int) -> Void
    let onRelease: @Sendable () -> Void

    private struct State {
        /// When each fetch in flight started, by its place: one entry per fetch, so also their count.
        var startedAt: [ObjectIdentifier: Double] = [:]
    }

    init(clock: any SchedulerClock = SystemSchedulerClock(), onStart: @escaping @Sendable (_ piece: Int) -> Void = { _ in },
         onRelease: @escaping @Sendable () -> Void = {}) {
        self.clock = clock
        self.onStart = onStart
        self.onRelease = onRelease
    }

    /// HTTP fetches in flight now.
    var inFlight: Int { state.withLock { $0.startedAt.count } }

    /// How long the oldest HTTP fetch in flight has been under way at `now` (0 with none): a lower bound
    /// of how long a piece from HTTP takes now, before the fetches that tell it have ended.
    func longestInFlightSeconds(now: Double) -> Double {
        state.withLock { $0.startedAt.values.min() }.map { max(0, now - $0) } ?? 0
    }

    /// `source` fetching `piece`, its fetches counted here; at most `cap` may start while others are
    /// in flight (0: no cap).
    func wrap(_ source: any PieceSource, piece: Int, cap: Int) -> any PieceSource {
        GatedSource(inner: source, place: Place(gate: self, piece: piece, cap: cap))
    }

    fileprivate func enter(_ place: Place, cap: Int) -> Bool {
        let piece = place.piece
        let now = clock.now
        let entered = state.withLock { s in
            guard cap <= 0 || s.startedAt.count < cap else { return false }
            s.startedAt[ObjectIdentifier(place)] = now
            return true
        }
        if entered { onStart(piece) }
        return entered
    }

    fileprivate func leave(_ place: Place) {
        _ = state.withLock { $0.startedAt.removeValue(forKey: ObjectIdentifier(place)) }
        onRelease()
    }

    /// One handed-out source's place in the count: taken once (when started, or at the latest when it
    /// fetches) and given back when its fetch ends.
    fileprivate final class Place: Sendable {
        let gate: HTTPGate
        let piece: Int
        let cap: Int
        private let taken = Mutex(false)

        init(gate: HTTPGate, piece: Int, cap: Int) {
            self.gate = gate
            self.piece = piece
            self.cap = cap
        }

        /// Takes the place unless the cap is reached; `true` when it is held.
        func take(capped: Bool) -> Bool {
            taken.withLock { held in
                if !held { held = gate.enter(self, cap: capped ? cap : 0) }
                return held
            }
        }

        func giveBack() {
            if taken.withLock({ held in defer { held = false }; return held }) { gate.leave(self) }
        }
    }
}

/// An HTTP source whose fetches an `HTTPGate` counts; everything else is the inner source's.
struct GatedSource: PieceSource {
    let inner: any PieceSource
    fileprivate let place: HTTPGate.Place

    var kind: SourceKind { inner.kind }
    var name: String { inner.name }
    func mayStart() -> Bool { place.take(capped: true) }
    func fetch(range: Range<Int>) async throws(FetchError) -> [UInt8] {
        _ = place.take(capped: false)
        defer { place.giveBack() }
        return try await inner.fetch(range: range)
    }
    func fetchPiece(range: Range<Int>) async throws(FetchError) -> PieceBuffer {
        _ = place.take(capped: false)
        defer { place.giveBack() }
        return try await inner.fetchPiece(range: range)
    }
    func chargeBadPiece(index: Int) -> Bool { inner.chargeBadPiece(index: index) }
    func chargeFailure(_ error: FetchError) { inner.chargeFailure(error) }
    func chargeDropped() { inner.chargeDropped() }
    var logMetadata: Logger.Metadata { inner.logMetadata }
    var expectedSeconds: Double? { inner.expectedSeconds }
    var isReceiving: Bool { inner.isReceiving }
}
