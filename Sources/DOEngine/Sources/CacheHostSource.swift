import DOCore
import Logging

/// A content URL through one cache host as a piece source. DO's rules stay in `CacheHosts`: a host
/// that cannot be reached is banned for every origin, one answering 4xx for this origin, and one whose
/// pieces fail verification is banned for the origin at the third.
struct CacheHostSource: PieceSource {
    let host: String
    /// The `cacheHostOrigin` the request names.
    let origin: String
    /// The content URL rewritten for the host.
    let http: HTTPSource
    let hosts: CacheHosts

    var kind: SourceKind { .cache }
    var name: String { "cache host \(host)" }
    var logMetadata: Logger.Metadata { ["host": "\(host)"] }

    func fetch(range: Range<Int>) async throws(FetchError) -> [UInt8] { try await http.fetch(range: range) }
    func fetchPiece(range: Range<Int>) async throws(FetchError) -> PieceBuffer { try await http.fetchPiece(range: range) }

    func chargeBadPiece(index: Int) -> Bool { hosts.reportBadPiece(host: host, origin: origin) }

    func chargeFailure(_ error: FetchError) { hosts.reportFailure(host: host, origin: origin, error: error) }
}
