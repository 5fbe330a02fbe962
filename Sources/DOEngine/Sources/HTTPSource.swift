import DOCore
import DOHTTP

/// A content URL on an HTTP server with Range support: the origin CDN (and, later, a cache host).
///
/// Every answer is checked before its bytes go anywhere: status 206 (or 200 for a whole-content
/// request), a `Content-Range` naming exactly the asked range and the known total length, and a body
/// of exactly that length. `If-Range` with the validator seen at open time turns an origin that changed
/// underneath into a clear error instead of a mix of old and new bytes.
public struct HTTPSource: PieceSource {
    public let kind: SourceKind
    public let url: String
    public let contentLength: Int
    /// ETag or Last-Modified seen when the content was opened; sent as If-Range.
    public let validator: String?
    let client: HTTPClient
    /// DO's download bandwidth policy (`DownloadThrottle`); `nil`: unlimited.
    let throttle: DownloadThrottle?

    public var name: String { url }

    public init(kind: SourceKind = .cdn, url: String, contentLength: Int, validator: String? = nil, client: HTTPClient,
                throttle: DownloadThrottle? = nil) {
        self.throttle = throttle
        self.kind = kind
        self.url = url
        self.contentLength = contentLength
        self.validator = validator
        self.client = client
    }

    public func fetch(range: Range<Int>) async throws(FetchError) -> [UInt8] {
        try await fetchPiece(range: range).bytes
    }

    /// The body arrives straight into a page-aligned piece buffer (see `PieceBuffer`).
    public func fetchPiece(range: Range<Int>) async throws(FetchError) -> PieceBuffer {
        await throttle?.acquire(range.count)
        var headers: [(name: String, value: String)] = []
        if let validator { headers.append((name: "If-Range", value: validator)) }
        let request = HTTPRequest(url: url, range: range, headers: headers, maxBodyBytes: range.count, receivesPiece: true)
        let response: HTTPResponse
        do {
            response = try await client.send(request)
        } catch {
            if case .bodyTooLarge = error { throw .wrongLength(url: url, expected: range.count, found: range.count + 1) }
            throw .transport(error)
        }
        switch response.status {
        case 206:
            let expected = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(contentLength)"
            let found = response.header("content-range") ?? "(none)"
            guard found == expected else {
                if let total = Self.total(fromContentRange: found), total != contentLength {
                    throw .contentChanged(url: url, detail: "length is now \(total), was \(contentLength)")
                }
                throw .wrongContentRange(url: url, expected: expected, found: found)
            }
        case 200:
            // A server may answer a range that spans the whole content with 200; anything else means
            // it ignored Range, or (with If-Range) that the content changed.
            guard range == 0..<contentLength else {
                if validator != nil { throw .contentChanged(url: url, detail: "If-Range did not match") }
                throw .noRangeSupport(url: url)
            }
        case 416:
            throw .contentChanged(url: url, detail: "range \(range) no longer satisfiable")
        default:
            throw .httpStatus(url: url, status: response.status)
        }
        guard let piece = response.piece, piece.count == range.count else {
            throw .wrongLength(url: url, expected: range.count, found: response.bodyCount)
        }
        throttle?.delivered(piece.count)
        return piece
    }

    /// The same content through a cache host, and the origin it names; `nil` for URLs a cache host
    /// cannot serve (https).
    func viaCacheHost(_ host: String, client: HTTPClient) -> (source: HTTPSource, origin: String)? {
        guard let (rewritten, origin) = CacheHostURL.rewrite(url, cacheHost: host) else { return nil }
        return (HTTPSource(kind: .cache, url: rewritten, contentLength: contentLength, validator: validator, client: client,
                           throttle: throttle), origin)
    }

    static func total(fromContentRange value: String) -> Int? {
        guard let slash = value.lastIndex(of: "/") else { return nil }
        return Int(value[value.index(after: slash)...])
    }
}
