import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real nginx serving a temporary docroot on 127.0.0.1, the origin ("CDN") of most tests.
///
/// Its access log has one tab-separated line per request (method, URI, status, body bytes sent, Range
/// header), so tests can count requests and origin bytes. Extra locations expose the same docroot under
/// a prefix with a rate limit (a slow origin) or with byte ranges switched off (`max_ranges 0`).
/// The master process is started with `daemon off` as our child and stopped by its PID.
final class NginxOrigin: @unchecked Sendable {
    /// How a URL prefix behaves. `prefix` "/" configures the root location itself; any other prefix
    /// ("/slow/") serves the docroot through an alias.
    struct Location {
        var prefix: String
        var limitRate: String? = nil
        var rangesDisabled = false

        static func slow(_ prefix: String, rate: String) -> Location { Location(prefix: prefix, limitRate: rate) }
        static func noRanges(_ prefix: String) -> Location { Location(prefix: prefix, rangesDisabled: true) }
    }

    let port: Int
    let docroot: String
    let accessLogPath: String
    private let home: String
    private var process: ChildProcess?
    private let lock = NSLock()

    /// Starts nginx in `<scratch>/<name>/` with a fresh docroot there.
    init(scratch: ScratchDirectory, name: String = "nginx", locations: [Location] = []) throws {
        home = try scratch.directory(name)
        docroot = try scratch.directory("\(name)/docroot")
        for sub in ["logs", "tmp"] { _ = try scratch.directory("\(name)/\(sub)") }
        accessLogPath = "\(home)/logs/access.log"
        port = try LoopbackPort.free()
        try start(locations: locations)
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The URL of docroot file `name`, optionally through a location prefix such as "/slow/".
    func url(_ name: String, via prefix: String = "/") -> String { "\(baseURL)\(prefix)\(name)" }

    /// The docroot path of file `name`.
    func path(_ name: String) -> String { "\(docroot)/\(name)" }

    /// Writes a config for `locations` and starts the master; waits (10 s at most) until the port accepts.
    func start(locations: [Location] = []) throws {
        let conf = "\(home)/nginx.conf"
        try config(locations: locations).write(toFile: conf, atomically: true, encoding: .utf8)
        let child = try NginxConfig.start(home: home, conf: conf, port: port, what: "nginx")
        lock.lock()
        process = child
        lock.unlock()
    }

    /// Stops the master by its PID: SIGTERM (nginx stops its worker), SIGKILL to its group after 5 s.
    func stop() {
        lock.lock()
        let child = process
        process = nil
        lock.unlock()
        child?.stop(grace: 5)
    }

    /// Stops nginx and starts it again on the same port, docroot and access log with other locations.
    func restart(locations: [Location]) throws {
        stop()
        try start(locations: locations)
    }

    var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return process?.isRunning ?? false
    }

    /// Every request logged so far (after waiting for the log to settle).
    func entries() -> [AccessLogEntry] {
        settleLog(accessLogPath)
        return AccessLogEntry.parse(file: accessLogPath)
    }

    /// Requests whose URI is exactly `uri` ("/big.bin", "/slow/big.bin").
    func requests(matching uri: String) -> [AccessLogEntry] { entries().filter { $0.uri == uri } }

    /// Body bytes sent for `uri`, or for everything when `uri` is nil.
    func bytesSent(matching uri: String? = nil) -> Int {
        (uri.map { requests(matching: $0) } ?? entries()).bodyBytes
    }

    var errorLog: String { (try? String(contentsOfFile: "\(home)/logs/error.log", encoding: .utf8)) ?? "" }

    private func config(locations: [Location]) -> String {
        var locs = locations
        if !locs.contains(where: { $0.prefix == "/" }) { locs.insert(Location(prefix: "/"), at: 0) }
        let blocks = locs.map { loc -> String in
            var body = loc.prefix == "/" ? "" : "alias \(docroot)/; "
            if let rate = loc.limitRate { body += "limit_rate \(rate); " }
            if loc.rangesDisabled { body += "max_ranges 0; " }
            return "        location \(loc.prefix) { \(body)}"
        }.joined(separator: "\n")
        return """
        \(NginxConfig.main(home: home, workerConnections: 512))
        http {
            log_format dofs_tsv escape=none '$request_method\\t$uri\\t$status\\t$body_bytes_sent\\t$http_range\\t$http_user_agent';
            access_log \(home)/logs/access.log dofs_tsv;
            default_type application/octet-stream;
            sendfile on;
            keepalive_requests 100000;
        \(NginxConfig.temporaryPaths(home: home))
            server {
                listen 127.0.0.1:\(port);
                root \(docroot);
        \(blocks)
            }
        }

        """
    }
}
