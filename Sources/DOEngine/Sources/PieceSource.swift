import DOCore

/// What kind of place bytes came from; `user.dofs.sources` counts bytes per kind.
///
/// `cdn`, `cache` and `peer` count the bytes of pieces fetched from the network (whole pieces, once
/// each); `local` counts the bytes of reads answered from the piece cache without waiting for a fetch.
public enum SourceKind: String, CaseIterable, Codable, Sendable {
    case cdn, cache, peer, local
}

/// Anything that can deliver a byte range of a content: the origin CDN, a cache host, a peer.
///
/// The scheduler sees only this interface; it verifies what comes back and charges the source on failure.
public protocol PieceSource: Sendable {
    var kind: SourceKind { get }
    /// A short name for logs (a URL, a peer address).
    var name: String { get }
    /// Returns exactly the bytes of `range`, or throws: a short, long or mislabelled answer is an error.
    func fetch(range: Range<Int>) async throws(FetchError) -> [UInt8]
}
