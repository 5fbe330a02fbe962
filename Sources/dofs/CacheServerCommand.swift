import ArgumentParser
import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `dofs cache-server`: a Microsoft Connected Cache style cache node (do-protocol.md section 5), run as an
/// nginx of its own: renders mount-helpers/cache-server/nginx.conf.template into --cache-dir, runs nginx in
/// the foreground as a child, forwards SIGINT/SIGTERM to it (by PID) and exits when it exits.
struct CacheServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache-server",
        abstract: "Run an MCC-style cache node (nginx): /<path>?...&cacheHostOrigin=HOST[:PORT], cached in slices.",
        discussion: """
        Requests for http://HOST:PORT/<path>?<query>&cacheHostOrigin=<origin> are fetched from \
        http://<origin>/<path>?<query> and cached in slices of --slice-size bytes (use the DO piece size) \
        under --cache-dir/cache, at most --max-size bytes (nginx evicts the least recently used). Only \
        origins named by --allow-origin are fetched; anything else gets 403. Origins are IPv4 addresses, \
        [IPv6] addresses or host names, with an optional port (default 80); names are resolved when \
        nginx starts. GET /health answers 200 "ok". --print-config prints the nginx configuration for \
        your own nginx or systemd unit and exits. Stops on SIGINT or SIGTERM.
        """
    )

    @Option(help: "Address and port to listen on: HOST:PORT, e.g. 127.0.0.1:8080, 0.0.0.0:80 or [::]:80.")
    var listen: String

    @Option(name: .customLong("cache-dir"),
            help: "nginx prefix: configuration, logs, temp files and the cache itself (DIR/cache). Created if missing.")
    var cacheDir: String

    @Option(name: .customLong("allow-origin"),
            help: "An origin the cache may fetch from: HOST[:PORT] (IPv4, [IPv6] or host name). Repeatable.")
    var allowOrigin: [String] = []

    @Option(name: .customLong("max-size"), help: "Cache size cap in bytes (nginx proxy_cache_path max_size).")
    var maxSize: Int64 = 10 * 1024 * 1024 * 1024

    @Option(name: .customLong("slice-size"), help: "Bytes per cached slice; use the DO piece size.")
    var sliceSize: Int = 1_048_576

    @Option(help: "Drop cached slices not used for this long (nginx time: 30m, 12h, 7d).")
    var inactive = "7d"

    @Option(help: "How long a fetched slice stays fresh (nginx time).")
    var valid = "30d"

    @Option(help: "nginx worker processes: a number or 'auto'.")
    var workers = "auto"

    @Option(name: .customLong("keys-zone-size"), help: "Shared memory for cache keys (nginx size; 1m holds ~8000 keys).")
    var keysZoneSize = "64m"

    @Option(help: "The nginx binary.")
    var nginx = "/usr/sbin/nginx"

    @Option(help: "The configuration template (default: found beside the installation or in the source tree).")
    var template: String?

    @Flag(name: [.customShort("f"), .customLong("foreground")], help: "Stay in the foreground (the only mode).")
    var foreground = false

    @Flag(name: .customLong("print-config"), help: "Print the rendered nginx configuration and exit.")
    var printConfig = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard ListenAddress(listen) != nil else {
            throw ValidationError("--listen '\(listen)' is not HOST:PORT with a port between 0 and 65535")
        }
        guard !allowOrigin.isEmpty else {
            throw ValidationError("give at least one --allow-origin HOST[:PORT]; the cache fetches from nothing else")
        }
        for value in allowOrigin {
            if case .failure(let problem) = CacheOrigin.parse(value) {
                throw ValidationError("--allow-origin '\(value)' is not HOST[:PORT]: \(problem.reason)")
            }
        }
        guard cacheDir.isEmpty == false else { throw ValidationError("--cache-dir must not be empty") }
        guard maxSize > 0 else { throw ValidationError("--max-size must be a positive number of bytes") }
        guard sliceSize > 0 else { throw ValidationError("--slice-size must be a positive number of bytes") }
        for (name, value) in [("--inactive", inactive), ("--valid", valid)] where !NginxConfig.isTime(value) {
            throw ValidationError("\(name) '\(value)' is not an nginx time such as 30m, 12h or 7d")
        }
        guard workers == "auto" || (Int(workers).map { $0 > 0 } ?? false) else {
            throw ValidationError("--workers must be 'auto' or a positive number")
        }
        guard NginxConfig.isSize(keysZoneSize) else {
            throw ValidationError("--keys-zone-size '\(keysZoneSize)' is not an nginx size such as 64m")
        }
    }

    func run() throws {
        _ = try logging.bootstrap()
        let logger = Logger(label: "dofs.cache-server")

        let prefix = URL(fileURLWithPath: cacheDir).standardizedFileURL.path
        guard NginxConfig.isSafePath(prefix) else {
            throw UserFacingError("dofs cache-server: --cache-dir '\(prefix)' contains characters nginx cannot take (space, quote, ;, { or })")
        }
        let origins = allowOrigin.compactMap { try? CacheOrigin.parse($0).get() }
        let templatePath = try NginxConfig.findTemplate(explicit: template)
        let templateText: String
        do {
            templateText = try String(contentsOfFile: templatePath, encoding: .utf8)
        } catch {
            throw UserFacingError("dofs cache-server: cannot read the template \(templatePath): \(error)")
        }
        let address = ListenAddress(listen)!
        let values = NginxConfig.values(prefix: prefix, listen: address, origins: origins, sliceSize: sliceSize,
                                        maxSize: maxSize, inactive: inactive, valid: valid, workers: workers,
                                        keysZoneSize: keysZoneSize, asRoot: geteuid() == 0)
        let rendered: String
        do {
            rendered = try NginxConfig.render(templateText, values: values)
        } catch {
            throw UserFacingError("dofs cache-server: template \(templatePath): \(error)")
        }
        if printConfig {
            print(rendered, terminator: rendered.hasSuffix("\n") ? "" : "\n")
            return
        }

        let fm = FileManager.default
        for sub in ["", "/logs", "/cache", "/temp/body", "/temp/proxy", "/temp/fastcgi", "/temp/uwsgi", "/temp/scgi"] {
            do {
                try fm.createDirectory(atPath: prefix + sub, withIntermediateDirectories: true)
            } catch {
                throw UserFacingError("dofs cache-server: cannot create \(prefix + sub): \(error)")
            }
        }
        let confPath = prefix + "/nginx.conf"
        do {
            try rendered.write(toFile: confPath, atomically: true, encoding: .utf8)
        } catch {
            throw UserFacingError("dofs cache-server: cannot write \(confPath): \(error)")
        }
        let base = ["-p", prefix + "/", "-c", confPath, "-e", prefix + "/logs/error.log"]

        // Check the configuration first, so a mistake is reported with nginx's own words.
        let check = try NginxChild(nginx, base + ["-t", "-q"], captureStderr: true)
        let checked = check.waitForExit()
        guard checked == .exited(0) else {
            throw UserFacingError("dofs cache-server: nginx rejected \(confPath) (\(checked)):\n\(check.capturedStderr)")
        }

        // Take SIGINT/SIGTERM before nginx exists, so none is lost; forward them to nginx's PID.
        let signals = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")]
        for (number, _) in signals { signal(number, SIG_IGN) }
        let child = try NginxChild(nginx, base + ["-g", "daemon off;"], captureStderr: false)
        logger.notice("nginx PID \(child.pid) serving \(listen), cache \(prefix)/cache (max \(maxSize) B, slice \(sliceSize) B), origins: \(origins.map(\.key).joined(separator: ", "))")
        let queue = DispatchQueue(label: "dofs.cache-server.signals")
        let stopping = Atomicish()
        let sources = signals.map { number, name in
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                logger.notice("\(name): stopping nginx (PID \(child.pid))")
                stopping.set()
                child.signal(SIGTERM)
                // nginx stops its workers and exits; if it does not within 10 s, kill its process group.
                queue.asyncAfter(deadline: .now() + 10) {
                    if child.isRunning {
                        logger.warning("nginx (PID \(child.pid)) still running after 10 s: SIGKILL")
                        child.signalGroup(SIGKILL)
                    }
                }
            }
            source.resume()
            return source
        }
        let ended = child.waitForExit()
        sources.forEach { $0.cancel() }
        if stopping.isSet && (ended == .exited(0) || ended == .signaled(SIGTERM)) {
            logger.notice("nginx stopped (\(ended))")
            return
        }
        throw UserFacingError("dofs cache-server: nginx ended (\(ended)); see \(prefix)/logs/error.log")
    }
}

