import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One `dofs mount MOUNTPOINT --cache-dir DIR [--catalog FILE] -f` running as our child.
///
/// `start` returns once the mountpoint shows in /proc/mounts (20 s at most) and fails early, with
/// dofs's stderr, if the process exits first. `unmount()` is the clean path (`fusermount3 -u`, then
/// the process must exit); `kill9()` is the crash path (SIGKILL by PID, then the dead mount is
/// detached). `cleanUp()` is what tearDown calls: whatever state things are in, afterwards the process
/// is gone and nothing is mounted at the mountpoint.
final class DofsMount: @unchecked Sendable {
    let mountpoint: String
    let cacheDir: String
    let logPath: String
    let process: ChildProcess
    private let toolLogDirectory: String

    /// Options passed to `dofs mount`.
    struct Options {
        var catalog: String? = nil
        var readDeadline: Int? = nil
        var extraArguments: [String] = []
        /// How often `start` looks at /proc/mounts for the mount.
        var readyPollInterval: TimeInterval = 0.05
    }

    private init(mountpoint: String, cacheDir: String, logPath: String, process: ChildProcess, toolLogDirectory: String) {
        self.mountpoint = mountpoint
        self.cacheDir = cacheDir
        self.logPath = logPath
        self.process = process
        self.toolLogDirectory = toolLogDirectory
    }

    /// The arguments of `dofs mount` for these options (with `-f`).
    static func arguments(mountpoint: String, cacheDir: String, options: Options) -> [String] {
        var args = ["mount", mountpoint, "--cache-dir", cacheDir, "-f"]
        if let catalog = options.catalog { args += ["--catalog", catalog] }
        if let deadline = options.readDeadline { args += ["--read-deadline", String(deadline)] }
        // The embedded control plane keeps its registry in a folder of the test, never the system's.
        let choosesControlPlane = options.extraArguments.contains { ["--control-plane", "--control-plane-data", "--download-mode"].contains($0) }
        if !choosesControlPlane { args += ["--control-plane-data", cacheDir + "-control-plane"] }
        // Several mounts may run at once: each peer server on a port of its own.
        if !options.extraArguments.contains("--peer-listen") { args += ["--peer-listen", "127.0.0.1:0"] }
        // Each mount is its own node, on a control socket of its own (never the machine's /run/dofs).
        if !options.extraArguments.contains("--socket") { args += ["--socket", cacheDir + "-\(UUID().uuidString.prefix(8)).sock"] }
        // Trusted publisher keys come from the test, never from the machine's /etc/dofs/trusted-keys.
        if !options.extraArguments.contains("--trusted-keys-dir") { args += ["--trusted-keys-dir", cacheDir + "-trusted-keys"] }
        return args + options.extraArguments
    }

    /// Starts dofs in the foreground and waits until the mount is live.
    /// - Parameter onStart: receives the mount as soon as the process exists, so the caller can register
    ///   its clean-up before the wait (a mount that appears late is still removed).
    static func start(mountpoint: String, cacheDir: String, options: Options, logPath: String,
                      readyTimeout: TimeInterval = 20, onStart: (DofsMount) -> Void) throws -> DofsMount {
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
        let logDir = (logPath as NSString).deletingLastPathComponent
        let child = try ChildProcess(DofsCLI.binaryPath, arguments(mountpoint: mountpoint, cacheDir: cacheDir, options: options),
                                     stdoutPath: logPath + ".stdout", stderrPath: logPath)
        let mount = DofsMount(mountpoint: mountpoint, cacheDir: cacheDir, logPath: logPath, process: child, toolLogDirectory: logDir)
        onStart(mount)
        let ready = waitUntil(timeout: readyTimeout, interval: options.readyPollInterval) { MountTable.isMounted(mountpoint) || !child.isRunning }
        if let ended = child.poll() {
            throw ChildProcess.Failure(description: "dofs mount exited before mounting (\(ended)); stderr:\n\(mount.logTail())")
        }
        guard ready else {
            throw ChildProcess.Failure(description: "\(mountpoint) not in /proc/mounts after \(readyTimeout) s; stderr:\n\(mount.logTail())")
        }
        return mount
    }

    var isMounted: Bool { MountTable.isMounted(mountpoint) }

    /// dofs's stderr so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The last `lines` lines of dofs's stderr.
    func logTail(_ lines: Int = 40) -> String {
        log.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Clean unmount: `fusermount3 -u`, then the foreground dofs must exit. Returns how it exited;
    /// throws if the unmount is refused or the process does not exit within `timeout` seconds.
    @discardableResult
    func unmount(timeout: TimeInterval = 20) throws -> ChildProcess.Termination {
        let outcome = try ChildProcess.run("fusermount3", ["-u", mountpoint], logDirectory: toolLogDirectory, timeout: timeout)
        guard outcome.succeeded else {
            throw ChildProcess.Failure(description: "fusermount3 -u \(mountpoint): \(outcome.termination) \(outcome.stderr)")
        }
        guard let ended = process.wait(timeout: timeout) else {
            throw ChildProcess.Failure(description: "dofs did not exit within \(timeout) s after fusermount3 -u; stderr:\n\(logTail())")
        }
        return ended
    }

    /// Crash: SIGKILL to dofs's PID, reap it, then detach the dead mount ("Transport endpoint is not
    /// connected") with `fusermount3 -u`, falling back to a lazy `umount -l`.
    func kill9() {
        process.send(SIGKILL)
        process.wait(timeout: 10)
        detachDeadMount()
    }

    /// Crash without clean-up: the mount stays behind, dead ("Transport endpoint is not connected"),
    /// until `cleanUp`.
    func kill9LeavingADeadMount() {
        process.send(SIGKILL)
        process.wait(timeout: 10)
    }

    /// Leaves no process and no mount behind, whatever happened. Safe to call more than once.
    func cleanUp() {
        if process.isRunning && isMounted {
            // A blocked reader makes `fusermount3 -u` fail with EBUSY; then crash it instead.
            if (try? unmount(timeout: 10)) != nil { return }
        }
        if process.isRunning { process.send(SIGKILL); process.wait(timeout: 10) }
        process.stop(grace: 1)
        detachDeadMount()
    }

    private func detachDeadMount() {
        guard isMounted else { return }
        _ = try? ChildProcess.run("fusermount3", ["-u", "-z", mountpoint], logDirectory: toolLogDirectory, timeout: 10)
        if isMounted {
            _ = try? ChildProcess.run("umount", ["-l", mountpoint], logDirectory: toolLogDirectory, timeout: 10)
        }
    }
}
