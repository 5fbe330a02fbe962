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

    @Option(name: .customLong("ca-file"), help: "CA certificates (PEM) to verify HTTPS servers with, instead of the system's.")
    var caFile: String?

    @Option(name: .customLong("peer-listen"), help: "Where the peer server listens for other dofs peers (HOST:PORT).")
    var peerListen = "0.0.0.0:\(PeerAddress.defaultPort)"

    @Option(name: .customLong("peer-address"),
            help: "The address peers reach this machine at (default: the --peer-listen host, or this machine's first non-loopback IPv4 address).")
    var peerAddress: String?

    @Flag(name: .customLong("no-upload"), help: "Download from peers but share nothing (no peer server).")
    var noUpload = false

    @Option(name: .customLong("config"),
            help: "A policy file: a JSON object of DO policies by DO's names and units (as do-client's admin-config.json, which is read too when present). Default: \(PolicyFiles.dofsDefault) when present. Re-read when it changes or on SIGHUP; flags win.")
    var adminConfig: String?

    @Option(name: .customLong("cache-host-ban-seconds"), help: "How long a failing cache host is banned (DO: 900).")
    var cacheHostBanSeconds = NodeConfiguration.defaults.cacheHostBanSeconds

    @OptionGroup(title: "DO policies (each also a key of the policy file)")
    var policies: PolicyOptions

    @Option(name: .customLong("metrics-listen"),
            help: "Serve Prometheus metrics on GET /metrics at HOST:PORT (default: off; nothing listens).")
    var metricsListen: String?

    func validate() throws {
        guard readDeadline > 0 else { throw ValidationError("--read-deadline must be positive") }
        if let controlPlane, !HTTPURL.isValid(controlPlane) {
            throw ValidationError("--control-plane '\(controlPlane)' is not an http(s) URL")
        }
        let flags = try policies.layer()
        if controlPlane != nil && Self.asksSimpleMode(flags) {
            throw ValidationError("download mode 99 (simple) uses no control plane; drop --control-plane")
        }
        if let adminConfig, !FileManager.default.isReadableFile(atPath: adminConfig) {
            throw ValidationError("--config \(adminConfig) is not a readable file")
        }
        do {
            _ = try PolicyFiles.load(PolicyFiles.paths(config: adminConfig), flags: flags)
        } catch {
            throw ValidationError("\(error)")
        }
        for host in (flags.values[.cacheHost]?.text ?? "").split(separator: ",") where CacheHostURL.rewrite("http://origin/", cacheHost: String(host)) == nil {
            throw ValidationError("--cache-host entry '\(host)' is not HOST[:PORT]")
        }
        guard cacheHostBanSeconds >= 0 else { throw ValidationError("--cache-host-ban-seconds must not be negative") }
        guard ListenAddress(peerListen) != nil else { throw ValidationError("--peer-listen '\(peerListen)' is not HOST:PORT") }
        if let metricsListen, ListenAddress(metricsListen) == nil {
            throw ValidationError("--metrics-listen '\(metricsListen)' is not HOST:PORT")
        }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ValidationError("--ca-file \(caFile) is not a readable file")
        }
        guard readaheadPieces >= 0 else { throw ValidationError("--readahead-pieces must not be negative") }
    }

    /// True when the flags ask for download mode 99 (simple: no control plane, no peers).
    var asksSimpleMode: Bool { Self.asksSimpleMode((try? policies.layer()) ?? PolicyLayer()) }

    private static func asksSimpleMode(_ flags: PolicyLayer) -> Bool { flags.values[.downloadMode] == .integer(99) }

    /// The node these options describe.
    var configuration: NodeConfiguration {
        let flags = (try? policies.layer()) ?? PolicyLayer()
        let choice: ControlPlaneChoice
        if Self.asksSimpleMode(flags) {
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
        c.policyFiles = PolicyFiles.paths(config: adminConfig)
        c.policyFlags = flags
        c.caFile = caFile
        let listen = ListenAddress(peerListen)!
        (c.peerListenHost, c.peerListenPort) = (listen.host, listen.port)
        c.peerAddress = peerAddress
        c.upload = !noUpload
        c.cacheHostBanSeconds = cacheHostBanSeconds
        c.trustKeyFiles = trustKeys
        c.trustedKeysDirectory = trustedKeysDir
        c.metricsListen = metricsListen.flatMap(ListenAddress.init).map { ($0.host, $0.port) }
        return c
    }
}

