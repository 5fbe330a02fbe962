// The dofs control plane: DO's chain, served.
//
// A DO client finds everything through one URL. `GET /geo` names the key-value service; the key-value
// answer (`GET /all`) names the content-policy and discovery services as URL templates with a literal
// `{contentId}`; discovery names the content's swarm ("array") service; the client posts `join/` there
// and gets peers. This server answers every step with DO's field names (do-protocol.md section 2), so
// the client code that walks the chain is the one that would walk DO's, and it follows only the URLs it
// is handed: none of the paths below is known to the client.
//
//     GET  /geo                                   -> KeyValue_EndpointFullUri = <base>/all
//     GET  /all                                   -> ContentPolicy_EndpointFullUri, Discovery_EndpointFullUri
//     GET  /content/{contentId}/contentpolicy[?altCatalogId=URL]
//     GET  /content/{contentId}/discovery[?altCatalogId=URL]  -> [{"CollectiveArray": "<base>/array/<id>/"}]
//     POST /array/{contentId}/join/                -> {"Peers": [...], "ReannounceSecs": N}   (dofs format)
//     GET  /content/{contentId}/phf                -> the stored pieces hash file
//     POST /publish                                -> registers content (dofs)
//     POST /publish/batch                          -> registers many at once, one transaction (dofs)
//
// Three kinds of state, three lifetimes:
// - The registry (published content: ID <-> URLs <-> HashOfHashes, PHF) is durable: SQLite in WAL mode,
//   each registration one transaction committed before the answer is sent, so an acknowledged
//   registration survives kill -9. Its calls block on disk, so they run on one dedicated queue, never
//   on the two threads of Swift's cooperative pool.
// - Swarm membership is memory with expiry: a member stays listed for two re-announce intervals. Losing
//   it on restart costs one re-announce interval, which is why it is not worth a disk write per join.
// - Everything else (policies, base URL) is configuration.
// With `database` set (a fleet), the registry and membership both live in PostgreSQL instead
// (`ControlPlaneStores`): instances keep no state of their own but join rate buckets, so any number of
// them behind one address serve one fleet, and killing one loses nothing.
//
// Every URL handed out is absolute and starts with the public base URL (`--public-url`), so the server
// works unchanged behind a TLS-terminating proxy. Every refusal is a 4xx with `{"Error": reason}`;
// request bodies are capped before they are read; no input can crash the process.
//
// What clients can make the server hold is bounded (`ControlPlaneConfiguration`, resource bounds):
// connections (a cap, beyond which accepting pauses), how long a connection may take to send a head or
// sit idle, publish bodies being read at once, and every error answer ends its connection without
// reading further (`ConnectionGuard`).

import DOCore
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
// Hummingbird's `Application` is a swift-service-lifecycle `Service`; a group of our own lets `stop()`
// shut it down gracefully (in-flight requests are answered) instead of cancelling it.
import ServiceLifecycle
import Synchronization

