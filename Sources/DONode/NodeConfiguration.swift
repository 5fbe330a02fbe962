import DOEngine
import DOSwarm

/// Everything a dofs node needs to start; `dofs node` and the `dofs mount` that starts a node fill it
/// from their flags, whose defaults come from here.
public struct NodeConfiguration: Sendable {
    /// Where verified pieces, metadata and remembered answers live. One node owns it (`CacheLock`).
    public var cacheDirectory: String
    /// Cap on the piece cache in bytes; `nil`: no cap.
    public var cacheMaxBytes: Int?
    public var engine = EngineConfiguration()
    public var controlPlane: ControlPlaneChoice
    /// DO's download mode: 0 HTTP only, 1 LAN, 2 Group, 3 Internet, 99 Simple.
    public var downloadMode = 1
    public var groupId: String?
    /// CA certificates (PEM) for HTTPS servers; `nil`: the system's.
    public var caFile: String?
    /// Where the peer server listens. DO's port is 7680.
    public var peerListenHost = "0.0.0.0"
    public var peerListenPort = PeerAddress.defaultPort
    /// The address peers are told; `nil`: the listen host, or this machine's first IPv4 address.
    public var peerAddress: String?
    /// Share nothing (no peer server); still download from peers.
    public var upload = true
    /// Contents smaller than this never join a swarm (DO: 10 MB).
    public var minPeeringBytes = 10 << 20
    /// DO's DelayForegroundDownloadFromHttp for pieces another member owns.
    public var httpDelaySeconds = 5.0
    public var cacheHosts: CacheHostChoice = .fromControlPlane
    /// DO bans an unreachable cache host for 15 minutes.
    public var cacheHostBanSeconds = 900.0
    /// DO's DelayCacheServerFallbackForeground; 0: the CDN at once after a cache-host failure.
    public var cacheFallbackDelaySeconds = 0.0
    /// Publisher keys (PEM files) whose signatures alone make content verified; empty with no
    /// `*.pub` in `trustedKeysDirectory`: the control plane is believed as served.
    public var trustKeyFiles: [String] = []
    public var trustedKeysDirectory = "/etc/dofs/trusted-keys"
    /// Where `GET /metrics` (Prometheus text format) is served; `nil`, the default: no metrics at all
    /// (nothing listens, and no backend is bootstrapped, so an event costs a no-op call).
    public var metricsListen: (host: String, port: Int)?

    /// The cache folder of a node started without `--cache-dir`.
    public static let defaultCacheDirectory = "/var/cache/dofs"
    /// Every default above, for the CLI to show and use without repeating a number.
    public static let defaults = NodeConfiguration(cacheDirectory: defaultCacheDirectory, controlPlane: .none)

    public init(cacheDirectory: String, controlPlane: ControlPlaneChoice) {
        self.cacheDirectory = cacheDirectory
        self.controlPlane = controlPlane
    }

    /// True in the download modes that take part in swarms.
    var peers: Bool { [1, 2, 3].contains(downloadMode) }
}

/// Which control plane a node asks.
public enum ControlPlaneChoice: Sendable, Equatable {
    /// One embedded in the node, on the registry folder that `dofs publish --local` writes.
    case embedded(dataDirectory: String)
    /// A `dofs control-plane` (or DO-style service) at this base URL.
    case remote(url: String)
    /// None: download mode 99.
    case none
}

/// Where a node finds its cache hosts, in DO's order of precedence (do-protocol.md 5.2).
public enum CacheHostChoice: Sendable, Equatable {
    /// `--cache-host HOST[:PORT][,HOST...]`.
    case hosts([String])
    /// `DOCacheHost` of an admin config (do-client's admin-config.json shape).
    case adminConfig(path: String)
    /// The control plane's geo answer (`CacheHost`).
    case fromControlPlane
}
