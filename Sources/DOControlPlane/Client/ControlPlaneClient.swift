import DOCore
import DOHTTP
import Foundation
import Logging

/// Walks DO's control-plane chain: geo -> key-value -> content policy / discovery -> array join.
///
/// Guarantees:
/// - It follows only URLs it is given: the geo URL from its configuration, every other URL from the
///   answers (`KeyValue_EndpointFullUri`, the `{contentId}` templates, `CollectiveArray`). It works
///   with any control plane that speaks DO's field names, whatever its URL layout.
/// - The geo + key-value answers are kept for an hour and saved as a last-known-good copy; a control
///   plane that is briefly down, or down when the client starts, does not stop lookups that only need
///   those answers' URLs (see `ServiceMapCache`).
/// - Unknown content is an answer, not an error: `contentPolicy` returns `nil` and `discovery` `[]`
///   on 404. Unreachable services and malformed answers throw a `ControlPlaneError` that says which.
public final class ControlPlaneClient: Sendable {
    public let configuration: ControlPlaneClientConfiguration
    private let transport: ControlPlaneTransport
    private let cache: ServiceMapCache
    private let logger: Logger

    public init(configuration: ControlPlaneClientConfiguration, http: HTTPClient, logger: Logger) {
        self.configuration = configuration
        transport = ControlPlaneTransport(http: http)
        self.logger = logger
        let transport = self.transport
        cache = ServiceMapCache(configuration: configuration, logger: logger) {
            await Self.fetchServiceMap(configuration: configuration, transport: transport)
        }
    }

    /// A client for the control plane at `controlPlaneURL` (its base URL, or its geo URL).
    public convenience init(controlPlaneURL: String, stateDirectory: String?, http: HTTPClient, logger: Logger) {
        self.init(configuration: .init(geoURL: ControlPlaneClientConfiguration.geoURL(forControlPlane: controlPlaneURL),
                                       stateDirectory: stateDirectory),
                  http: http, logger: logger)
    }

    // MARK: - The chain

    /// The geo answer in use (fetched, or last known good).
    public func geo() async throws(ControlPlaneError) -> GeoResponse {
        try await cache.map().geo
    }

    /// The key-value answer in use (fetched, or last known good).
    public func keyValue() async throws(ControlPlaneError) -> KeyValueResponse {
        try await cache.map().keyValue
    }

    /// The content policy of a content, by content ID or by URL (`altCatalogId`, with DO's placeholder
    /// ID when there is no content ID); `nil` when the control plane does not know the content.
    public func contentPolicy(contentId: ContentId?, altCatalogId: String?) async throws(ControlPlaneError) -> ContentPolicy? {
        let map = try await cache.map()
        let id = try Self.pathId(contentId, altCatalogId)
        let template: String
        if let full = map.keyValue.contentPolicyEndpointFullUri {
            template = full
        } else if let root = map.keyValue.contentPolicyEndpointUri {
            // do-protocol.md 2.1 call 3: <ContentPolicy_EndpointUri>/content/<contentId>/contentpolicy.
            template = HTTPURL.trimmingTrailingSlashes(root) + "/content/\(KeyValueResponse.contentIdPlaceholder)/contentpolicy"
        } else {
            throw .missingEndpoint("ContentPolicy_EndpointFullUri")
        }
        var parameters: [(String, String)] = []
        if let altCatalogId { parameters.append(("altCatalogId", altCatalogId)) }
        parameters += commonParameters(map)
        let url = QueryString.append(parameters, to: EndpointTemplate.expand(template, contentId: id))
        guard let policy = try await getJSON(ContentPolicy.self, url: url) else { return nil }
        guard SHA256Digest(base64: policy.hashOfHashes) != nil else {
            throw .malformedAnswer(url: url, reason: "HashOfHashes '\(policy.hashOfHashes.prefix(80))' is not base64 of 32 bytes")
        }
        return policy
    }

    /// The discovery answer for a content: where its swarm (array) service is; `[]` when unknown.
    public func discovery(contentId: ContentId?, altCatalogId: String?) async throws(ControlPlaneError) -> [DiscoveryEntry] {
        let map = try await cache.map()
        let id = try Self.pathId(contentId, altCatalogId)
        guard let template = map.keyValue.discoveryEndpointFullUri else { throw .missingEndpoint("Discovery_EndpointFullUri") }
        var parameters: [(String, String)] = [("partitionId", "0")]
        if let country = map.geo.countryCode { parameters.append(("CountryCode", country)) }
        if let altCatalogId { parameters.append(("altCatalogId", altCatalogId)) }
        parameters += [("doClientVersion", configuration.doClientVersion), ("profile", configuration.profile)]
        let url = QueryString.append(parameters, to: EndpointTemplate.expand(template, contentId: id))
        return try await getJSON([DiscoveryEntry].self, url: url) ?? []
    }

