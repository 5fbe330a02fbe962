/// The cache servers (Microsoft Connected Cache style) a mount may use, and which are banned now.
///
/// DO's rules (do-protocol.md 5.3, from do-client): hosts are tried in order; a host that cannot be
/// connected to (or times out) is banned for every origin for 15 minutes; a host that answers 4xx for
/// an origin is banned for that origin for 15 minutes. dofs adds one rule of its own: a host whose
/// pieces fail verification is charged like a lying peer, and banned for that origin at the third.
import DOCore
import DOHTTP
import Foundation
import Logging
import Synchronization

public final class CacheHosts: Sendable {
    public struct Configuration: Sendable {
        /// `host[:port]` entries, in the order they are tried.
        public var hosts: [String]
        /// DO's ban for a cache host that failed: 15 minutes.
        public var banSeconds = 900.0
        /// DO's connect timeout for a cache host: 3 s (15 s for the CDN).
        public var connectTimeoutSeconds = 3.0
        /// Bad pieces from one host for one origin before it is banned for that origin.
        public var badPieceLimit = 3
        /// DO's DelayCacheServerFallbackForeground: how long to keep trying cache hosts for a piece
        /// before the CDN. 0 (DO's default without the policy) falls back at the first failure;
        /// a negative value never falls back while a cache host is usable (within the read deadline).
        public var fallbackDelaySeconds = 0.0

        public init(hosts: [String]) { self.hosts = hosts }
    }

    private let base: Configuration
    /// The policy whose `DODelayCacheServerFallbackForeground/Background` set the fallback delay;
    /// `nil`: `fallbackDelaySeconds` as configured.
    private let policy: LivePolicy?
    let http: HTTPClient

    /// The configuration in force now: the fallback delay is the live policy's, foreground or
    /// background as the current task's `DownloadPriority` says.
    public var configuration: Configuration {
        guard let p = policy?.current else { return base }
        var c = base
        c.fallbackDelaySeconds = Double(DownloadPriority.current == .background
            ? p.delayCacheServerFallbackBackgroundSeconds : p.delayCacheServerFallbackForegroundSeconds)
        return c
    }
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        /// host -> until: banned for every origin.
        var banned: [String: ContinuousClock.Instant] = [:]
        /// "host origin" -> until: banned for one origin.
        var bannedForOrigin: [String: ContinuousClock.Instant] = [:]
        var badPieces: [String: Int] = [:]

