import DOHTTP

/// Why a control-plane call gave no usable answer. "Unknown content" is not an error: lookups return
/// `nil` (content policy) or `[]` (discovery) for a 404.
public enum ControlPlaneError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No HTTP answer at all (connection refused, DNS, timeout, TLS): the service may be down.
    case unreachable(url: String, detail: String)
    /// An HTTP answer with a status the call cannot use; `reason` is the `Error` of a JSON error body.
    case httpStatus(url: String, status: Int, reason: String?)
    /// A 2xx answer that is not the JSON expected (a captive portal's HTML, a truncated body, ...).
    case malformedAnswer(url: String, reason: String)
    /// The key-value answer lacks the endpoint this call needs (e.g. `Discovery_EndpointFullUri`).
    case missingEndpoint(String)
    /// The caller asked for something that cannot be sent (no content ID and no URL, a non-http URL).
    case invalidRequest(String)
    /// The calling task was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case .unreachable(let url, let detail): return "control plane unreachable at \(url): \(detail)"
        case .httpStatus(let url, let status, let reason):
            return "control plane answered HTTP \(status) for \(url)" + (reason.map { ": \($0)" } ?? "")
        case .malformedAnswer(let url, let reason): return "control plane answer from \(url) is unusable: \(reason)"
        case .missingEndpoint(let key): return "the control plane's key-value answer has no \(key)"
        case .invalidRequest(let why): return "invalid control-plane request: \(why)"
        case .cancelled: return "control-plane request cancelled"
        }
    }

    init(_ error: HTTPError, url: String) {
        switch error {
        case .cancelled: self = .cancelled
        case .bodyTooLarge(_, let limit): self = .malformedAnswer(url: url, reason: "answer is larger than \(limit) bytes")
        case .connectFailed(_, let detail): self = .unreachable(url: url, detail: "cannot connect: \(detail)")
        case .timedOut(_, let detail): self = .unreachable(url: url, detail: "timed out: \(detail)")
        case .transferFailed(_, let detail): self = .unreachable(url: url, detail: detail)
        case .invalidURL: self = .invalidRequest("not a usable http(s) URL: \(url)")
        }
    }
}