    /// Announces this peer to a swarm: `POST <collectiveArray>join/` with DO's join body.
    public func join(collectiveArray: String, request: JoinRequest) async throws(ControlPlaneError) -> JoinResponse {
        guard HTTPURL.isValid(collectiveArray) else {
            throw .malformedAnswer(url: collectiveArray, reason: "CollectiveArray is not an absolute http(s) URL")
        }
        let url = collectiveArray + (collectiveArray.hasSuffix("/") ? "" : "/") + "join/"
        return try await postJSON(request, to: url, expecting: JoinResponse.self)
    }

    /// Registers published content with the control plane, at the key-value answer's
    /// `Publish_EndpointFullUri`. The control plane has committed it when this returns.
    public func publish(_ request: PublishRequest) async throws(ControlPlaneError) -> PublishResponse {
        let map = try await cache.map()
        guard let url = map.keyValue.publishEndpointFullUri else { throw .missingEndpoint("Publish_EndpointFullUri") }
        // A control plane reading its maximum of publish bodies at once says when to come back.
        return try await postWaitingWhileBusy(request, to: url, expecting: PublishResponse.self)
    }

    /// Registers many contents, at the key-value answer's `PublishBatch_EndpointFullUri`, in batches of
    /// at most `configuration.publishBatchCount` registrations and `publishBatchBytes` of body (one
    /// request each, committed when it returns); one `POST /publish` each against a control plane that
    /// names no batch endpoint. Results come in the order of `requests`: the registration, or why the
    /// registry refused it. A batch the control plane refuses as a whole throws.
    public func publishAll(_ requests: [PublishRequest]) async throws(ControlPlaneError) -> [Result<PublishResponse, ControlPlaneError>] {
        let map = try await cache.map()
        guard let url = map.keyValue.publishBatchEndpointFullUri else {
            var results: [Result<PublishResponse, ControlPlaneError>] = []
            for request in requests { results.append(.success(try await publish(request))) }
            return results
        }
        var results: [Result<PublishResponse, ControlPlaneError>] = []
        results.reserveCapacity(requests.count)
        var start = 0
        while start < requests.count {
            // Grow the batch while it stays within both bounds (a registration alone always goes).
            var end = start, bytes = 0
            while end < requests.count, end - start < configuration.publishBatchCount {
                let size = try Self.encode(requests[end]).count + 1
                if end > start, bytes + size > configuration.publishBatchBytes { break }
                bytes += size
                end += 1
            }
            let answer = try await postWaitingWhileBusy(PublishBatchRequest(registrations: Array(requests[start..<end])), to: url,
                                                        expecting: PublishBatchResponse.self)
            guard answer.results.count == end - start else {
                throw .malformedAnswer(url: url, reason: "\(answer.results.count) results for \(end - start) registrations")
            }
            for result in answer.results {
                if let registered = result.registered {
                    results.append(.success(registered))
                } else {
                    results.append(.failure(.httpStatus(url: url, status: result.refusedStatus ?? 0, reason: result.refusedReason)))
                }
            }
            start = end
        }
        return results
    }

    /// POSTs `body`, waiting and retrying while the control plane answers busy (see `publish`).
    private func postWaitingWhileBusy<Body: Encodable, T: Decodable>(_ body: Body, to url: String,
                                                                    expecting type: T.Type) async throws(ControlPlaneError) -> T {
        let json = try Self.encode(body)
        var waited = 0.0
        while true {
            let response = try await transport.post(url, json: json, maxBytes: configuration.maxAnswerBytes)
            if response.status == 503, let delay = Self.busyRetryDelay(response),
               waited + delay <= configuration.publishBusyWaitSeconds {
                waited += delay
                do { try await Task.sleep(for: .seconds(delay)) } catch { throw .cancelled }
                continue
            }
            return try Self.decode(type, response, url: url)
        }
    }