/// A set-once flag shared with a signal handler.
private final class Atomicish: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// An allowed origin: `host` (IPv4, IPv6 without brackets, or a host name), `port`, and `key`, the text
/// clients put in `cacheHostOrigin` (as given on the command line).
struct CacheOrigin: Equatable {
    let key: String
    let host: String
    let port: Int
    let isIPv6: Bool

    struct Problem: Error { let reason: String }

    /// `host:port` for nginx's `server` directive and the Host header.
    var hostPort: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Strict: `HOST`, `HOST:PORT`, `[IPv6]` or `[IPv6]:PORT`; HOST an IPv4 address or a DNS name
    /// (letters, digits, hyphens, dots); PORT 1-65535. Nothing else (no spaces, quotes, `;`, `/`, ...).
    static func parse(_ text: String) -> Result<CacheOrigin, Problem> {
        func fail(_ reason: String) -> Result<CacheOrigin, Problem> { .failure(Problem(reason: reason)) }
        guard !text.isEmpty else { return fail("it is empty") }
        guard text.count <= 261 else { return fail("it is too long") }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
        if let bad = text.first(where: { !allowed.contains($0) }) {
            return fail("character \(String(reflecting: String(bad))) is not allowed (only letters, digits, '.', '-', ':' and [IPv6])")
        }
        var hostPart: Substring
        var portPart: Substring?
        var ipv6 = false
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return fail("'[' without ']'") }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return fail("expected ':PORT' after ']'") }
                portPart = rest.dropFirst()
            }
            ipv6 = true
        } else {
            guard !text.contains("[") && !text.contains("]") else { return fail("brackets only around an IPv6 address") }
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return fail("more than one ':' (write an IPv6 address as [ADDRESS]:PORT)") }
            hostPart = parts[0]
            portPart = parts.count == 2 ? parts[1] : nil
        }
        var port = 80
        if let portPart {
            guard !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(portPart), (1...65_535).contains(value) else {
                return fail("port '\(portPart)' is not a number from 1 to 65535")
            }
            port = value
        }
        let host = String(hostPart)
        guard !host.isEmpty else { return fail("the host is empty") }
        if ipv6 {
            guard isAddress(host, family: AF_INET6) else { return fail("'\(host)' is not an IPv6 address") }
        } else if host.allSatisfy({ $0.isNumber || $0 == "." }) {
            guard isAddress(host, family: AF_INET) else { return fail("'\(host)' is not an IPv4 address") }
        } else {
            guard host.count <= 253 else { return fail("the host name is longer than 253 characters") }
            let labels = host.split(separator: ".", omittingEmptySubsequences: false)
            for label in labels {
                guard !label.isEmpty, label.count <= 63, !label.hasPrefix("-"), !label.hasSuffix("-"),
                      !label.contains(":") else {
                    return fail("'\(host)' is not a host name (labels of 1-63 letters, digits or inner hyphens)")
                }
            }
        }
        return .success(CacheOrigin(key: text, host: host, port: port, isIPv6: ipv6))
    }

    private static func isAddress(_ text: String, family: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(family, text, &buffer) == 1
    }
}

