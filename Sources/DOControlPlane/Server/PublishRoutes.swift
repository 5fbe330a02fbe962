import DOCore
import Foundation
import Hummingbird

/// `POST /publish`: registration of published content, committed before the answer is sent.
extension ControlPlaneService {
    func publish(_ request: Request, _ context: ControlPlaneRequestContext) async throws -> Response {
        let body = try await RequestInput.jsonBody(request, limit: configuration.maxPublishBodyBytes)
        let publish = try RequestInput.decode(PublishRequest.self, from: body, what: "registration")
        try PublisherAuthorization.authorize(publish, keyring: configuration.publisherKeys)
        let registration: Registration
        do {
            registration = try Registration(validating: publish)
        } catch {
            throw Rejection(status: .unprocessableContent, reason: error.description)
        }
        let outcome = try await withRegistry { registry throws(RegistryError) in try await registry.register(registration, now: Date()) }
        let id = registration.contentId
        logger.notice("\(outcome == .created ? "registered" : "updated") \(id) (\(registration.layout.contentLength) bytes) at \(registration.url) for publisher key \(publish.publisher?.keyId ?? "?")")
        let base = publicBase.base(for: request)
        let stored = try await withRegistry { registry throws(RegistryError) in try await registry.lookup(id: id, url: nil) }
        return try JSONReply.ok(PublishResponse(
            contentId: id.rawValue,
            created: outcome == .created,
            contentPolicyUrl: base + "/content/\(id)/contentpolicy",
            piecesHashFileUrl: stored?.hasStoredPiecesHashFile == true ? base + "/content/\(id)/phf" : nil),
            status: outcome == .created ? .created : .ok)
    }
}
