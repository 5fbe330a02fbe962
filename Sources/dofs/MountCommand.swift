import DOCore
import ArgumentParser
import DOControlPlane
import DOEngine
import DOFS
import DOHTTP
import DOSwarm
import Foundation
import Logging
import Synchronization

struct MountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount content as a read-only filesystem.",
        discussion: """
        Catalog entries appear at the root of the mount; any http(s) URL opens, unverified, as \
        MOUNTPOINT/by-url/<percent-encoded URL>. Without -f the command returns once the mount is ready and \
        the daemon logs to --log-file. Unmount with `fusermount3 -u MOUNTPOINT`.
        """
    )

    @Argument(help: "An existing, empty folder.")
    var mountpoint: String

    @Option(name: .customLong("cache-dir"), help: "Where verified pieces and metadata are kept across mounts.")
    var cacheDir: String

    @Option(help: "A JSON catalog of named contents.")
    var catalog: String?

    @Flag(name: [.customShort("f"), .customLong("foreground")], help: "Stay in the foreground and log to stderr.")
    var foreground = false

    @Option(name: .customLong("read-deadline"), help: "Seconds a read may wait for its pieces before it fails with EIO.")
    var readDeadline: Double = 60

    @Option(name: .customLong("readahead-pieces"), help: "Largest readahead window of a sequential reader, in pieces.")
    var readaheadPieces = 16

    @Option(name: .customLong("cache-max-size"), help: "Cap on the piece cache in bytes; least recently used pieces go first.")
    var cacheMaxSize: Int?

    @Option(name: .customLong("kernel-readahead-kb"), help: "Kernel readahead of the mount in KiB (0: kernel default).")
    var kernelReadaheadKB = 4096

    @Option(name: .customLong("max-threads"), help: "FUSE worker threads.")
    var maxThreads = 8

    @Flag(name: .customLong("allow-other"), help: "Let other users read the mount.")
    var allowOther = false

    @OptionGroup var logging: LoggingOptions

    @Option(name: .customLong("control-plane"),
            help: "Base URL of a dofs (or DO-style) control plane. Default: run one embedded in this process.")
    var controlPlane: String?

    @Option(name: .customLong("control-plane-data"),
            help: "Registry folder of the embedded control plane (default: $DOFS_CONTROL_PLANE_DATA, else /var/lib/dofs/control-plane; `dofs publish --local` writes there).")
    var controlPlaneData: String?

    @Option(name: .customLong("trust-key"),
            help: "A publisher's public key (PEM, from `dofs keygen`); repeatable. With any trusted key, content is verified only if its policy is signed by one of them.")
    var trustKeys: [String] = []

    @Option(name: .customLong("trusted-keys-dir"), help: "Every *.pub in this folder is a trusted publisher key too (when the folder exists).")
    var trustedKeysDir = "/etc/dofs/trusted-keys"

    @Option(name: .customLong("download-mode"),
            help: "DO's download mode: 0 HTTP only, 1 LAN, 2 Group, 3 Internet, 99 Simple (no control plane).")
    var downloadMode: DownloadMode = .lan

    @Option(name: .customLong("group-id"), help: "Group ID for download mode 2.")
    var groupId: String?

    @Option(name: .customLong("ca-file"), help: "CA certificates (PEM) to verify HTTPS servers with, instead of the system's.")
    var caFile: String?

    @Option(name: .customLong("peer-listen"), help: "Where the peer server listens for other dofs peers (HOST:PORT).")
    var peerListen = "0.0.0.0:\(PeerAddress.defaultPort)"

    @Option(name: .customLong("peer-address"),
            help: "The address peers reach this machine at (default: the --peer-listen host, or this machine's first non-loopback IPv4 address).")
    var peerAddress: String?

    @Flag(name: .customLong("no-upload"), help: "Download from peers but share nothing (no peer server).")
    var noUpload = false

    @Option(name: .customLong("min-peering-size"), help: "Contents smaller than this many bytes never join a swarm.")
    var minPeeringSize = 10 << 20

    @Option(name: .customLong("http-delay"),
            help: "Seconds to wait for a peer to announce a piece another peer owns before fetching it from the CDN.")
    var httpDelay = 5.0

    @Option(name: .customLong("cache-host"),
            help: "Cache servers (Connected Cache style), HOST[:PORT][,HOST...], tried in order before the CDN.")
    var cacheHost: String?

    @Option(name: .customLong("config"),
            help: "An admin config JSON ({\"DOCacheHost\": \"host1,host2\"}, as do-client's admin-config.json); --cache-host wins.")
    var adminConfig: String?

    @Option(name: .customLong("cache-host-ban-seconds"), help: "How long a failing cache host is banned (DO: 900).")
    var cacheHostBanSeconds = 900.0

    @Option(name: .customLong("cache-fallback-delay"),
            help: "Seconds to keep retrying cache hosts for a piece before the CDN (DO's DelayCacheServerFallbackForeground; 0: at once, -1: never).")
    var cacheFallbackDelay = 0.0

    @Flag(name: .customLong("notify-ready"), help: .hidden)
    var notifyReady = false

    func validate() throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: mountpoint, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("mount point \(mountpoint) is not an existing folder")
        }
        guard readDeadline > 0 else { throw ValidationError("--read-deadline must be positive") }
        if let controlPlane, !HTTPURL.isValid(controlPlane) {
            throw ValidationError("--control-plane '\(controlPlane)' is not an http(s) URL")
        }
        if controlPlane != nil && downloadMode == .simple {
            throw ValidationError("download mode 99 (simple) uses no control plane; drop --control-plane")
        }
        if let adminConfig, !FileManager.default.isReadableFile(atPath: adminConfig) {
            throw ValidationError("--config \(adminConfig) is not a readable file")
        }
        for host in (cacheHost ?? "").split(separator: ",") where CacheHostURL.rewrite("http://origin/", cacheHost: String(host)) == nil {
            throw ValidationError("--cache-host entry '\(host)' is not HOST[:PORT]")
        }
        guard cacheHostBanSeconds >= 0 else { throw ValidationError("--cache-host-ban-seconds must not be negative") }
        guard ListenAddress(peerListen) != nil else { throw ValidationError("--peer-listen '\(peerListen)' is not HOST:PORT") }
        guard minPeeringSize >= 0, httpDelay >= 0 else { throw ValidationError("--min-peering-size and --http-delay must not be negative") }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ValidationError("--ca-file \(caFile) is not a readable file")
        }
        guard readaheadPieces >= 0, maxThreads > 0, kernelReadaheadKB >= 0 else {
            throw ValidationError("--readahead-pieces, --max-threads and --kernel-readahead-kb must not be negative")
        }
    }

    func run() throws {
        // Refuse bad input before anything detaches, so the user sees the reason.
        let catalog = try loadCatalog()
        do {
            try FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
        } catch {
            throw UserFacingError("dofs mount: cannot create cache folder \(cacheDir): \(error.localizedDescription)")
        }
        // One owner per cache folder: refuse now, before detaching, so the user sees whose it is.
        // (The daemon takes the lock for real when it opens the engine.)
        do {
            _ = try CacheLock(folder: cacheDir)
        } catch {
            throw UserFacingError("dofs mount: \(error)")
        }
        if !foreground {
            return try Daemon.start(arguments: Array(CommandLine.arguments.dropFirst()),
                                    logFile: logging.logFile ?? cacheDir + "/dofs.log", mountpoint: mountpoint)
        }
        try serve(catalog: catalog)
    }

    /// The publisher keys this mount believes: `--trust-key` files and the `*.pub` files of `--trusted-keys-dir`.
    private func trustedPublishers(logger: Logger) throws -> PublisherTrust? {
        var files = trustKeys
        if let names = try? FileManager.default.contentsOfDirectory(atPath: trustedKeysDir) {
            files += names.filter { $0.hasSuffix(".pub") }.sorted().map { trustedKeysDir + "/" + $0 }
        }
        let keyring: PublisherKeyring
        do {
            keyring = try PublisherKeyring(files: files)
        } catch {
            throw UserFacingError("dofs mount: trusted publisher key: \(error)")
        }
        guard !keyring.isEmpty else { return nil }
        logger.notice("content is verified only when signed by publisher key \(keyring.keyIds.joined(separator: ", "))")
        return PublisherTrust(keyring: keyring)
    }

    /// The control plane this mount asks: the one given, one embedded in this process, or none (mode 99).
    /// Its requests leave from `localAddress` (the peer address, when it is this machine's), since the
    /// control plane records a swarm member at the address its join comes from.
    private func startControlPlane(localAddress: String?, logger: Logger) throws -> MountControlPlane {
        guard downloadMode != .simple else { return MountControlPlane(directory: nil, embedded: nil) }
        var embedded: RunningControlPlane?
        let baseURL: String
        if let controlPlane {
            baseURL = controlPlane
        } else {
            let data = PublishRegistration.Target.localDataDirectory(option: controlPlaneData)
            let started = try SyncBridge.run { () async throws -> RunningControlPlane in
                do {
                    return try await ControlPlaneServer.start(host: "127.0.0.1", port: 0, dataDir: data,
                                                              logger: Logger(label: "dofs.control-plane"))
                } catch {
                    throw UserFacingError("dofs mount: cannot start the embedded control plane on \(data): \(error)")
                }
            }
            embedded = started
            baseURL = started.baseURL
            logger.notice("embedded control plane at \(baseURL), registry in \(data)")
        }
        var clientConfig = ControlPlaneClientConfiguration(geoURL: ControlPlaneClientConfiguration.geoURL(forControlPlane: baseURL),
                                                           stateDirectory: cacheDir + "/control-plane-client")
        clientConfig.groupId = groupId
        var httpConfig = HTTPClientConfiguration()
        httpConfig.caFile = caFile
        httpConfig.localAddress = localAddress
        let client = ControlPlaneClient(configuration: clientConfig, http: HTTPClient(configuration: httpConfig),
                                        logger: Logger(label: "dofs.control-plane-client"))
        let trust = try trustedPublishers(logger: logger)
        if trust == nil, controlPlane != nil {
            logger.notice("no trusted publisher keys: content policies from \(baseURL) are believed as served (README: Trust model)")
        }
        return MountControlPlane(directory: ControlPlaneDirectory(client: client, trust: trust), embedded: embedded)
    }

    /// Cache hosts in DO's order of precedence (do-protocol.md 5.2): configured ones (--cache-host, then
    /// the admin config's DOCacheHost), else the control plane's geo answer (CacheHost); `nil` for none.
    private func cacheHostList(controlPlane: MountControlPlane, logger: Logger) throws -> [String]? {
        func split(_ text: String) -> [String] {
            text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        var hosts: [String] = []
        var origin = ""
        if let cacheHost {
            hosts = split(cacheHost)
            origin = "--cache-host"
        } else if let adminConfig {
            guard let data = FileManager.default.contents(atPath: adminConfig),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw UserFacingError("dofs mount: --config \(adminConfig) is not a JSON object")
            }
            hosts = split(object["DOCacheHost"] as? String ?? "")
            origin = adminConfig
        } else if let client = controlPlane.directory?.client {
            let geo = try? SyncBridge.run { try await client.geo() }
            hosts = split(geo?.cacheHost ?? "")
            origin = "the control plane's geo answer"
        }
        let usable = hosts.filter { CacheHostURL.rewrite("http://origin/", cacheHost: $0) != nil }
        guard !usable.isEmpty else { return nil }
        logger.notice("cache hosts from \(origin): \(usable.joined(separator: ", "))")
        return usable
    }

    /// The address peers reach this machine at, in the download modes that peer (1–3).
    private var announcedAddress: String? {
        guard [.lan, .group, .internet].contains(downloadMode) else { return nil }
        let listen = ListenAddress(peerListen)!
        return peerAddress ?? (["0.0.0.0", "::"].contains(listen.host) ? LocalAddress.firstIPv4() : listen.host)
    }

    /// Peering is on in download modes 1–3 with a control plane to find peers through.
    private func peeringConfiguration(hasDirectory: Bool) -> PeeringConfiguration? {
        guard hasDirectory, let reported = announcedAddress else { return nil }
        let listen = ListenAddress(peerListen)!
        var peering = PeeringConfiguration(downloadMode: downloadMode.rawValue, groupId: groupId, peerId: .random(),
                                           reportedIp: reported, port: noUpload ? 0 : listen.port)
        peering.minContentBytes = minPeeringSize
        peering.httpDelaySeconds = httpDelay
        return peering
    }

    /// The server that shares verified pieces with peers, unless uploading is off.
    private func startPeerServer(library: DeferredSwarmLibrary, peering: PeeringConfiguration, logger: Logger) throws -> PeerServer? {
        guard !noUpload else { return nil }
        let listen = ListenAddress(peerListen)!
        return try SyncBridge.run { () async throws -> PeerServer in
            do {
                let server = try await PeerServer.start(host: listen.host, port: listen.port, peerId: peering.peerId,
                                                        library: library, logger: Logger(label: "dofs.peer-server"))
                logger.notice("sharing verified pieces with peers on \(listen.host):\(server.port) as \(peering.reportedIp), peer id \(peering.peerId)")
                return server
            } catch {
                throw UserFacingError("dofs mount: cannot listen for peers on \(peerListen): \(error) (use --peer-listen, or --no-upload)")
            }
        }
    }

    private func loadCatalog() throws -> Catalog {
        guard let catalog else { return Catalog() }
        do {
            return try Catalog.load(path: catalog)
        } catch {
            throw UserFacingError("dofs mount: \(error)")
        }
    }

    private func serve(catalog: Catalog) throws {
        if notifyReady { setsid() }
        let sink = try logging.bootstrap()
        let logger = Logger(label: "dofs")

        var config = EngineConfiguration()
        config.readDeadlineSeconds = readDeadline
        config.maxReadaheadPieces = readaheadPieces
        config.initialReadaheadPieces = min(config.initialReadaheadPieces, readaheadPieces)
        var httpConfig = HTTPClientConfiguration()
        httpConfig.caFile = caFile
        let http = HTTPClient(configuration: httpConfig)
        // Requests to the control plane and to peers leave from the announced address when it is this
        // machine's: the control plane lists a member, and peer servers count connections, by address.
        let localAddress = announcedAddress.flatMap { LocalAddress.isAssigned($0) ? $0 : nil }
        let controlPlane = try startControlPlane(localAddress: localAddress, logger: logger)
        // The peer server listens before the engine exists, so the port peers are told is the bound one
        // (--peer-listen may ask for port 0); it sees the engine's contents once the engine is made.
        let library = DeferredSwarmLibrary()
        var peering = peeringConfiguration(hasDirectory: controlPlane.directory != nil)
        peering?.localAddress = localAddress
        let peerServer = try peering.flatMap { try startPeerServer(library: library, peering: $0, logger: logger) }
        if let peerServer {
            peering?.port = peerServer.port
            peering?.onVerifiedPiece = { hash, piece in peerServer.announce(swarmHash: hash, piece: piece) }
        }
        let cacheHosts = try cacheHostList(controlPlane: controlPlane, logger: logger).map { hosts in
            var c = CacheHosts.Configuration(hosts: hosts)
            c.banSeconds = cacheHostBanSeconds
            c.fallbackDelaySeconds = cacheFallbackDelay
            return CacheHosts(configuration: c, caFile: caFile, logger: Logger(label: "dofs.cache-hosts"))
        }
        let engine: Engine
        do {
            engine = try Engine(cacheDir: cacheDir, maxCacheBytes: cacheMaxSize, config: config, http: http,
                                directory: controlPlane.directory, peering: peering, cacheHosts: cacheHosts,
                                logger: Logger(label: "dofs.engine"))
        } catch {
            throw UserFacingError("dofs mount: cannot open the cache in \(cacheDir): \(error)")
        }
        library.target.withLock { $0 = EngineSwarmLibrary(engine: engine, minContentBytes: minPeeringSize) }
        var options = FuseMountOptions(mountpoint: mountpoint)
        options.allowOther = allowOther
        options.maxThreads = maxThreads
        options.kernelReadaheadKB = kernelReadaheadKB
        logger.notice("dofs mount \(mountpoint): \(catalog.entries.count) catalog entr\(catalog.entries.count == 1 ? "y" : "ies"), cache \(cacheDir)")
        let notify = notifyReady
        do {
            try FuseMount.run(FuseFilesystem(engine: engine, catalog: catalog), options: options, logger: logger) {
                guard notify else { return }
                Daemon.reportReady(sink: sink)
            }
        } catch {
            throw UserFacingError("dofs mount: \(error)")
        }
        try? SyncBridge.run {
            await engine.shutdown()
            await peerServer?.stop()
        }
        engine.store.flush()
        controlPlane.stop()
        logger.notice("piece cache flushed; bye")
    }
}

/// DO's download modes (do-protocol.md 6); 100 (Bypass) is deprecated and not offered.
enum DownloadMode: Int, ExpressibleByArgument, Sendable {
    case httpOnly = 0, lan = 1, group = 2, internet = 3, simple = 99

    init?(argument: String) {
        guard let n = Int(argument), let mode = DownloadMode(rawValue: n) else { return nil }
        self = mode
    }
}

/// The mount's control plane: what the engine asks, and the embedded server to stop at unmount.
struct MountControlPlane {
    let directory: ControlPlaneDirectory?
    let embedded: RunningControlPlane?

    func stop() {
        guard let embedded else { return }
        try? SyncBridge.run { await embedded.stop() }
    }
}

/// A swarm library whose contents are filled in once the engine exists.
final class DeferredSwarmLibrary: SwarmLibrary {
    let target = Mutex<EngineSwarmLibrary?>(nil)

    func sharedContent(swarmHash: [UInt8]) -> SharedContent? {
        target.withLock { $0 }?.sharedContent(swarmHash: swarmHash)
    }

    func peerArrived(swarmHash: [UInt8], peerId: PeerId) {
        target.withLock { $0 }?.peerArrived(swarmHash: swarmHash, peerId: peerId)
    }
}
