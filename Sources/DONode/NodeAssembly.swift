import DOControlPlane
import DOCore
import DOEngine
import DOHTTP
import DOSwarm
import Foundation
import Logging
import Synchronization

/// Builds a node's parts in dependency order: control plane (embedded or remote, with the trusted
/// publisher keys) -> peer server (it must listen before the engine exists, so the port peers are
/// told is the bound one) -> cache hosts -> engine (which takes the cache folder's lock).
struct NodeAssembly {
    let engine: Engine
    let embedded: RunningControlPlane?
    let peerServer: PeerServer?

    static func build(_ configuration: NodeConfiguration, logger: Logger) async throws(NodeError) -> NodeAssembly {
        let policy: LivePolicy
        do {
            policy = LivePolicy(try PolicyFiles.load(configuration.policyFiles, flags: configuration.policyFlags))
        } catch {
            throw .adminConfig("\(error)")
        }
        do {
            try FileManager.default.createDirectory(atPath: configuration.cacheDirectory, withIntermediateDirectories: true)
        } catch {
            throw .cache("cannot create cache folder \(configuration.cacheDirectory): \(error.localizedDescription)")
        }
        // Requests to the control plane and to peers leave from the announced address when it is this
        // machine's: the control plane lists a member, and peer servers count connections, by address.
        let mode = policy.current.downloadMode
        let announced = announcedAddress(configuration, downloadMode: mode)
        let localAddress = announced.flatMap { LocalAddress.isAssigned($0) ? $0 : nil }
        let (directory, embedded) = try await controlPlane(configuration, downloadMode: mode, groupId: policy.current.groupId,
                                                           localAddress: localAddress, logger: logger)
        var built: (PeerServer?, Engine)?
        do {
            built = try await peersAndEngine(configuration, policy: policy, directory: directory, announced: announced,
                                             localAddress: localAddress, logger: logger)
        } catch {
            await embedded?.stop()
            throw error
        }
        return NodeAssembly(engine: built!.1, embedded: embedded, peerServer: built!.0)
    }

    private static func peersAndEngine(_ configuration: NodeConfiguration, policy: LivePolicy, directory: ControlPlaneDirectory?,
                                       announced: String?, localAddress: String?,
                                       logger: Logger) async throws(NodeError) -> (PeerServer?, Engine) {
        var peering: PeeringConfiguration?
        let initial = policy.current
        if directory != nil, [1, 2, 3].contains(initial.downloadMode), let announced {
            var p = PeeringConfiguration(downloadMode: initial.downloadMode, groupId: initial.groupId,
                                         peerId: NodePeerId.forNode(cacheDirectory: configuration.cacheDirectory, address: announced, logger: logger),
                                         reportedIp: announced,
                                         port: configuration.upload ? configuration.peerListenPort : 0)
            p.minContentBytes = initial.minFileSizeToCacheBytes
            p.httpDelaySeconds = Double(initial.delayForegroundDownloadFromHttpSeconds)
            p.subnetMask = LocalAddress.subnetMask(of: announced) ?? p.subnetMask
            p.localAddress = localAddress
            p.policy = policy
            peering = p
        }
        let library = DeferredSwarmLibrary()
        var peerServer: PeerServer?
        if let p = peering, configuration.upload {
            let (host, port) = (configuration.peerListenHost, configuration.peerListenPort)
            do {
                var serverConfiguration = PeerServerConfiguration()
                serverConfiguration.uploadLimiter = MonthlyUploadCap(policy: policy, logger: Logger(label: "dofs.peer-server"))
                let server = try await PeerServer.start(host: host, port: port, peerId: p.peerId, library: library,
                                                        configuration: serverConfiguration,
                                                        logger: Logger(label: "dofs.peer-server"))
                logger.notice("sharing verified pieces with peers on \(IPAddress.urlHost(host)):\(server.port) as \(p.reportedIp), peer id \(p.peerId)")
                peering?.port = server.port
                peering?.onVerifiedPiece = { hash, piece in server.announce(swarmHash: hash, piece: piece) }
                peering?.onFetchingFromHTTP = { hash, piece in server.announceFetching(swarmHash: hash, piece: piece) }
                peering?.uploadedBytes = { hash in server.uploadedBytes(swarmHash: hash) }
                peerServer = server
            } catch {
                throw .peerServer("cannot listen for peers on \(IPAddress.urlHost(host)):\(port): \(error) (use --peer-listen, or --no-upload)")
            }
        }
        let hosts: CacheHosts?
        do {
            hosts = try await cacheHosts(configuration, policy: policy, directory: directory, logger: logger)
        } catch {
            await peerServer?.stop()
            throw error
        }
        var http = HTTPClientConfiguration()
        http.caFile = configuration.caFile
        do {
            let cap = configuration.cacheMaxBytes ?? CacheCap.bytes(initial, cacheFolder: configuration.cacheDirectory)
            if configuration.cacheMaxBytes == nil, let cap { logger.notice("piece cache capped at \(cap) bytes by DOMaxCacheSize / DOAbsoluteMaxCacheSize") }
            let engine = try Engine(cacheDir: configuration.cacheDirectory, maxCacheBytes: cap,
                                    config: configuration.engine, http: HTTPClient(configuration: http), directory: directory,
                                    peering: peering, cacheHosts: hosts, policy: policy, logger: Logger(label: "dofs.engine"))
            library.target.withLock { $0 = EngineSwarmLibrary(engine: engine, minContentBytes: initial.minFileSizeToCacheBytes) }
            return (peerServer, engine)
        } catch {
            await peerServer?.stop()
            throw .cache("cannot open the cache in \(configuration.cacheDirectory): \(error)")
        }
    }