    /// A 503's `Retry-After` (in seconds, at most 30), plus up to as much again at random so that
    /// publishers refused together do not come back together. nil without a usable header.
    private static func busyRetryDelay(_ response: HTTPResponse) -> Double? {
        guard let text = response.header("retry-after"), let seconds = Double(text), seconds >= 0 else { return nil }
        let base = min(max(seconds, 0.1), 30)
        return base * (1 + Double.random(in: 0..<1))
    }

    // MARK: - Internals

    private static func pathId(_ contentId: ContentId?, _ altCatalogId: String?) throws(ControlPlaneError) -> String {
        if let altCatalogId, !HTTPURL.isValid(altCatalogId) {
            throw .invalidRequest("altCatalogId '\(altCatalogId.prefix(200))' is not an absolute http(s) URL")
        }
        if let contentId { return contentId.rawValue }
        guard altCatalogId != nil else { throw .invalidRequest("neither a content ID nor a URL (altCatalogId) was given") }
        return EndpointTemplate.urlLookupContentId
    }

    private func commonParameters(_ map: ServiceMap) -> [(String, String)] {
        var out = [("doClientVersion", configuration.doClientVersion), ("profile", configuration.profile)]
        if let country = map.geo.countryCode { out.append(("countryCode", country)) }
        return out
    }

    private func getJSON<T: Decodable>(_ type: T.Type, url: String) async throws(ControlPlaneError) -> T? {
        let response = try await transport.get(url, maxBytes: configuration.maxAnswerBytes)
        if response.status == 404 { return nil }
        return try Self.decode(type, response, url: url)
    }

    private func postJSON<Body: Encodable, T: Decodable>(_ body: Body, to url: String, expecting type: T.Type) async throws(ControlPlaneError) -> T {
        let json = try Self.encode(body)
        let response = try await transport.post(url, json: json, maxBytes: configuration.maxAnswerBytes)
        return try Self.decode(type, response, url: url)
    }

    private static func encode<Body: Encodable>(_ body: Body) throws(ControlPlaneError) -> [UInt8] {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            return Array(try encoder.encode(body))
        } catch {
            throw .invalidRequest("cannot encode the request: \(error)")
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse, url: String) throws(ControlPlaneError) -> T {
        guard (200..<300).contains(response.status) else {
            let reason = try? JSONDecoder().decode(ErrorBody.self, from: Data(response.body)).error
            throw .httpStatus(url: url, status: response.status, reason: reason)
        }
        if let type = response.header("content-type")?.lowercased(), type.hasPrefix("text/html") {
            throw .malformedAnswer(url: url, reason: "got an HTML page, not JSON (a captive portal or a proxy error page?)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw .malformedAnswer(url: url, reason: DecodingFailure.describe(error))
        }
    }

    /// geo, then key-value at the URL geo names, with DO's parameters.
    private static func fetchServiceMap(configuration: ControlPlaneClientConfiguration,
                                        transport: ControlPlaneTransport) async -> Result<ServiceMap, ControlPlaneError> {
        do throws(ControlPlaneError) {
            var geoParameters = [("doClientVersion", configuration.doClientVersion), ("profile", configuration.profile)]
            if let group = configuration.groupId { geoParameters.append(("groupID", group)) }
            let geoURL = QueryString.append(geoParameters, to: configuration.geoURL)
            let geoResponse = try await transport.get(geoURL, maxBytes: configuration.maxAnswerBytes)
            let geo = try decode(GeoResponse.self, geoResponse, url: geoURL)
            guard HTTPURL.isValid(geo.keyValueEndpointFullUri) else {
                throw .malformedAnswer(url: geoURL, reason: "KeyValue_EndpointFullUri '\(geo.keyValueEndpointFullUri.prefix(200))' is not an absolute http(s) URL")
            }
            var kvParameters = [("doClientVersion", configuration.doClientVersion)]
            if let country = geo.countryCode { kvParameters.append(("countryCode", country)) }
            kvParameters.append(("profile", configuration.profile))
            if let cacheId = geo.cacheId { kvParameters.append(("CacheId", cacheId)) }
            let kvURL = QueryString.append(kvParameters, to: geo.keyValueEndpointFullUri)
            let kvResponse = try await transport.get(kvURL, maxBytes: configuration.maxAnswerBytes)
            let keyValue = try decode(KeyValueResponse.self, kvResponse, url: kvURL)
            return .success(ServiceMap(geoURL: configuration.geoURL, geo: geo, keyValue: keyValue, fetchedAt: Date()))
        } catch {
            return .failure(error)
        }
    }
}
