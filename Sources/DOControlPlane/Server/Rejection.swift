import Foundation
import Hummingbird

/// A request the server refuses, with the status and the reason sent back as `{"Error": reason}`.
struct Rejection: Error {
    let status: HTTPResponse.Status
    let reason: String
    /// Sent as `Retry-After` (a 503 the client should retry).
    var retryAfterSeconds: Int? = nil

    static func badRequest(_ reason: String) -> Rejection { .init(status: .badRequest, reason: reason) }
    static func notFound(_ reason: String) -> Rejection { .init(status: .notFound, reason: reason) }
}

/// Turns every error a handler (or Hummingbird's router) throws into a JSON error answer, so no
/// request ever gets an empty or HTML error body, and an unexpected error is logged but never crashes.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let rejection as Rejection {
            context.logger.debug("\(request.method) \(request.uri.path) -> \(rejection.status.code): \(rejection.reason)")
            var response = JSONReply.error(rejection.status, rejection.reason)
            if let seconds = rejection.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
            return response
        } catch let error as HTTPError {
            let reason = error.body ?? (error.status == .notFound
                ? "no such endpoint: \(request.method) \(request.uri.path)"
                : error.status.reasonPhrase)
            return JSONReply.error(error.status, reason)
        } catch let error as any HTTPResponseError {
            return JSONReply.error(error.status, error.status.reasonPhrase)
        } catch {
            context.logger.error("\(request.method) \(request.uri.path) failed: \(error)")
            return JSONReply.error(.internalServerError, "internal error: \(error)")
        }
    }
}

/// JSON answers.
enum JSONReply {
    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func ok<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        return raw(Array(data), status: status)
    }

    static func raw(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func error(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        let body = (try? encoder.encode(ErrorBody(error: reason))).map(Array.init) ?? Array(#"{"Error":"error"}"#.utf8)
        return raw(body, status: status)
    }
}
