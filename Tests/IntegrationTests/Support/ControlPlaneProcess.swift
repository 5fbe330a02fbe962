import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One `dofs control-plane --listen 127.0.0.1:PORT --data DIR` running as our child.
///
/// `start()` returns once `GET /geo` answers 200 (20 s at most) and fails early, with the server's
/// stderr, if the process exits first. The port and the data folder are fixed for the object's life,
/// so `kill9()` then `start()` (or `restart()`) brings the same control plane back on the same address
/// with the same registry. The process is only ever signalled by its own PID (see `ChildProcess`);
/// its stderr is appended to one log file across restarts.
final class ControlPlaneProcess: @unchecked Sendable {
    let port: Int
    let dataDirectory: String
    let logPath: String
    /// Arguments added after `--listen`, `--data` and `--publisher-key` of the test publisher
    /// (`TestPublisher.shared`, so `DofsCLI.publish` to it is accepted): `--public-url`, ...
    let extraArguments: [String]
    /// `--database URL` instead of `--data`: an instance of a fleet on PostgreSQL.
    let database: String?
    private let toolLogDirectory: String
    private var process: ChildProcess?
    private let lock = NSLock()

    /// Starts a control plane in `<scratch>/<name>/` (registry in `<name>/data` unless `dataDirectory`
    /// is given) on a free loopback port, or on `port`.
    init(scratch: ScratchDirectory, name: String = "control-plane", port: Int? = nil, dataDirectory: String? = nil,
         database: String? = nil, extraArguments: [String] = []) throws {
        self.database = database
        let home = try scratch.directory(name)
        self.dataDirectory = dataDirectory ?? home + "/data"
        logPath = home + "/control-plane.log"
        toolLogDirectory = try scratch.directory("logs")
        self.extraArguments = extraArguments
        self.port = try port ?? LoopbackPort.free()
        try start()
    }

    /// The base URL to give `dofs mount --control-plane` / `dofs publish --control-plane`.
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The server's PID while it runs (to read its /proc entries).
    var pid: pid_t? {
        lock.lock()
        defer { lock.unlock() }
        return process?.isRunning == true ? process?.pid : nil
    }