/// Rendering `nginx.conf.template`: `{{NAME}}` placeholders, every one of which must be known.
enum NginxConfig {
    struct TemplateError: Error, CustomStringConvertible { let description: String }

    static func render(_ template: String, values: [String: String]) throws -> String {
        var output = ""
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            output += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw TemplateError(description: "'{{' without '}}'")
            }
            let name = String(rest[open.upperBound..<close.lowerBound])
            guard let value = values[name] else { throw TemplateError(description: "unknown placeholder {{\(name)}}") }
            output += value
            rest = rest[close.upperBound...]
        }
        output += rest
        return output
    }

    /// The placeholder values. Every origin was validated by `CacheOrigin.parse`, so keys and names are
    /// made of letters, digits, '.', '-', ':' and brackets only and are safe inside double quotes.
    static func values(prefix: String, listen: ListenAddress, origins: [CacheOrigin], sliceSize: Int, maxSize: Int64,
                       inactive: String, valid: String, workers: String, keysZoneSize: String,
                       asRoot: Bool) -> [String: String] {
        var seen = Set<String>()
        let unique = origins.filter { seen.insert($0.key.lowercased()).inserted }
        let upstreamMap = unique.enumerated().map { index, origin in
            "        \"\(origin.key)\" dofs_origin_\(index);"
        }.joined(separator: "\n")
        let hostMap = unique.map { "        \"\($0.key)\" \"\($0.hostPort)\";" }.joined(separator: "\n")
        let upstreams = unique.enumerated().map { index, origin in
            """
                upstream dofs_origin_\(index) {
                    # --allow-origin \(origin.key)
                    server \(origin.hostPort);
                    keepalive 16;
                }
            """
        }.joined(separator: "\n")
        let listenText = listen.host.contains(":") ? "[\(listen.host)]:\(listen.port)" : "\(listen.host):\(listen.port)"
        return [
            "PREFIX": prefix,
            "USER_LINE": asRoot ? "user root;  # started as root: workers stay root so they can write the cache"
                                : "# not started as root: workers run as the current user",
            "WORKERS": workers,
            "LISTEN": listenText,
            "ORIGIN_UPSTREAM_MAP": upstreamMap,
            "ORIGIN_HOST_MAP": hostMap,
            "UPSTREAMS": upstreams,
            "SLICE_SIZE": String(sliceSize),
            "MAX_SIZE": String(maxSize),
            "INACTIVE": inactive,
            "VALID": valid,
            "KEYS_ZONE": keysZoneSize,
        ]
    }

    static func isTime(_ text: String) -> Bool {
        text.range(of: "^[0-9]{1,9}(ms|[smhdwMy])?$", options: .regularExpression) != nil
    }

    static func isSize(_ text: String) -> Bool {
        text.range(of: "^[0-9]{1,12}[kKmMgG]?$", options: .regularExpression) != nil
    }

    static func isSafePath(_ path: String) -> Bool {
        !path.contains(where: { " \t\n\r\"';{}$\\#".contains($0) })
    }

    /// `explicit`, `$DOFS_CACHE_SERVER_TEMPLATE`, `<bin>/../share/dofs/cache-server/`, /usr/local/share,
    /// /usr/share, then the source tree this binary was built from.
    static func findTemplate(explicit: String?) throws -> String {
        if let explicit {
            guard FileManager.default.isReadableFile(atPath: explicit) else {
                throw UserFacingError("dofs cache-server: --template \(explicit) cannot be read")
            }
            return explicit
        }
        let name = "cache-server/nginx.conf.template"
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["DOFS_CACHE_SERVER_TEMPLATE"], !env.isEmpty {
            candidates.append(env)
        }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let bin = URL(fileURLWithPath: exe).deletingLastPathComponent()
            candidates.append(bin.appendingPathComponent("../share/dofs/\(name)").standardizedFileURL.path)
        }
        candidates += ["/usr/local/share/dofs/\(name)", "/usr/share/dofs/\(name)"]
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()   // Sources/dofs
            .appendingPathComponent("../../mount-helpers/\(name)").standardizedFileURL.path
        candidates.append(source)
        if let found = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0) }) { return found }
        throw UserFacingError("dofs cache-server: no nginx.conf.template found (looked in \(candidates.joined(separator: ", "))); give --template")
    }
}

