import DOCore

/// One HTTP request: GET or HEAD with an optional byte range (the piece engine), or POST with a body
/// (the control plane), plus extra headers.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", head = "HEAD", post = "POST" }

    public var url: String
    public var method: Method
    /// Bytes wanted, as a half-open range; sent as `Range: bytes=lower-(upper-1)`.
    public var range: Range<Int>?
    public var headers: [(name: String, value: String)]
    /// A body longer than this is refused (`HTTPError.bodyTooLarge`): a server cannot make us buffer without bound.
    public var maxBodyBytes: Int
    /// What a POST sends.
    public var body: [UInt8]?
    /// Receive the body of a range request straight into a `PieceBuffer` of the range's size
    /// (`HTTPResponse.piece`), instead of an array: no copy between the network and the disk write.
    public var receivesPiece: Bool

    public init(url: String, method: Method = .get, range: Range<Int>? = nil,
                headers: [(name: String, value: String)] = [], maxBodyBytes: Int = 64 << 20, body: [UInt8]? = nil,
                receivesPiece: Bool = false) {
        self.url = url
        self.method = method
        self.range = range
        self.headers = headers
        self.maxBodyBytes = maxBodyBytes
        self.body = body
        self.receivesPiece = receivesPiece
    }
}

/// A complete response. Header names are lower-cased; a repeated header keeps its last value.
///
/// A request that `receivesPiece` gets its body in `piece` (when exactly the range's size arrived)
/// and leaves `body` empty; `bodyCount` is the length received either way.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]
    public var piece: PieceBuffer?
    public var bodyCount: Int

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
        self.piece = nil
        self.bodyCount = body.count
    }

    public init(status: Int, headers: [String: String], piece: PieceBuffer?, bodyCount: Int) {
        self.status = status
        self.headers = headers
        self.body = []
        self.piece = piece
        self.bodyCount = bodyCount
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Transport-level failures: the request got no complete HTTP answer.
public enum HTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidURL(String)
    case connectFailed(url: String, detail: String)
    case timedOut(url: String, detail: String)
    case bodyTooLarge(url: String, limit: Int)
    case transferFailed(url: String, detail: String)
    case cancelled

    public var description: String {
        switch self {
        case .invalidURL(let u): return "not a usable http(s) URL: \(u)"
        case .connectFailed(let u, let d): return "cannot connect to \(u): \(d)"
        case .timedOut(let u, let d): return "timed out talking to \(u): \(d)"
        case .bodyTooLarge(let u, let limit): return "\(u) sent more than the \(limit) bytes asked for"
        case .transferFailed(let u, let d): return "transfer from \(u) failed: \(d)"
        case .cancelled: return "request cancelled"
        }
    }
}

/// Timeouts and limits for every request of one client.
public struct HTTPClientConfiguration: Sendable {
    /// Connection setup; DO uses 15 s for the CDN and 3 s for cache hosts.
    public var connectTimeoutSeconds: Double = 15
    /// A transfer slower than `lowSpeedBytesPerSecond` for `lowSpeedSeconds` is abandoned: stalls end, slow links don't.
    public var lowSpeedBytesPerSecond = 1024
    public var lowSpeedSeconds = 20
    /// Upper bound on one whole request, a last resort behind the stall detection.
    public var totalTimeoutSeconds: Double = 300
    /// CA bundle for TLS verification; `nil` uses the system's. Verification is never turned off.
    public var caFile: String?
    /// Sent with every request; names dofs and its version (`DofsVersion`).
    public var userAgent = DofsVersion.userAgent
    /// The local IP address requests leave from; `nil` lets the kernel choose. A mount announces its
    /// peer address to the control plane from that address, since the control plane believes only the
    /// address a join comes from.
    public var localAddress: String?

    public init() {}
}
