import Foundation

/// A fault-injecting origin: `Fixtures/fault_origin.py`, run by python3 as our child on 127.0.0.1.
///
/// Every file of `docroot` is reachable as `/<mode>/<name>` in each `Mode`, so one server covers all
/// faults. It prints the port it bound; it is stopped by its PID.
final class FaultOrigin: @unchecked Sendable {
    /// How the origin answers; see the script's header for the exact behaviour.
    enum Mode: String, CaseIterable {
        case ok
        case truncatedBody = "truncate"
        case wrongContentRange = "badrange"
        case ignoresRange = "ignorerange"
        case serverError = "error500"
        case contentChanged = "changed"
        /// GETs get no answer (for `?seconds=`, default an hour).
        case stall
        /// A random fault on a share of GETs (`?rate=`, default 0.2).
        case chaos
    }

    let port: Int
    let docroot: String
    let logPath: String
    private let process: ChildProcess

    /// The script beside this file's folder: Tests/IntegrationTests/Fixtures/fault_origin.py.
    static var scriptPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fault_origin.py").path
    }

    /// Starts the server on a kernel-chosen port serving `docroot`; waits (10 s at most) for its port.
    init(scratch: ScratchDirectory, docroot: String, name: String = "fault-origin") throws {
        let home = try scratch.directory(name)
        self.docroot = docroot
        logPath = "\(home)/requests.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = try ChildProcess("python3", ["-u", FaultOrigin.scriptPath, "--root", docroot, "--port", "0", "--log", logPath],
                                   stdoutPath: "\(home)/stdout.log", stderrPath: "\(home)/stderr.log")
        var found: Int?
        let child = process
        waitUntil(timeout: 10) {
            if let line = child.standardOutput.split(separator: "\n").first(where: { $0.hasPrefix("PORT ") }) {
                found = Int(line.dropFirst(5))
            }
            return found != nil || !child.isRunning
        }
        guard let found, LoopbackPort.accepts(found) else {
            process.stop(grace: 1)
            throw ChildProcess.Failure(description: "fault origin did not start: \(process.standardError)")
        }
        port = found
    }

    func url(_ name: String, mode: Mode) -> String { "http://127.0.0.1:\(port)/\(mode.rawValue)/\(name)" }

    /// A URL whose server claims the content is `length` bytes long (any text, even beyond Int64).
    func claimingURL(length: String, name: String = "claim.bin") -> String {
        "http://127.0.0.1:\(port)/claim/\(name)?length=\(length)"
    }

    /// A URL answered with a redirect to `target`.
    func redirectingURL(to target: String) -> String {
        "http://127.0.0.1:\(port)/redirect/r?to=" + (target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? target)
    }

    /// Requests served so far, in the same format as nginx's log.
    func entries() -> [AccessLogEntry] {
        settleLog(logPath)
        return AccessLogEntry.parse(file: logPath)
    }

    func stop() { process.stop(grace: 3) }
}
