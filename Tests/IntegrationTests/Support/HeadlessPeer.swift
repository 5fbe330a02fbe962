import DOCore
import Foundation

/// `dofs get` as the tests run it: one headless peer with its own cache, its peer server on
/// `host:port`, and the test's control plane; its log goes to a file of its own.
struct HeadlessPeer {
    let host: String
    let port: Int
    let cacheDir: String
    let output: String
    let logPath: String

    /// What `dofs get --json` printed (the node's prefetch outcome).
    struct Outcome: Decodable {
        struct Fetched: Decodable {
            let cdn: Int
            let cache: Int
            let peer: Int
        }

        let contentId: String?
        let mode: String
        let contentLength: Int
        let fetched: Fetched
        let elapsedSeconds: Double
    }

    init(host: String, scratch: ScratchDirectory, name: String? = nil) throws {
        self.host = host
        port = try LoopbackSocket.freePort(host: host)
        let tag = name ?? "get-\(host)"
        cacheDir = scratch.file("cache-\(tag)")
        output = scratch.file("\(tag).out")
        logPath = scratch.file("logs/\(tag).log")
    }

    /// `dofs get CONTENT -o OUTPUT --json --control-plane CP --cache-dir ... --peer-listen HOST:PORT` in
    /// download mode 3 (every peer of the content, whatever its address) plus `extra`.
    func arguments(_ content: String, controlPlane: String, extra: [String] = []) -> [String] {
        ["get", content, "-o", output, "--json", "--control-plane", controlPlane, "--cache-dir", cacheDir,
         "--peer-listen", "\(host):\(port)", "--download-mode", "3", "--log-file", logPath] + extra
    }

    /// Runs `dofs get` to completion (within `timeout` seconds).
    func run(_ content: String, controlPlane: String, extra: [String] = [], logDirectory: String,
             timeout: TimeInterval = 120) throws -> ChildProcess.Outcome {
        try ChildProcess.run(DofsCLI.binaryPath, arguments(content, controlPlane: controlPlane, extra: extra),
                             logDirectory: logDirectory, timeout: timeout)
    }

    /// Starts `dofs get` in the background (e.g. with `--seed-for`); the caller stops it.
    func start(_ content: String, controlPlane: String, extra: [String] = [], logDirectory: String) throws -> ChildProcess {
        let tag = "\(logDirectory)/get-\(host)-\(UUID().uuidString.prefix(8))"
        return try ChildProcess(DofsCLI.binaryPath, arguments(content, controlPlane: controlPlane, extra: extra),
                                stdoutPath: tag + ".out", stderrPath: tag + ".err")
    }

    /// The outcome line of a finished `dofs get --json`.
    static func outcome(_ stdout: String) throws -> Outcome {
        guard let line = stdout.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw ChildProcess.Failure(description: "dofs get printed no JSON outcome: \(stdout)")
        }
        return try JSONDecoder().decode(Outcome.self, from: Data(line.utf8))
    }

    /// The peer's log so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}
