import DOCore
import DOHTTP
import Foundation

/// Learns a simple-mode content's size and validator, and checks that its server honours ranges.
enum OriginProbe {
    struct Result {
        var contentLength: Int
        var validator: String?
        /// The server's `Last-Modified`, shown as the file's modification time.
        var lastModified: Date?
    }

    static func probe(url: String, client: HTTPClient) async throws(FetchError) -> Result {
        guard HTTPURL.isValid(url) else { throw .transport(.invalidURL(url)) }
        let head: HTTPResponse
        do {
            head = try await client.send(HTTPRequest(url: url, method: .head))
        } catch {
            throw .transport(error)
        }
        guard head.status == 200 else { throw .httpStatus(url: url, status: head.status) }
        let length = try Self.contentLength(head.header("content-length"), url: url)
        // A strong ETag or a Last-Modified date lets If-Range catch a content that changes later.
        var validator = head.header("etag").flatMap { $0.hasPrefix("W/") ? nil : $0 }
        if validator == nil { validator = head.header("last-modified") }
        if length > 0 {
            // Ask for one byte: a server that ignores Range answers 200 with more, which the limit refuses.
            let probe: HTTPResponse
            do {
                probe = try await client.send(HTTPRequest(url: url, range: 0..<1, maxBodyBytes: 1))
            } catch {
                if case .bodyTooLarge = error { throw .noRangeSupport(url: url) }
                throw .transport(error)
            }
            guard probe.status == 206 || (probe.status == 200 && length == 1) else {
                if probe.status == 200 { throw .noRangeSupport(url: url) }
                throw .httpStatus(url: url, status: probe.status)
            }
        }
        return Result(contentLength: length, validator: validator,
                      lastModified: head.header("last-modified").flatMap(HTTPDate.parse))
    }

    /// The `Last-Modified` of `url` from one HEAD request; `nil` when the server is unreachable, says
    /// nothing, or answers anything but 200 (a file's date is never worth failing an open for).
    static func lastModified(url: String, client: HTTPClient) async -> Date? {
        guard HTTPURL.isValid(url), let head = try? await client.send(HTTPRequest(url: url, method: .head)),
              head.status == 200 else { return nil }
        return head.header("last-modified").flatMap(HTTPDate.parse)
    }

    /// The declared length, refused when absent, malformed, or beyond what the piece math supports
    /// (a server claiming 10^18 bytes must not become a file of 10^12 pieces).
    static func contentLength(_ header: String?, url: String) throws(FetchError) -> Int {
        guard let text = header?.trimmingCharacters(in: .whitespaces), !text.isEmpty,
              text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw .unknownSize(url: url)
        }
        guard let length = Int(text), PieceLayout.supports(contentLength: length) else {
            throw .unsupportedSize(url: url, claimed: String(text.prefix(40)))
        }
        return length
    }
}
