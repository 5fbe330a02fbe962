import DOCore
import Foundation
import Hummingbird
import Logging

/// The state every handler shares; the handlers themselves live in the `*Routes.swift` files, one
/// per step of DO's chain.
final class ControlPlaneService: Sendable {
    let configuration: ControlPlaneConfiguration
    let registry: any ContentRegistry
    let membership: any MembershipStore
    let publicBase: PublicBaseURL
    let publishAdmission: PublishAdmission
    let logger: Logger
    /// `Version` of `/geo`: opaque hex that changes when the configuration does.
    let geoVersion: String

    init(configuration: ControlPlaneConfiguration, stores: ControlPlaneStores, logger: Logger) {
        self.configuration = configuration
        registry = stores.registry
        membership = stores.membership
        publicBase = PublicBaseURL(configured: configuration.publicURL, host: configuration.host, port: configuration.port)
        publishAdmission = PublishAdmission(capacity: configuration.maxConcurrentPublishBodies,
                                            retryAfterSeconds: configuration.publishRetryAfterSeconds)
        self.logger = logger
        let fingerprint = [configuration.publicURL ?? "", configuration.cacheHost ?? "", configuration.countryCode,
                           "\(configuration.policies)", "\(configuration.reannounceSeconds)"].joined(separator: "\n")
        geoVersion = String(SHA256.hash(Array(fingerprint.utf8)).hex.prefix(16)).uppercased()
    }

    /// Registers every route on `router`.
    func addRoutes(to router: Router<ControlPlaneRequestContext>) {
        router.add(middleware: JSONErrorMiddleware())
        router.get("/geo") { request, context in try self.geo(request, context) }
        router.get("/all") { request, context in try self.keyValue(request, context) }
        router.get("/content/:contentId/contentpolicy") { request, context in try await self.contentPolicy(request, context) }
        router.get("/content/:contentId/discovery") { request, context in try await self.discovery(request, context) }
        router.get("/content/:contentId/phf") { request, context in try await self.piecesHashFile(request, context) }
        router.post("/array/:contentId/join") { request, context in try await self.join(request, context) }
        router.group().add(middleware: publishAdmission.middleware())
            .post("/publish") { request, context in try await self.publish(request, context) }
            .post("/publish/batch") { request, context in try await self.publishBatch(request, context) }
    }

    /// Where a request comes from: the connection's peer address, or, when that peer is one of the
    /// `trustedProxies`, the client address the proxy names (`X-Real-IP`, else the last
    /// `X-Forwarded-For` entry). Nobody else can claim an address.
    func origin(_ request: Request, _ context: ControlPlaneRequestContext) -> RequestOrigin {
        guard let connection = context.remoteIp else { return RequestOrigin(address: nil, viaTrustedProxy: false) }
        guard configuration.trustedProxies.contains(connection) else {
            return RequestOrigin(address: connection, viaTrustedProxy: false)
        }
        if let real = Self.header(request, "x-real-ip")?.trimmingCharacters(in: .whitespaces), IPAddress.isValid(real) {
            return RequestOrigin(address: IPAddress.normalized(real), viaTrustedProxy: true)
        }
        if let chain = Self.header(request, "x-forwarded-for"),
           let last = chain.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), IPAddress.isValid(last) {
            return RequestOrigin(address: IPAddress.normalized(last), viaTrustedProxy: true)
        }
        return RequestOrigin(address: connection, viaTrustedProxy: true)
    }

    /// The last value of a header, by lower-case name.
    static func header(_ request: Request, _ name: String) -> String? {
        request.headers.last { $0.name.canonicalName == name }?.value
    }

    /// Runs a registry call, mapping its failures to answers.
    func withRegistry<T: Sendable>(_ body: (any ContentRegistry) async throws(RegistryError) -> T) async throws -> T {
        do throws(RegistryError) {
            return try await body(registry)
        } catch {
            switch error {
            case .conflict, .urlOwnedByAnotherPublisher:
                throw Rejection(status: .conflict, reason: error.description)
            default:
                logger.error("registry: \(error)")
                throw Rejection(status: .serviceUnavailable, reason: error.description)
            }
        }
    }
}

/// Where a request came from, as far as the control plane can tell.
struct RequestOrigin {
    /// The client's IP address (normalized); `nil` only when the connection has none (not over IP).
    let address: String?
    /// True when a proxy the control plane trusts forwarded the request: then what the request says
    /// about its sender (`ReportedIp`) is believed too.
    let viaTrustedProxy: Bool
}
