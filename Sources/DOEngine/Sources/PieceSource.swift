import DOCore
import Logging

/// What kind of place bytes came from; `user.dofs.sources` counts bytes per kind.
///
/// `cdn`, `cache` and `peer` count the bytes of pieces fetched from the network (whole pieces, once
/// each); `local` counts the bytes of reads answered from the piece cache without waiting for a fetch.
public enum SourceKind: String, CaseIterable, Codable, Sendable {
    case cdn, cache, peer, local
}

/// Anything that can deliver a byte range of a content: the origin CDN, a cache host, a peer.
///
/// The scheduler (`PieceScheduler`) sees only this interface: it picks a source, fetches, verifies what
/// comes back once, and then charges the source through the `charge…` calls, behind which each kind
/// keeps its own rules (DO's cache-host bans, the swarm's peer bans and drops). A source never verifies.
public protocol PieceSource: Sendable {
    var kind: SourceKind { get }
    /// A short, stable name for logs and the source table (a URL, `cache host h:p`, `peer <id>`).
    var name: String { get }
    /// Returns exactly the bytes of `range`, or throws: a short, long or mislabelled answer is an error.
    /// Cancelling the calling task abandons the request.
    func fetch(range: Range<Int>) async throws(FetchError) -> [UInt8]
    /// The same bytes in a page-aligned buffer, which the store writes and the reply sends as they are.
    /// The default copies `fetch`'s answer; sources that can receive into one directly (HTTP) do.
    func fetchPiece(range: Range<Int>) async throws(FetchError) -> PieceBuffer
    /// A piece from this source failed SHA-256; returns true when the source is now banned.
    func chargeBadPiece(index: Int) -> Bool
    /// A request to this source failed with `error`.
    func chargeFailure(_ error: FetchError)
    /// The source keeps timing out, silent (`SourceTable.Drop.silent`), and is dropped from scheduling for
    /// a while (never banned for it); the swarm disconnects a peer. A busy drop charges nothing.
    func chargeDropped()
    /// What names the source in a log line (`peer`, `host`, `source`).
    var logMetadata: Logger.Metadata { get }
    /// How long the source itself expects a request made now to take (a peer: the bytes already queued
    /// on it plus the piece, over its rate); `nil` when it cannot tell. A request's budget is never
    /// shorter than this times the budget factor, so that a busy honest source is not hedged for its queue.
    var expectedSeconds: Double? { get }
    /// Whether the source is sending bytes now (a peer: a block arrived on its connection lately): the
    /// budget is a time-to-first-byte budget, so a request to a source that is sending is given
    /// another budget instead of a hedge (up to `maxBudgetSeconds` in all), and its timeouts do not
    /// count towards a drop. `false` when the source cannot tell.
    var isReceiving: Bool { get }
    /// How long the source has kept our requests in its queue, unsent (a peer that chokes us: its upload
    /// slots serve others first); `nil` when it serves us, or cannot tell. A request still in flight to a
    /// source that queues us is unsent: a choke sends the requests it interrupts back to the queue.
    var queuedSeconds: Double? { get }
    /// The scheduler is about to start a request to this source: `false` refuses it (a cap is full;
    /// the scheduler tries the next source or waits for news). Called before the request's task runs,
    /// so that a capped source (`HTTPGate`) checks and takes its place in one step, whatever other
    /// pieces decide at the same moment. Default: `true`.
    func mayStart() -> Bool
}

extension PieceSource {
    public func fetchPiece(range: Range<Int>) async throws(FetchError) -> PieceBuffer {
        PieceBuffer(copying: try await fetch(range: range))
    }
    public func chargeBadPiece(index: Int) -> Bool { false }
    public func chargeFailure(_ error: FetchError) {}
    public func chargeDropped() {}
    public var logMetadata: Logger.Metadata { ["source": "\(RedactedURL.redacted(name))"] }
    public var expectedSeconds: Double? { nil }
    public var isReceiving: Bool { false }
    public var queuedSeconds: Double? { nil }
    public func mayStart() -> Bool { true }
}
