import ArgumentParser
import DOCore
import DOEngine
import DONode
import DOSwarm
import Foundation

/// The options of a node: `dofs node` takes them, and so does the `dofs mount` that starts one.
/// Defaults come from `NodeConfiguration` and the engine's configuration, not repeated here.
struct NodeOptions: ParsableArguments {
    @Option(name: .customLong("socket"), help: "The node's control socket.")
    var socket = ControlSocketClient.defaultPath

    @Option(name: .customLong("cache-dir"), help: "Where verified pieces and metadata are kept across mounts; one node owns it (default: /var/cache/dofs).")
    var cacheDirOption: String?

    /// The cache folder; only compared with a running node's when given.
    var cacheDir: String { cacheDirOption ?? NodeConfiguration.defaultCacheDirectory }

    @Option(name: .customLong("cache-max-size"), help: "Cap on the piece cache in bytes; least recently used pieces go first.")
    var cacheMaxSize: Int?

    @Option(name: .customLong("read-deadline"), help: "Seconds a read may wait for its pieces before it fails with EIO.")
    var readDeadline = EngineConfiguration().readDeadlineSeconds

    @Option(name: .customLong("readahead-pieces"), help: "Largest readahead window of a sequential reader, in pieces.")
    var readaheadPieces = EngineConfiguration().maxReadaheadPieces

    @Option(name: .customLong("control-plane"),
            help: "Base URL of a dofs (or DO-style) control plane. Default: run one embedded in the node.")
    var controlPlane: String?

    @Option(name: .customLong("control-plane-data"),
            help: "Registry folder of the embedded control plane (default: $DOFS_CONTROL_PLANE_DATA, else /var/lib/dofs/control-plane; `dofs publish --local` writes there).")
    var controlPlaneData: String?

    @Option(name: .customLong("trust-key"),
            help: "A publisher's public key (PEM, from `dofs keygen`); repeatable. With any trusted key, content is verified only if its policy is signed by one of them.")
    var trustKeys: [String] = []

    @Option(name: .customLong("trusted-keys-dir"), help: "Every *.pub in this folder is a trusted publisher key too (when the folder exists).")
    var trustedKeysDir = NodeConfiguration.defaults.trustedKeysDirectory

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
    var minPeeringSize = NodeConfiguration.defaults.minPeeringBytes

    @Option(name: .customLong("http-delay"),
            help: "Longest wait for a peer to announce a piece another member owns before fetching it from the CDN (the wait is the CDN's current budget, at most this).")
    var httpDelay = NodeConfiguration.defaults.httpDelaySeconds

    @Option(name: .customLong("cache-host"),
            help: "Cache servers (Connected Cache style), HOST[:PORT][,HOST...], tried in order before the CDN.")
    var cacheHost: String?

    @Option(name: .customLong("config"),
            help: "An admin config JSON ({\"DOCacheHost\": \"host1,host2\"}, as do-client's admin-config.json); --cache-host wins.")
    var adminConfig: String?

    @Option(name: .customLong("cache-host-ban-seconds"), help: "How long a failing cache host is banned (DO: 900).")
    var cacheHostBanSeconds = NodeConfiguration.defaults.cacheHostBanSeconds

    @Option(name: .customLong("cache-fallback-delay"),
            help: "Seconds to keep retrying cache hosts for a piece before the CDN (DO's DelayCacheServerFallbackForeground; 0: at once, -1: never).")
    var cacheFallbackDelay = NodeConfiguration.defaults.cacheFallbackDelaySeconds

    @Option(name: .customLong("metrics-listen"),
            help: "Serve Prometheus metrics on GET /metrics at HOST:PORT (default: off; nothing listens).")
    var metricsListen: String?

    func validate() throws {
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
        if let metricsListen, ListenAddress(metricsListen) == nil {
            throw ValidationError("--metrics-listen '\(metricsListen)' is not HOST:PORT")
        }
        guard minPeeringSize >= 0, httpDelay >= 0 else { throw ValidationError("--min-peering-size and --http-delay must not be negative") }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ValidationError("--ca-file \(caFile) is not a readable file")
        }
        guard readaheadPieces >= 0 else { throw ValidationError("--readahead-pieces must not be negative") }
    }

    /// The node these options describe.
    var configuration: NodeConfiguration {
        let choice: ControlPlaneChoice
        if downloadMode == .simple {
            choice = .none
        } else if let controlPlane {
            choice = .remote(url: controlPlane)
        } else {
            choice = .embedded(dataDirectory: PublishRegistration.Target.localDataDirectory(option: controlPlaneData))
        }
        var c = NodeConfiguration(cacheDirectory: MountRequest.canonicalPath(cacheDir), controlPlane: choice)
        c.cacheMaxBytes = cacheMaxSize
        c.engine.readDeadlineSeconds = readDeadline
        c.engine.maxReadaheadPieces = readaheadPieces
        c.engine.initialReadaheadPieces = min(c.engine.initialReadaheadPieces, readaheadPieces)
        c.downloadMode = downloadMode.rawValue
        c.groupId = groupId
        c.caFile = caFile
        let listen = ListenAddress(peerListen)!
        (c.peerListenHost, c.peerListenPort) = (listen.host, listen.port)
        c.peerAddress = peerAddress
        c.upload = !noUpload
        c.minPeeringBytes = minPeeringSize
        c.httpDelaySeconds = httpDelay
        if let cacheHost {
            c.cacheHosts = .hosts(cacheHost.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        } else if let adminConfig {
            c.cacheHosts = .adminConfig(path: adminConfig)
        }
        c.cacheHostBanSeconds = cacheHostBanSeconds
        c.cacheFallbackDelaySeconds = cacheFallbackDelay
        c.trustKeyFiles = trustKeys
        c.trustedKeysDirectory = trustedKeysDir
        c.metricsListen = metricsListen.flatMap(ListenAddress.init).map { ($0.host, $0.port) }
        return c
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
