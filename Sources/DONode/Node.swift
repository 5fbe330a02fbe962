import DOControlPlane
import DOCore
import DOEngine
import DOFS
import DOHTTP
import DOSwarm
import Foundation
import Logging
import Synchronization

/// One dofs node per host, as DO is one service per machine: it owns the piece cache (one `Engine`,
/// so one `CacheLock`), the control-plane client and the embedded control plane, the peer server on
/// one port and every swarm, the cache hosts, and any number of FUSE mounts that share all of them.
///
/// ## Ownership
/// `start` builds everything in dependency order (control plane -> peer server -> cache hosts ->
/// engine) and `shutdown` tears it down in reverse, after every mount is gone. Mounts come and go
/// with `attach` / `detach`; each runs its FUSE session on a thread of its own (`NodeMount`), and a
/// mount unmounted from outside (`fusermount3 -u`) leaves the table by itself. Nothing here parses a
/// flag: the CLI fills a `NodeConfiguration` and calls in.
public final class Node: Sendable {
    public let configuration: NodeConfiguration
    public let engine: Engine
    let logger: Logger
    private let embedded: RunningControlPlane?
    private let peerServer: PeerServer?
    /// `GET /metrics`, when `metricsListen` is set.
    private let metrics: MetricsEndpoint?
    private let state = Mutex(State())
    private let events: AsyncStream<Event>.Continuation
    /// Ends when the node has shut down.
    public let finished: AsyncStream<Event>
    /// Prefetches running now (foreground and background).
    let prefetches = ActivePrefetches()
    /// Re-reads the policy files while the node runs.
    private let policyTask = Mutex<Task<Void, Never>?>(nil)

    private struct State {
        var mounts: [String: NodeMount] = [:]
        var shuttingDown = false
        var startedAt = Date()
    }

    /// What the node reports to whoever runs it.
    public enum Event: Sendable {
        /// A mount left (unmounted from outside or detached); `remaining` mounts are left.
        case mountEnded(mountpoint: String, remaining: Int)
    }

    private init(configuration: NodeConfiguration, engine: Engine, embedded: RunningControlPlane?,
                 peerServer: PeerServer?, metrics: MetricsEndpoint?, logger: Logger) {
        self.configuration = configuration
        self.engine = engine
        self.embedded = embedded
        self.peerServer = peerServer
        self.metrics = metrics
        self.logger = logger
        (finished, events) = AsyncStream.makeStream(of: Event.self)
    }

    /// Builds the node: nothing of it keeps running when this throws.
    /// Metrics come first: their backend must be in place before any part makes its handles.
    public static func start(_ configuration: NodeConfiguration, logger: Logger) async throws(NodeError) -> Node {
        var metrics: MetricsEndpoint?
        if let (host, port) = configuration.metricsListen {
            metrics = try await MetricsEndpoint.start(host: host, port: port, logger: Logger(label: "dofs.metrics"))
        }
        let assembly: NodeAssembly
        do {
            assembly = try await NodeAssembly.build(configuration, logger: logger)
        } catch {
            await metrics?.stop()
            throw error
        }
        let node = Node(configuration: configuration, engine: assembly.engine, embedded: assembly.embedded,
                        peerServer: assembly.peerServer, metrics: metrics, logger: logger)
        let policy = assembly.engine.policy.current
        logger.notice("dofs node: cache \(configuration.cacheDirectory), download mode \(policy.downloadMode) (\(policy.settings[.downloadMode]?.source.description ?? "default")), policy files: \(configuration.policyFiles.isEmpty ? "none" : configuration.policyFiles.joined(separator: ", "))")
        let watcher = PolicyWatcher(configuration: configuration, engine: assembly.engine, logger: logger)
        node.policyTask.withLock { $0 = Task { await watcher.run() } }
        return node
    }

    // MARK: - Mounts