/// Starts control planes: in-process (`dofs mount` without `--control-plane`, tests) or as the
/// `dofs control-plane` service.
public enum ControlPlaneServer {
    /// Opens the registry in `configuration.dataDirectory`, binds, and returns once requests are served.
    ///
    /// Throws when the registry cannot be opened or the address cannot be bound; nothing keeps running then.
    public static func start(configuration: ControlPlaneConfiguration, logger: Logger) async throws(ControlPlaneServerError) -> RunningControlPlane {
        if let url = configuration.publicURL, !HTTPURL.isValid(url) {
            throw .invalidConfiguration("public URL '\(url)' is not an absolute http(s) URL")
        }
        guard (0...65_535).contains(configuration.port) else {
            throw .invalidConfiguration("port \(configuration.port) is not in 0...65535")
        }
        let stores = try await ControlPlaneStores.open(configuration, logger: logger)
        let service = ControlPlaneService(configuration: configuration, stores: stores, logger: logger)
        let router = Router(context: ControlPlaneRequestContext.self, options: .autoGenerateHeadEndpoints)
        service.addRoutes(to: router)

        let launch = ServerLaunch(port: configuration.port)
        let connectionCap = DescriptorLimit.connectionCap(configured: configuration.maxConnections,
                                                          reserved: configuration.descriptorsReserved)
        if connectionCap < configuration.maxConnections {
            logger.warning("connection cap lowered from \(configuration.maxConnections) to \(connectionCap) to fit the descriptor limit (\(DescriptorLimit.current ?? 0), \(configuration.descriptorsReserved) kept free)")
        }
        let app = Application(
            router: router,
            server: GuardedHTTP1Channel.builder(configuration, logger: logger),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "dofs",
                                 availableConnectionsDelegate: MaximumAvailableConnections(connectionCap, logger: logger)),
            onServerRunning: launch.onServerRunning,
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let (task, outcome) = await launch.launch { try await group.run() }
        switch outcome {
        case .success(let port):
            service.publicBase.setBoundPort(port)
            let running = RunningControlPlane(host: configuration.host, port: port, baseURL: service.publicBase.fixed,
                                              group: group, task: task, stores: stores)
            logger.notice("control plane listening on \(IPAddress.urlHost(configuration.host)):\(port), public URL \(running.baseURL), data \(stores.description)")
            return running
        case .failure(let error):
            await stores.close()
            throw .cannotListen(address: "\(IPAddress.urlHost(configuration.host)):\(configuration.port)", detail: "\(error)")
        }
    }

    /// `start(configuration:logger:)` with the common options; `port` 0 picks a free port.
    public static func start(host: String, port: Int, dataDir: String, publicURL: String? = nil,
                             logger: Logger) async throws(ControlPlaneServerError) -> RunningControlPlane {
        try await start(configuration: .init(host: host, port: port, dataDirectory: dataDir, publicURL: publicURL),
                        logger: logger)
    }
}

/// A control plane serving requests, until `stop()`.
public final class RunningControlPlane: Sendable {
    /// The address it listens on, as configured.
    public let host: String
    /// The port it is bound to (the one picked when the configuration said 0).
    public let port: Int
    /// The base URL clients use: the public URL, else `http://<host>:<port>`; `baseURL + "/geo"` starts the chain.
    public let baseURL: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    private let stores: ControlPlaneStores
    private let stopRequested = Mutex(false)

    /// How long `stop()` lets in-flight requests finish before it cuts them off.
    static let gracePeriod: Duration = .seconds(5)

    init(host: String, port: Int, baseURL: String, group: ServiceGroup, task: Task<Void, any Error>, stores: ControlPlaneStores) {
        self.host = host
        self.port = port
        self.baseURL = baseURL
        self.group = group
        self.task = task
        self.stores = stores
    }

    /// The URL of the first call of the chain.
    public var geoURL: String { baseURL + "/geo" }

    /// Stops listening, lets requests in flight finish (for up to 5 s, then cuts them off), closes
    /// idle connections and the registry. Registrations already acknowledged are on disk; one in
    /// flight is either committed or not, never half. Calling it again is harmless.
    public func stop() async {
        stopRequested.withLock { $0 = true }
        await group.triggerGracefulShutdown()
        let task = self.task
        let deadline = Task {
            try await Task.sleep(for: Self.gracePeriod)
            task.cancel()
        }
        _ = await task.result
        deadline.cancel()
        await stores.close()
    }

    /// Suspends until the server stops: returns after `stop()`, throws if it failed on its own.
    public func waitUntilStopped() async throws {
        do {
            try await task.value
        } catch {
            if stopRequested.withLock({ $0 }) { return }
            throw error
        }
    }
}

/// Why a control plane could not start.
public enum ControlPlaneServerError: Error, CustomStringConvertible {
    case invalidConfiguration(String)
    case registry(RegistryError)
    /// `database` could not be reached or prepared.
    case database(String)
    case cannotListen(address: String, detail: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let why): return "invalid control-plane configuration: \(why)"
        case .registry(let error): return "\(error)"
        case .database(let why): return "database: \(why)"
        case .cannotListen(let address, let detail): return "cannot listen on \(address): \(detail)"
        }
    }
}