        /// Bans `key` in `table` until `until`; true when no ban of it was running (a ban that begins,
        /// not one extended by a failure already in flight when it fell).
        static func ban(_ key: String, in table: inout [String: ContinuousClock.Instant], until: ContinuousClock.Instant) -> Bool {
            let running = table[key].map { ContinuousClock.now < $0 } ?? false
            table[key] = until
            return !running
        }
    }

    public init(configuration: Configuration, caFile: String? = nil, policy: LivePolicy? = nil, logger: Logger) {
        self.base = configuration
        self.policy = policy
        var httpConfig = HTTPClientConfiguration()
        httpConfig.connectTimeoutSeconds = configuration.connectTimeoutSeconds
        httpConfig.caFile = caFile
        http = HTTPClient(configuration: httpConfig)
        self.logger = logger
    }

    /// The hosts usable for an origin now, in order.
    func available(forOrigin origin: String) -> [String] {
        let now = ContinuousClock.now
        return state.withLock { s in
            configuration.hosts.filter { host in
                (s.banned[host].map { now >= $0 } ?? true) && (s.bannedForOrigin[host + " " + origin].map { now >= $0 } ?? true)
            }
        }
    }

    /// One configured host as `dofs status` shows it.
    public struct HostState: Codable, Sendable, Equatable {
        public var host: String
        /// Seconds left of a ban for every origin; `nil` when not banned.
        public var bannedSeconds: Double?
        /// Origins it is banned for, with the seconds left.
        public var bannedForOrigins: [String: Double]
        public var badPieces: Int
    }

    /// Every configured host and its bans now (a few entries per host, read under one short lock).
    public var hostStates: [HostState] {
        let now = ContinuousClock.now
        func left(_ until: ContinuousClock.Instant) -> Double? {
            let d = until - now
            return d > .zero ? d.seconds : nil
        }
        return state.withLock { s in
            configuration.hosts.map { host in
                var origins: [String: Double] = [:]
                var bad = 0
                for (key, until) in s.bannedForOrigin where key.hasPrefix(host + " ") {
                    if let l = left(until) { origins[String(key.dropFirst(host.count + 1))] = l }
                }
                for (key, count) in s.badPieces where key.hasPrefix(host + " ") { bad += count }
                return HostState(host: host, bannedSeconds: s.banned[host].flatMap(left), bannedForOrigins: origins, badPieces: bad)
            }
        }
    }

    /// Applies DO's ban rules to a failed request.
    func reportFailure(host: String, origin: String, error: FetchError) {
        let until = ContinuousClock.now + .seconds(configuration.banSeconds)
        switch error {
        case .transport(.connectFailed), .transport(.timedOut):
            if state.withLock({ State.ban(host, in: &$0.banned, until: until) }) { EngineMetrics.cacheHostBans.increment() }
            logger.warning("cache host \(host) banned for \(Int(configuration.banSeconds)) s: \(error)", metadata: ["host": "\(host)"])
        case .httpStatus(_, let status) where (400..<500).contains(status):
            if state.withLock({ State.ban(host + " " + origin, in: &$0.bannedForOrigin, until: until) }) {
                EngineMetrics.cacheHostBans.increment()
            }
            logger.warning("cache host \(host) banned for origin \(origin) for \(Int(configuration.banSeconds)) s: HTTP \(status)",
                           metadata: ["host": "\(host)", "origin": "\(origin)"])
        default:
            break
        }
    }

    /// A piece from `host` failed verification; returns true if the host is now banned for the origin.
    @discardableResult
    func reportBadPiece(host: String, origin: String) -> Bool {
        let key = host + " " + origin
        let (banned, begins) = state.withLock { s -> (Bool, Bool) in
            s.badPieces[key, default: 0] += 1
            guard s.badPieces[key]! >= configuration.badPieceLimit else { return (false, false) }
            return (true, State.ban(key, in: &s.bannedForOrigin, until: ContinuousClock.now + .seconds(configuration.banSeconds)))
        }
        if begins { EngineMetrics.cacheHostBans.increment() }
        if banned {
            logger.error("cache host \(host) banned for origin \(origin): \(configuration.badPieceLimit) pieces failed verification",
                         metadata: ["host": "\(host)", "origin": "\(origin)"])
        }
        return banned
    }
}

/// DO's cache-host form of a URL (do-protocol.md 5.1): the host swapped for the cache host, path and
/// query kept, and `cacheHostOrigin=<original host>` appended: the host only, as DO and do-client send
/// it, with `:port` kept only when the URL names a port other than its scheme's default (80).
public enum CacheHostURL {
    /// `nil` for URLs a cache host cannot serve (not plain http, no host).
    public static func rewrite(_ url: String, cacheHost: String) -> (url: String, origin: String)? {
        guard var c = URLComponents(string: url), let origin = origin(of: c),
              let cache = URLComponents(string: "http://" + cacheHost), let cacheHostName = cache.host else { return nil }
        c.host = cacheHostName
        c.port = cache.port
        let query = c.percentEncodedQuery.map { $0.isEmpty ? "" : $0 + "&" } ?? ""
        let value = origin.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? origin
        c.percentEncodedQuery = query + "cacheHostOrigin=" + value
        guard let rewritten = c.string else { return nil }
        return (rewritten, origin)
    }

    /// The `cacheHostOrigin` value of a plain-http URL: its host, with the port unless it is 80.
    public static func origin(of url: String) -> String? {
        URLComponents(string: url).flatMap(origin(of:))
    }

    private static func origin(of c: URLComponents) -> String? {
        guard c.scheme?.lowercased() == "http", let host = c.host, !host.isEmpty else { return nil }
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return c.port.map { $0 == 80 ? bracketed : "\(bracketed):\($0)" } ?? bracketed
    }
}
