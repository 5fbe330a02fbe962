import DOCore
import DOHTTP
import Foundation

/// Why a source could not deliver, or why a content could not be opened. Each says what to fix.
public enum FetchError: Error, Sendable, CustomStringConvertible {
    case transport(HTTPError)
    case httpStatus(url: String, status: Int)
    case noRangeSupport(url: String)
    case unknownSize(url: String)
    /// The server claims a length beyond what the piece math supports (see `PieceLayout.supports`).
    case unsupportedSize(url: String, claimed: String)
    case wrongContentRange(url: String, expected: String, found: String)
    case wrongLength(url: String, expected: Int, found: Int)
    case contentChanged(url: String, detail: String)
    case metadata(url: String, MetadataError)
    case metadataUnavailable(String)
    case unknownContent(String)
    /// The directory's answer is not vouched for by a publisher this mount trusts.
    case untrustedContent(id: String, reason: String)
    case directoryUnavailable(String)
    case pieceFailedVerification(index: Int, source: String)
    case pieceUnavailable(index: Int, attempts: Int, last: String)
    case deadlineExceeded(seconds: Double)
    /// A peer could not deliver a piece (timed out, choked us, disconnected, ...).
    case peerFailed(peer: String, reason: String)
    case store(String, errno: Int32)

    /// The message, with any credentials in the URLs it names redacted.
    public var description: String { RedactedURL.redactingURLs(in: message) }

    private var message: String {
        switch self {
        case .transport(let e): return e.description
        case .httpStatus(let u, let s): return "\(u) answered HTTP \(s)"
        case .noRangeSupport(let u): return "\(u) does not support HTTP Range requests; dofs needs them to fetch pieces"
        case .unknownSize(let u): return "\(u) did not say how large the content is (no Content-Length)"
        case .unsupportedSize(let u, let c):
            return "\(u) claims a length of \(c) bytes, beyond what dofs supports (at most \(PieceLayout.maxContentLength) bytes and \(PieceLayout.maxPieceCount) pieces); refused"
        case .wrongContentRange(let u, let e, let f): return "\(u) answered Content-Range '\(f)', expected '\(e)'"
        case .wrongLength(let u, let e, let f): return "\(u) sent \(f) bytes, expected \(e) (truncated or overlong body)"
        case .contentChanged(let u, let d): return "content at \(u) changed since it was opened: \(d)"
        case .metadata(let u, let e): return "metadata from \(u) refused: \(e)"
        case .metadataUnavailable(let d): return "no pieces hash file could be fetched: \(d)"
        case .unknownContent(let id): return "the control plane does not know content \(id)"
        case .untrustedContent(let id, let reason): return "content \(id) is not signed by a trusted publisher: \(reason)"
        case .directoryUnavailable(let d): return "the control plane cannot be asked: \(d)"
        case .pieceFailedVerification(let i, let s): return "piece \(i) from \(s) failed SHA-256 verification"
        case .pieceUnavailable(let i, let n, let last): return "piece \(i) unavailable after \(n) attempt(s); last error: \(last)"
        case .deadlineExceeded(let s): return "read not served within its \(s) s deadline"
        case .peerFailed(let p, let r): return "peer \(p): \(r)"
        case .store(let d, _): return "piece cache: \(d)"
        }
    }

    /// The errno a file read reports for this failure.
    public var errno: Int32 {
        switch self {
        case .httpStatus(_, 404), .httpStatus(_, 410): return ENOENT
        case .transport(.invalidURL), .unknownContent, .untrustedContent: return ENOENT
        case .store(_, let e) where e == ENOSPC: return ENOSPC
        default: return EIO
        }
    }
}
