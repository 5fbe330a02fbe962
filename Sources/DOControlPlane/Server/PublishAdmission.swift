import Hummingbird
import Synchronization

/// At most `capacity` `POST /publish` requests in their handler at once (their bodies being read,
/// decoded and registered); one more is answered 503 with `Retry-After` at once, its body unread (the
/// answer ends the connection, see `ConnectionGuard`). A publish body may be tens of MB and is held
/// several times over while decoded, so this is what bounds publish memory, not the per-body cap.
final class PublishAdmission: Sendable {
    let capacity: Int
    let retryAfterSeconds: Int
    private let inHandler = Mutex(0)

    init(capacity: Int, retryAfterSeconds: Int) {
        self.capacity = max(1, capacity)
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// Takes a slot, or refuses with the 503.
    func enter() throws(Rejection) {
        let admitted = inHandler.withLock { count in
            guard count < capacity else { return false }
            count += 1
            return true
        }
        guard admitted else {
            throw Rejection(status: .serviceUnavailable,
                            reason: "\(capacity) registrations are being received already; retry in \(retryAfterSeconds) s",
                            retryAfterSeconds: retryAfterSeconds)
        }
    }

    func leave() {
        inHandler.withLock { $0 -= 1 }
    }

    /// The middleware that applies it to the routes it is added to.
    func middleware<Context: RequestContext>() -> some RouterMiddleware<Context> {
        Middleware(admission: self)
    }

    private struct Middleware<Context: RequestContext>: RouterMiddleware {
        let admission: PublishAdmission

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            try admission.enter()
            defer { admission.leave() }
            return try await next(request, context)
        }
    }
}
