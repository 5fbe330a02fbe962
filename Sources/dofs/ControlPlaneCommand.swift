import DOCore
import ArgumentParser
import DOControlPlane
import Dispatch
import Foundation
import Logging
import Synchronization

/// `dofs control-plane`: the self-hosted control plane for a fleet, until SIGINT or SIGTERM.
struct ControlPlaneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control-plane",
        abstract: "Serve DO's control plane: geo, key-value, content policy, discovery, swarm join, and a registry of published content.",
        discussion: """
        Clients start at http://HOST:PORT/geo (give `dofs mount --control-plane` the base URL). Published \
        content is registered with `dofs publish --control-plane URL` (POST /publish) and kept in a SQLite \
        database in --data, which survives restarts. Only publishers whose keys are named with \
        --publisher-key may register over HTTP, each registration signed (`dofs publish --key`); without \
        any, POST /publish refuses everything and only `dofs publish --local` on this machine writes the \
        registry. Swarm membership lives in memory; a member's address is the address its join came from. \
        With --database instead of --data, the registry and swarm membership live in PostgreSQL (schema \
        applied at start): any number of instances on one database, behind one address, serve one fleet. \
        Behind a TLS proxy, set --public-url to the URL clients use (every URL handed out starts with it) \
        and name the proxy with --trusted-proxy. Stops cleanly on SIGINT or SIGTERM.
        """
    )

    @Option(help: "Address and port to listen on: HOST:PORT, e.g. 127.0.0.1:7690, 0.0.0.0:7690 or [::]:7690.")
    var listen: String

    @Option(help: "Folder of the registry database (created if missing); not used with --database.")
    var data: String?

    @Option(name: .customLong("database"),
            help: "PostgreSQL holding the registry and swarm membership, shared by every instance of a fleet: postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=require].")
    var database: String?

    @Option(name: .customLong("database-connections"), help: "Connections to --database this instance keeps at most.")
    var databaseConnections = ControlPlaneConfiguration.defaults.databaseConnections

    @Option(name: .customLong("public-url"),
            help: "The URL clients reach this server at, e.g. https://cp.example.net (default: http://<listen address>).")
    var publicURL: String?

    @Option(name: .customLong("cache-host"), help: "A cache server to name as CacheHost in /geo (host or host:port).")
    var cacheHost: String?

    @Option(name: .customLong("country-code"), help: "CountryCode to report in /geo (ZZ: ISO 3166's \"unknown\").")
    var countryCode = "ZZ"

    @Option(name: .customLong("content-download-mode"),
            help: "DownloadMode of every content policy: the most peering a client may use for it (0 HTTP only, 1 LAN, 2 Group, 3 Internet); a client in a higher mode lowers its own.")
    var contentDownloadMode = ContentPolicy.Policies.dofsDefaults.downloadMode ?? 1

    @Option(name: .customLong("reannounce-secs"), help: "How often peers re-join a swarm, in seconds.")
    var reannounceSeconds = 300

    @Option(name: .customLong("publisher-key"),
            help: "A publisher's public key (PEM, from `dofs keygen`) allowed to register content; repeatable.")
    var publisherKeys: [String] = []

    @Option(name: .customLong("trusted-proxy"),
            help: "IP address of a proxy whose X-Real-IP / X-Forwarded-For name the client, and through which a join's ReportedIp is believed; repeatable.")
    var trustedProxies: [String] = []

    @Option(name: .customLong("max-connections"),
            help: "Open connections at most; beyond it the server stops accepting until one closes (lowered to fit the descriptor limit).")
    var maxConnections = ControlPlaneConfiguration.defaults.maxConnections

    @Option(name: .customLong("header-timeout"),
            help: "Seconds a connection has to send a complete request head.")
    var headerTimeoutSeconds = ControlPlaneConfiguration.defaults.headerReadTimeout.seconds

    @Option(name: .customLong("idle-timeout"),
            help: "Seconds a connection may sit idle between requests (or stall a request body) before it is closed.")
    var idleTimeoutSeconds = ControlPlaneConfiguration.defaults.idleTimeout.seconds

    @Option(name: .customLong("max-concurrent-publishes"),
            help: "POST /publish bodies read at once; more are answered 503 with Retry-After, unread.")
    var maxConcurrentPublishes = ControlPlaneConfiguration.defaults.maxConcurrentPublishBodies

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (data == nil) != (database == nil) else {
            throw ValidationError("give either --data (one instance, SQLite) or --database (a fleet, PostgreSQL)")
        }
        guard databaseConnections > 0 else { throw ValidationError("--database-connections must be positive") }
        guard ListenAddress(listen) != nil else {
            throw ValidationError("--listen '\(listen)' is not HOST:PORT with a port between 0 and 65535")
        }
        guard [0, 1, 2, 3].contains(contentDownloadMode) else {
            throw ValidationError("--content-download-mode must be 0, 1, 2 or 3")
        }
        if let publicURL, !HTTPURL.isValid(publicURL) {
            throw ValidationError("--public-url '\(publicURL)' is not an absolute http(s) URL")
        }
        guard reannounceSeconds > 0 else { throw ValidationError("--reannounce-secs must be positive") }
        for proxy in trustedProxies where !IPAddress.isValid(proxy) {
            throw ValidationError("--trusted-proxy '\(proxy)' is not an IP address")
        }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard headerTimeoutSeconds > 0, idleTimeoutSeconds > 0 else {
            throw ValidationError("--header-timeout and --idle-timeout must be positive")
        }
        guard maxConcurrentPublishes > 0 else { throw ValidationError("--max-concurrent-publishes must be positive") }
        guard countryCode.count == 2, countryCode.allSatisfy({ $0.isLetter && $0.isASCII }) else {
            throw ValidationError("--country-code must be two letters")
        }
    }

    func run() throws {
        _ = try logging.bootstrap()
        let logger = Logger(label: "dofs.control-plane")

        let address = ListenAddress(listen)!
        var configuration = ControlPlaneConfiguration(host: address.host, port: address.port, dataDirectory: data ?? "",
                                                      publicURL: publicURL, cacheHost: cacheHost)
        configuration.database = database
        configuration.databaseConnections = databaseConnections
        configuration.countryCode = countryCode.uppercased()
        configuration.reannounceSeconds = reannounceSeconds
        configuration.policies.downloadMode = contentDownloadMode
        configuration.trustedProxies = Set(trustedProxies.map(IPAddress.normalized))
        do {
            configuration.publisherKeys = try PublisherKeyring(files: publisherKeys)
        } catch {
            throw UserFacingError("dofs control-plane: --publisher-key: \(error)")
        }
        if configuration.publisherKeys.isEmpty {
            logger.notice("no --publisher-key: POST /publish refuses every registration\(data.map { "; register with `dofs publish --local --control-plane-data \($0)`" } ?? "")")
        } else {
            logger.notice("publishers allowed: \(configuration.publisherKeys.keyIds.joined(separator: ", "))")
        }
        configuration.maxConnections = maxConnections
        configuration.headerReadTimeout = .milliseconds(Int64(headerTimeoutSeconds * 1000))
        configuration.idleTimeout = .milliseconds(Int64(idleTimeoutSeconds * 1000))
        configuration.maxConcurrentPublishBodies = maxConcurrentPublishes
        let config = configuration
        // This process is the server: let it use the descriptors its hard limit allows (systemd's
        // soft default of 1024 would otherwise cap connections far below --max-connections).
        if let limit = DescriptorLimit.raiseToHardLimit() {
            logger.debug("descriptor limit \(limit)")
        }

        let outcome = try SyncBridge.run { () async throws -> String? in
            let running: RunningControlPlane
            do {
                running = try await ControlPlaneServer.start(configuration: config, logger: logger)
            } catch {
                throw UserFacingError("dofs control-plane: \(error)")
            }
            let signal = await ShutdownSignal.wait()
            logger.notice("\(signal): stopping")
            await running.stop()
            return nil
        }
        if let outcome { throw UserFacingError(outcome) }
    }
}

/// `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (every address).
struct ListenAddress {
    let host: String
    let port: Int

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65_535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "0.0.0.0" }
        guard !host.contains("[") && !host.contains("]") && !host.contains("/") else { return nil }
        self.host = host
        self.port = port
    }
}

/// Runs async work from a synchronous command (the root command is a `ParsableCommand`): the calling
/// thread blocks on a semaphore while the work runs on Swift's concurrency threads.
enum SyncBridge {
    static func run<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let outcome: Result<T, any Error>
            do {
                outcome = .success(try await work())
            } catch {
                outcome = .failure(error)
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}