/// nginx as our child: started with `posix_spawn` in a process group of its own, signalled only by its
/// PID (or that group, as a last resort), reaped with `waitpid` on that PID.
final class NginxChild: @unchecked Sendable {
    enum Termination: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)
        var description: String {
            switch self {
            case .exited(let code): return "exit status \(code)"
            case .signaled(let number): return "killed by signal \(number)"
            }
        }
    }

    let pid: pid_t
    private let lock = NSLock()
    private var termination: Termination?
    private let stderrFile: String?

    init(_ executable: String, _ arguments: [String], captureStderr: Bool) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if captureStderr {
            let path = NSTemporaryDirectory() + "/dofs-cache-server-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).err"
            posix_spawn_file_actions_addopen(&actions, 2, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 2, 1)
            stderrFile = path
        } else {
            stderrFile = nil
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        let argvStrings = [executable] + arguments
        let argv: [UnsafeMutablePointer<CChar>?] = argvStrings.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw UserFacingError("dofs cache-server: cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        pid = child
    }

    deinit {
        if let stderrFile { unlink(stderrFile) }
    }

    var capturedStderr: String {
        stderrFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
    }

    /// The termination if the child has ended (reaping it), nil while it runs.
    private func poll(blocking: Bool) -> Termination? {
        lock.lock()
        if let termination { lock.unlock(); return termination }
        lock.unlock()
        var status: Int32 = 0
        var rc: pid_t
        repeat {
            rc = waitpid(pid, &status, blocking ? 0 : WNOHANG)
        } while rc == -1 && errno == EINTR
        lock.lock()
        defer { lock.unlock() }
        if let termination { return termination }
        guard rc == pid else { return nil }
        let number = status & 0x7f
        termination = number == 0 ? .exited((status >> 8) & 0xff) : .signaled(number)
        return termination
    }

    var isRunning: Bool { poll(blocking: false) == nil }

    /// Blocks until the child ends. Only one thread waits; signal handlers use `isRunning` / `signal`.
    func waitForExit() -> Termination {
        while true {
            if let t = poll(blocking: false) { return t }
            usleep(20_000)
        }
    }

    func signal(_ number: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if termination == nil { kill(pid, number) }
    }

    func signalGroup(_ number: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if termination == nil { kill(-pid, number) }
    }
}