    var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return process?.isRunning ?? false
    }

    /// Starts the server (it must not be running) and waits until `GET /geo` answers 200.
    func start(readyTimeout: TimeInterval = 20) throws {
        let store = database.map { ["--database", $0] } ?? ["--data", dataDirectory]
        let args = ["control-plane", "--listen", "127.0.0.1:\(port)"] + store + [
                    "--publisher-key", try TestPublisher.shared().publicKey] + extraArguments
        let child = try ChildProcess(DofsCLI.binaryPath, args, stdoutPath: logPath + ".stdout", stderrPath: logPath)
        lock.lock()
        process = child
        lock.unlock()
        let geo = baseURL + "/geo"
        let logs = toolLogDirectory
        let port = self.port
        let ready = waitUntil(timeout: readyTimeout, interval: 0.1) {
            guard child.isRunning else { return true }
            guard LoopbackPort.accepts(port) else { return false }
            return (try? Curl.get(geo, logDirectory: logs, timeout: 5).status) == 200
        }
        if let ended = child.poll() {
            throw ChildProcess.Failure(description: "dofs control-plane exited before serving (\(ended)); stderr:\n\(logTail())")
        }
        guard ready else {
            child.stop(grace: 1)
            throw ChildProcess.Failure(description: "dofs control-plane did not answer GET \(geo) within \(readyTimeout) s; stderr:\n\(logTail())")
        }
    }

    /// Crash: SIGKILL to the server's PID and reap it; afterwards nothing listens on the port.
    func kill9() {
        lock.lock()
        let child = process
        lock.unlock()
        guard let child else { return }
        child.send(SIGKILL)
        child.wait(timeout: 10)
    }

    /// Clean stop: SIGTERM by PID, SIGKILL to its group after 5 s. Safe to call more than once.
    @discardableResult
    func stop() -> ChildProcess.Termination? {
        lock.lock()
        let child = process
        lock.unlock()
        return child?.stop(grace: 5)
    }

    /// Stops the server if it runs (cleanly), then starts it again on the same port and data folder.
    func restart() throws {
        stop()
        try start()
    }

    /// The server's stderr so far (every run).
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func logTail(_ lines: Int = 40) -> String {
        log.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

/// HTTP requests from the tests through the `curl` CLI, bounded in time; a server that does not answer
/// gives status 0 rather than an exception, so tests can assert on it.
enum Curl {
    struct Reply: CustomStringConvertible {
        /// The HTTP status, 0 when no answer came (refused, TLS failure, timeout).
        let status: Int
        let body: String
        /// curl's stderr (why there was no answer).
        let error: String

        var description: String { "HTTP \(status) \(body.prefix(400))\(error.isEmpty ? "" : " (curl: \(error.prefix(300)))")" }

        /// The body as a JSON object, `nil` when it is not one.
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] }
    }

    /// `GET url`, with `query` appended (percent-encoded by curl).
    static func get(_ url: String, query: [(String, String)] = [], caFile: String? = nil, logDirectory: String,
                    timeout: TimeInterval = 15) throws -> Reply {
        var args: [String] = []
        if !query.isEmpty {
            args.append("-G")
            for (name, value) in query { args += ["--data-urlencode", "\(name)=\(value)"] }
        }
        return try run(args, url: url, caFile: caFile, logDirectory: logDirectory, timeout: timeout)
    }

    /// `POST url` with a JSON body, sent from `sourceAddress` when given (a local address to bind).
    static func postJSON(_ url: String, json: Data, caFile: String? = nil, sourceAddress: String? = nil,
                         logDirectory: String, timeout: TimeInterval = 15) throws -> Reply {
        let bodyFile = "\(logDirectory)/post-\(UUID().uuidString.prefix(8)).json"
        try json.write(to: URL(fileURLWithPath: bodyFile))
        let source = sourceAddress.map { ["--interface", $0] } ?? []
        return try run(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@" + bodyFile] + source,
                       url: url, caFile: caFile, logDirectory: logDirectory, timeout: timeout)
    }

    private static func run(_ extra: [String], url: String, caFile: String?, logDirectory: String,
                            timeout: TimeInterval) throws -> Reply {
        let bodyFile = "\(logDirectory)/curl-\(UUID().uuidString.prefix(8)).body"
        var args = ["-sS", "--noproxy", "*", "--max-time", String(Int(max(1, timeout - 2))), "-o", bodyFile, "-w", "%{http_code}"]
        if let caFile { args += ["--cacert", caFile] }
        let outcome = try ChildProcess.run("curl", args + extra + [url], logDirectory: logDirectory, timeout: timeout)
        let body = (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: bodyFile)
        let status = Int(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        return Reply(status: status, body: body, error: outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

extension DofsCLI {
    /// Where `dofs publish` registers the content.
    enum Registration {
        /// `--control-plane URL`
        case controlPlane(String)
        /// `--local --control-plane-data DIR`
        case local(dataDirectory: String)
    }

    /// What `dofs publish` printed when it also registered the content.
    struct Registered {
        let published: Published
        /// `RegisteredAt`: the content-policy URL (control plane) or the registry folder (local).
        let registeredAt: String?
    }

    /// Runs `dofs publish FILE --url URL --phf-out PHF [--phf-url U]` plus the registration options,
    /// signed with `key` (a private key file); a registration with a control plane is signed with the
    /// test publisher's key unless another is given, a local one is unsigned unless a key is given.
    static func publish(file: String, url: String, phfOut: String, phfURL: String? = nil, registration: Registration,
                        key: String? = nil, logDirectory: String) throws -> Registered {
        var args = ["publish", file, "--url", url, "--phf-out", phfOut]
        if let phfURL { args += ["--phf-url", phfURL] }
        switch registration {
        case .controlPlane(let cp): args += ["--control-plane", cp, "--key", try key ?? TestPublisher.shared().privateKey]
        case .local(let dir): args += ["--local", "--control-plane-data", dir] + (key.map { ["--key", $0] } ?? [])
        }
        let outcome = try ChildProcess.run(binaryPath, args, logDirectory: logDirectory, timeout: 60)
        guard outcome.succeeded else {
            throw ChildProcess.Failure(description: "`dofs \(args.joined(separator: " "))` ended with \(outcome.termination): \(outcome.stderr)")
        }
        struct Extra: Decodable { let RegisteredAt: String? }
        do {
            let data = Data(outcome.stdout.utf8)
            return Registered(published: try JSONDecoder().decode(Published.self, from: data),
                              registeredAt: try JSONDecoder().decode(Extra.self, from: data).RegisteredAt)
        } catch {
            throw ChildProcess.Failure(description: "dofs publish printed no Published JSON (\(error)): \(outcome.stdout)")
        }
    }
}
