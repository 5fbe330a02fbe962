import DOControlPlane
import DOCore
import DOEngine
import DOFS
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus

/// `GET /metrics` in Prometheus' text format (version 0.0.4), for a node started with `--metrics-listen`.
///
/// The engine, the swarms and the FUSE adapter emit through swift-metrics; this is the one place that
/// picks the backend. `MetricsSystem.bootstrap` may run once per process, so the Prometheus registry is
/// made (and bootstrapped) on first use of `registry`, which the node does before it builds anything
/// else: handles made before the bootstrap would stay bound to the no-op backend. Without
/// `--metrics-listen` nothing is bootstrapped and nothing listens.
final class MetricsEndpoint: Sendable {
    /// The port it is bound to (the one picked when asked for port 0).
    let port: Int
    private let task: Task<Void, any Error>

    /// The process's registry: swift-metrics' backend from the first use on.
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = ["dofs_read_seconds": FuseMetrics.readBuckets]
        MetricsSystem.bootstrap(factory)
        EngineMetrics.declare()
        FuseMetrics.declare()
        return registry
    }()

    private init(port: Int, task: Task<Void, any Error>) {
        self.port = port
        self.task = task
    }

    /// Bootstraps the registry, binds `host:port` and returns once scrapes are answered; throws when
    /// the address cannot be bound (nothing keeps running then).
    static func start(host: String, port: Int, logger: Logger) async throws(NodeError) -> MetricsEndpoint {
        let registry = Self.registry
        let router = Router()
        router.get("metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let launch = ServerLaunch(port: port)
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "dofs"),
                              onServerRunning: launch.onServerRunning, logger: logger)
        // No signal handlers of its own: the node decides when to stop.
        let (task, outcome) = await launch.launch { try await app.runService(gracefulShutdownSignals: []) }
        switch outcome {
        case .success(let bound):
            logger.notice("metrics on http://\(IPAddress.urlHost(host)):\(bound)/metrics")
            return MetricsEndpoint(port: bound, task: task)
        case .failure(let error):
            throw .metrics("cannot listen for metrics on \(IPAddress.urlHost(host)):\(port): \(error) (use another --metrics-listen)")
        }
    }

    /// Stops listening; a scrape in flight is cut off.
    func stop() async {
        task.cancel()
        _ = await task.result
    }
}
