import DOCore
import Foundation
import Hummingbird

/// Reading what a client sent, refusing anything malformed with a `Rejection` that says why.
enum RequestInput {
    /// The whole body, refused with 413 beyond `limit` bytes (checked against Content-Length first, so
    /// an oversized upload is not read at all), with 415 unless it is JSON (or says no type).
    static func jsonBody(_ request: Request, limit: Int) async throws -> [UInt8] {
        if let type = request.headers[.contentType]?.lowercased(),
           !(type.hasPrefix("application/json") || type.hasPrefix("text/json")) {
            throw Rejection(status: .unsupportedMediaType, reason: "Content-Type must be application/json, not \(type)")
        }
        let tooLarge = Rejection(status: .contentTooLarge, reason: "request body is larger than \(limit) bytes")
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit { throw tooLarge }
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw tooLarge
        }
    }

    /// Decodes a JSON body; the reason names the offending field.
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], what: String) throws -> T {
        guard !bytes.isEmpty else { throw Rejection.badRequest("\(what): empty body, expected a JSON object") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw Rejection.badRequest("\(what): \(DecodingFailure.describe(error))")
        }
    }

    /// The query parameters, percent-decoded; a malformed escape is refused.
    static func query(_ request: Request) throws -> [(name: String, value: String)] {
        guard let parsed = QueryString.parse(request.uri.query) else {
            throw Rejection.badRequest("malformed percent-encoding in the query string")
        }
        return parsed
    }

    /// The value of a query parameter, matching the name case-insensitively (DO's own docs spell
    /// `altCatalogId` and `altCatalogID`). Empty values count as absent.
    static func parameter(_ name: String, in query: [(name: String, value: String)]) -> String? {
        let lower = name.lowercased()
        return query.first { $0.name.lowercased() == lower && !$0.value.isEmpty }?.value
    }

    /// The `{contentId}` path segment, percent-decoded and validated.
    static func contentId(_ context: some RequestContext) throws -> ContentId {
        let raw = context.parameters.get("contentId") ?? ""
        guard let text = PercentEncoding.decode(Substring(raw)) else {
            throw Rejection.badRequest("malformed percent-encoding in the content ID")
        }
        do {
            return try ContentId(text)
        } catch {
            throw Rejection.badRequest("\(error.description) (1 to 200 of A-Z a-z 0-9 - _ . =)")
        }
    }

    /// The `altCatalogId` parameter, checked to be an http(s) URL.
    static func altCatalogId(_ query: [(name: String, value: String)]) throws -> String? {
        guard let url = parameter("altCatalogId", in: query) else { return nil }
        guard HTTPURL.isValid(url) else {
            throw Rejection.badRequest("altCatalogId '\(url.prefix(200))' is not an absolute http(s) URL")
        }
        return url
    }
}