    /// Mounts `request` and returns once the mount answers (or was unmounted before it did).
    public func attach(_ request: MountRequest) async throws(NodeError) {
        try MountpointCheck.refuseUnusable(request.mountpoint, allowNonEmpty: request.allowNonEmpty)
        let catalog: Catalog
        do {
            catalog = try request.catalogPath.map { try Catalog.load(path: $0) } ?? Catalog()
        } catch {
            throw .mount("\(error)")
        }
        let mount = NodeMount(request: request, filesystem: FuseFilesystem(engine: engine, catalog: catalog, answersOpens: !request.noOpen,
                                                                                   passthrough: !request.noPassthrough), logger: logger)
        try state.withLock { (s) throws(NodeError) in
            guard !s.shuttingDown else { throw .shuttingDown }
            guard s.mounts[request.mountpoint] == nil else { throw .mountpoint("\(request.mountpoint) is already a mount of this node") }
            s.mounts[request.mountpoint] = mount
        }
        let answered: Bool
        do {
            answered = try await mount.start { [weak self] in self?.mountEnded(request.mountpoint) }
        } catch {
            _ = state.withLock { $0.mounts.removeValue(forKey: request.mountpoint) }
            throw error
        }
        guard answered else {
            logger.notice("\(request.mountpoint) was unmounted before it answered")
            return
        }
        logger.notice("mounted \(request.mountpoint): \(catalog.entries.count) catalog entr\(catalog.entries.count == 1 ? "y" : "ies")")
    }

    /// Unmounts `mountpoint` (refused while it is busy, unless `lazy`).
    public func detach(_ mountpoint: String, lazy: Bool = false) async throws(NodeError) {
        guard let mount = state.withLock({ $0.mounts[mountpoint] }) else { throw .notMounted(mountpoint) }
        try await mount.unmount(lazy: lazy)
    }

    /// The mount points served now.
    public var mountpoints: [String] { state.withLock { $0.mounts.keys.sorted() } }

    /// The mounts served now, by mount point.
    var mounts: [NodeMount] { state.withLock { $0.mounts.values.sorted { $0.request.mountpoint < $1.request.mountpoint } } }

    private func mountEnded(_ mountpoint: String) {
        let remaining = state.withLock { s -> Int in
            s.mounts[mountpoint] = nil
            return s.mounts.count
        }
        logger.notice("\(mountpoint) unmounted; \(remaining) mount(s) left")
        events.yield(.mountEnded(mountpoint: mountpoint, remaining: remaining))
    }

    // MARK: - Life

    /// Unmounts everything (lazily when busy), leaves every swarm, stops the servers and flushes the cache.
    public func shutdown() async {
        let mounts = state.withLock { s -> [NodeMount] in
            s.shuttingDown = true
            return Array(s.mounts.values)
        }
        for mount in mounts {
            do {
                try await mount.unmount(lazy: false)
            } catch {
                logger.warning("\(error); detaching it lazily")
                try? await mount.unmount(lazy: true)
            }
        }
        await prefetches.cancelAll()
        policyTask.withLock { $0?.cancel() }
        await engine.shutdown()
        await peerServer?.stop()
        engine.store.flush()
        engine.cacheLock.release()
        await embedded?.stop()
        await metrics?.stop()
        logger.notice("node stopped; piece cache flushed")
        events.finish()
    }

    /// How long the node has run.
    public var uptimeSeconds: Double { Date().timeIntervalSince(state.withLock { $0.startedAt }) }
}

/// What `dofs mount` asks of a node: one mount point and how to mount it.
public struct MountRequest: Codable, Sendable, Equatable {
    public var mountpoint: String
    /// A catalog file (read by the node); `nil`: only `/by-id/` and `/by-url/`.
    public var catalogPath: String?
    public var allowOther = false
    /// Mount on a folder that is not empty (its files are hidden while mounted).
    public var allowNonEmpty = false
    public var maxThreads = FuseMountOptions(mountpoint: "").maxThreads
    public var kernelReadaheadKB = FuseMountOptions(mountpoint: "").kernelReadaheadKB
    /// Answer no OPEN (`FuseFilesystem.answersOpens`): faster trees of small files, no reader counts.
    public var noOpen = false
    /// Serve every read in dofs, never from whole copies through the kernel (`FuseFilesystem.wantsPassthrough`).
    public var noPassthrough = false

    public init(mountpoint: String, catalogPath: String? = nil) {
        self.mountpoint = mountpoint
        self.catalogPath = catalogPath
    }
}

extension MountRequest {
    /// The one spelling of a path the node keys mounts by: absolute, standardized, symlinks resolved.
    public static func canonicalPath(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}
