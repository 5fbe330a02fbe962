import DOEngine
import DOSwarm
import Foundation

/// Everything a dofs node needs to start; `dofs node` and the `dofs mount` that starts a node fill it
/// from their flags, whose defaults come from here.
public struct NodeConfiguration: Sendable {
    /// Where verified pieces, metadata and remembered answers live. One node owns it (`CacheLock`).
    public var cacheDirectory: String
    /// Cap on the piece cache in bytes; `nil`: no cap.
    public var cacheMaxBytes: Int?
    public var engine = EngineConfiguration()
    public var controlPlane: ControlPlaneChoice
    /// The policy files read, lowest precedence first (see `PolicyFiles`); re-read when they change.
    public var policyFiles: [String] = []
    /// The policies set on the command line: above every file.
    public var policyFlags = PolicyLayer()
    /// How often the policy files are checked for a change (besides SIGHUP). do-client re-reads its
    /// admin config every 60 s; 2 s makes an edit apply while the administrator still watches, for
    /// the cost of two `stat` calls.
    public var policyPollSeconds = 2.0
    /// CA certificates (PEM) for HTTPS servers; `nil`: the system's.
    public var caFile: String?
    /// Where the peer server listens. DO's port is 7680.
    public var peerListenHost = "0.0.0.0"
    public var peerListenPort = PeerAddress.defaultPort
    /// The address peers are told; `nil`: the listen host, or this machine's first IPv4 address.
    public var peerAddress: String?
    /// Share nothing (no peer server); still download from peers.
    public var upload = true
    /// DO bans an unreachable cache host for 15 minutes.
    public var cacheHostBanSeconds = 900.0
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

    /// DO's download mode on the command line (`DODownloadMode`): 0 HTTP only, 1 LAN, 2 Group,
    /// 3 Internet, 99 Simple; the default's when no flag sets it.
    public var downloadMode: Int {
        get { policyFlags.values[.downloadMode]?.integer ?? AdminPolicy.defaults.downloadMode }
        set { policyFlags.values[.downloadMode] = .integer(newValue) }
    }
}

/// Where a node looks for policy files.
public enum PolicyFiles {
    /// do-client's admin config: read when present, so a machine set up for do-client keeps its policies.
    /// Its keys that are not DO policies dofs knows (do-client's own settings) are skipped, not refused.
    public static let doClientAdminConfig = "/etc/deliveryoptimization-agent/admin-config.json"
    /// dofs's own policy file, read when present and no `--config` names another.
    public static let dofsDefault = "/etc/dofs/dofs.json"

    /// The files to read, lowest precedence first: do-client's admin config when present, then
    /// `config` (which must exist), else dofs's default file when present.
    public static func paths(config: String?, exists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }) -> [String] {
        var out: [String] = []
        if exists(doClientAdminConfig) { out.append(doClientAdminConfig) }
        if let config { out.append(config) } else if exists(dofsDefault) { out.append(dofsDefault) }
        return out
    }

    /// The policy in force from these files and flags: defaults, then each file, then the flags.
    public static func load(_ files: [String], flags: PolicyLayer) throws(PolicyError) -> AdminPolicy {
        var policy = AdminPolicy.defaults
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw .notAPolicyFile(file: file, reason: "cannot be read")
            }
            let layer = try PolicyLayer(json: [UInt8](data), file: file, allowingUnknownKeys: file == doClientAdminConfig)
            policy = policy.merging(layer, from: .file(file))
        }
        return policy.merging(flags, from: .flag)
    }
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