    /// The address peers reach this machine at, in the download modes that peer (1–3).
    static func announcedAddress(_ configuration: NodeConfiguration, downloadMode: Int) -> String? {
        guard [1, 2, 3].contains(downloadMode) else { return nil }
        let host = configuration.peerListenHost
        return configuration.peerAddress ?? (["0.0.0.0", "::"].contains(host) ? LocalAddress.firstIPv4() : host)
    }

    /// The control plane the node asks: the one given, one embedded in the node, or none (mode 99).
    private static func controlPlane(_ configuration: NodeConfiguration, downloadMode: Int, groupId: String?, localAddress: String?,
                                     logger: Logger) async throws(NodeError) -> (ControlPlaneDirectory?, RunningControlPlane?) {
        let baseURL: String
        var embedded: RunningControlPlane?
        // Download mode 99 (simple) asks no control plane, whichever source set it.
        switch downloadMode == 99 ? .none : configuration.controlPlane {
        case .none:
            return (nil, nil)
        case .remote(let url):
            baseURL = url
        case .embedded(let data):
            do {
                let started = try await ControlPlaneServer.start(host: "127.0.0.1", port: 0, dataDir: data,
                                                                 logger: Logger(label: "dofs.control-plane"))
                embedded = started
                baseURL = started.baseURL
                logger.notice("embedded control plane at \(baseURL), registry in \(data)")
            } catch {
                throw .controlPlane("cannot start the embedded control plane on \(data): \(error)")
            }
        }
        var clientConfig = ControlPlaneClientConfiguration(geoURL: ControlPlaneClientConfiguration.geoURL(forControlPlane: baseURL),
                                                           stateDirectory: configuration.cacheDirectory + "/control-plane-client")
        clientConfig.groupId = groupId
        var http = HTTPClientConfiguration()
        http.caFile = configuration.caFile
        http.localAddress = localAddress
        let client = ControlPlaneClient(configuration: clientConfig, http: HTTPClient(configuration: http),
                                        logger: Logger(label: "dofs.control-plane-client"))
        let trust: PublisherTrust?
        do {
            trust = try trustedPublishers(configuration, logger: logger)
        } catch {
            await embedded?.stop()
            throw error
        }
        if trust == nil, case .remote = configuration.controlPlane {
            logger.notice("no trusted publisher keys: content policies from \(baseURL) are believed as served (README: Trust model)")
        }
        return (ControlPlaneDirectory(client: client, trust: trust), embedded)
    }

    /// The publisher keys the node believes: the key files given and the `*.pub` files of the keys folder.
    private static func trustedPublishers(_ configuration: NodeConfiguration, logger: Logger) throws(NodeError) -> PublisherTrust? {
        var files = configuration.trustKeyFiles
        let folder = configuration.trustedKeysDirectory
        if let names = try? FileManager.default.contentsOfDirectory(atPath: folder) {
            files += names.filter { $0.hasSuffix(".pub") }.sorted().map { folder + "/" + $0 }
        }
        let keyring: PublisherKeyring
        do {
            keyring = try PublisherKeyring(files: files)
        } catch {
            throw .trust("\(error)")
        }
        guard !keyring.isEmpty else { return nil }
        logger.notice("content is verified only when signed by publisher key \(keyring.keyIds.joined(separator: ", "))")
        return PublisherTrust(keyring: keyring)
    }

    /// Cache hosts in DO's order of precedence (do-protocol.md 5.2): `DOCacheHost` (a flag or a policy
    /// file), else the control plane's geo answer; `nil` for none. The fallback delays stay live.
    private static func cacheHosts(_ configuration: NodeConfiguration, policy: LivePolicy, directory: ControlPlaneDirectory?,
                                   logger: Logger) async throws(NodeError) -> CacheHosts? {
        var hosts = policy.current.cacheHosts
        var origin = policy.current.settings[.cacheHost].map { "\($0.source)" } ?? ""
        if hosts.isEmpty {
            guard let client = directory?.client else { return nil }
            hosts = ((try? await client.geo())?.cacheHost ?? "").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            origin = "the control plane's geo answer"
        }
        let usable = hosts.filter { CacheHostURL.rewrite("http://origin/", cacheHost: $0) != nil }
        guard !usable.isEmpty else { return nil }
        logger.notice("cache hosts from \(origin): \(usable.joined(separator: ", "))")
        var c = CacheHosts.Configuration(hosts: usable)
        c.banSeconds = configuration.cacheHostBanSeconds
        return CacheHosts(configuration: c, caFile: configuration.caFile, policy: policy, logger: Logger(label: "dofs.cache-hosts"))
    }
}

/// A swarm library whose contents are filled in once the engine exists (the peer server starts first).
final class DeferredSwarmLibrary: SwarmLibrary {
    let target = Mutex<EngineSwarmLibrary?>(nil)

    func sharedContent(swarmHash: [UInt8]) -> SharedContent? {
        target.withLock { $0 }?.sharedContent(swarmHash: swarmHash)
    }

    func peerArrived(swarmHash: [UInt8], peerId: PeerId) {
        target.withLock { $0 }?.peerArrived(swarmHash: swarmHash, peerId: peerId)
    }
}
