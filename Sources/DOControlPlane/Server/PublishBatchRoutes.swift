import DOCore
import Foundation
import Hummingbird

/// `POST /publish/batch`: many registrations in one request (see `PublishBatchRequest` for the rules),
/// committed in one transaction before the answer is sent. Behind the same admission as `/publish`.
extension ControlPlaneService {
    func publishBatch(_ request: Request, _ context: ControlPlaneRequestContext) async throws -> Response {
        let body = try await RequestInput.jsonBody(request, limit: configuration.maxPublishBodyBytes)
        guard !body.isEmpty else { throw Rejection.badRequest("batch: empty body, expected a JSON object") }
        let decoder = JSONDecoder()
        decoder.userInfo[PublishBatchRequest.maxCountKey] = configuration.maxPublishBatchCount
        let batch: PublishBatchRequest
        do {
            batch = try decoder.decode(PublishBatchRequest.self, from: Data(body))
        } catch {
            throw Rejection.badRequest("batch: \(DecodingFailure.describe(error))")
        }
        guard !batch.registrations.isEmpty else { throw Rejection.badRequest("batch: no registrations") }
        // Every registration is authorized and validated before anything is written.
        var registrations: [Registration] = []
        registrations.reserveCapacity(batch.registrations.count)
        for (i, publish) in batch.registrations.enumerated() {
            do {
                try PublisherAuthorization.authorize(publish, keyring: configuration.publisherKeys)
            } catch {
                throw Rejection(status: error.status, reason: "registration \(i): \(error.reason)")
            }
            do {
                registrations.append(try Registration(validating: publish))
            } catch {
                throw Rejection(status: .unprocessableContent, reason: "registration \(i): \(error.description)")
            }
        }
        let all = registrations
        let outcomes = try await withRegistry { registry throws(RegistryError) in try await registry.registerAll(all, now: Date()) }
        let base = publicBase.base(for: request)
        var results: [PublishBatchResponse.Result] = []
        var created = 0
        for (registration, outcome) in zip(registrations, outcomes) {
            switch outcome {
            case .success(let outcome):
                if outcome == .created { created += 1 }
                let id = registration.contentId
                results.append(.init(registered: PublishResponse(
                    contentId: id.rawValue, created: outcome == .created,
                    contentPolicyUrl: base + "/content/\(id)/contentpolicy",
                    piecesHashFileUrl: registration.piecesHashFile != nil ? base + "/content/\(id)/phf" : nil)))
            case .failure(let error):
                let status: Int
                switch error {
                case .conflict, .urlOwnedByAnotherPublisher: status = 409
                default: status = 503
                }
                results.append(.init(refusedStatus: status, reason: error.description))
            }
        }
        logger.notice("batch: \(registrations.count) registration(s), \(created) new, \(results.filter { $0.registered == nil }.count) refused, for publisher key \(batch.registrations.first?.publisher?.keyId ?? "?")")
        return try JSONReply.ok(PublishBatchResponse(results: results))
    }
}
