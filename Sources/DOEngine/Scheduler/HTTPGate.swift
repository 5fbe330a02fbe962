import DOCore
import Logging
import Synchronization

/// How many pieces of one content are being fetched from HTTP sources (CDN URLs, cache hosts) now, for
/// the cap `PeeringConfiguration.maxHTTPFetchesInSwarm` (see `ContentSourceSet`). Each HTTP source the
/// source set hands out is wrapped (`GatedSource`) so that its fetches are counted; when one ends,
/// `onRelease` runs (the swarm's news, so pieces waiting for a place look again: an event, not a poll).
final class HTTPGate: Sendable {
    private let count = Mutex(0)
    let onRelease: @Sendable () -> Void

    init(onRelease: @escaping @Sendable () -> Void = {}) { self.onRelease = onRelease }

    /// HTTP fetches in flight now.
    var inFlight: Int { count.withLock { $0 } }

    func wrap(_ source: any PieceSource) -> any PieceSource { GatedSource(inner: source, gate: self) }

    fileprivate func enter() { count.withLock { $0 += 1 } }

    fileprivate func leave() {
        count.withLock { $0 -= 1 }
        onRelease()
    }
}

/// An HTTP source whose fetches an `HTTPGate` counts; everything else is the inner source's.
struct GatedSource: PieceSource {
    let inner: any PieceSource
    let gate: HTTPGate

    var kind: SourceKind { inner.kind }
    var name: String { inner.name }
    func fetch(range: Range<Int>) async throws(FetchError) -> [UInt8] {
        gate.enter()
        defer { gate.leave() }
        return try await inner.fetch(range: range)
    }
    func fetchPiece(range: Range<Int>) async throws(FetchError) -> PieceBuffer {
        gate.enter()
        defer { gate.leave() }
        return try await inner.fetchPiece(range: range)
    }
    func chargeBadPiece(index: Int) -> Bool { inner.chargeBadPiece(index: index) }
    func chargeFailure(_ error: FetchError) { inner.chargeFailure(error) }
    func chargeDropped() { inner.chargeDropped() }
    var logMetadata: Logger.Metadata { inner.logMetadata }
    var expectedSeconds: Double? { inner.expectedSeconds }
    var isReceiving: Bool { inner.isReceiving }
}
