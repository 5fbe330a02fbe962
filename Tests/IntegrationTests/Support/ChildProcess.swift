import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawnp`, in a process group of its own, with standard input
/// from `/dev/null` and standard output and error written to files.
///
/// Guarantees: the process is only ever signalled by its own PID (or by its own process group, whose ID
/// is that PID, so helpers it started go too), it is reaped with `waitpid` on that PID only, and it is
/// never signalled after it was reaped (so a recycled PID is never hit). Every wait takes a timeout.
///
/// Long-lived children are started through `setpriv --pdeathsig TERM` (util-linux; it execs the program,
/// so the PID is the program's): should the test runner itself crash, its servers and mounts get SIGTERM
/// instead of living on. The signal follows the *thread* that spawned them, and XCTest runs tests on the
/// main thread.
final class ChildProcess: @unchecked Sendable {
    /// How a child ended.
    enum Termination: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var description: String {
            switch self {
            case .exited(let code): return "exit status \(code)"
            case .signaled(let sig): return "killed by signal \(sig)"
            }
        }
    }

    /// Thrown when a child cannot be started or a bounded wait runs out.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let pid: pid_t
    let commandLine: String
    let stdoutPath: String
    let stderrPath: String

    private let lock = NSLock()
    private var termination: Termination?

    /// Starts `executable` (looked up in PATH when it has no slash) with `arguments`.
    /// - Parameter dieWithParent: deliver SIGTERM to the child if the spawning thread ends (see above).
    init(_ executable: String, _ arguments: [String], stdoutPath: String, stderrPath: String,
         dieWithParent: Bool = true) throws {
        self.commandLine = ([executable] + arguments).joined(separator: " ")
        let wrapper = "/usr/bin/setpriv"
        let argvStrings = dieWithParent && FileManager.default.isExecutableFile(atPath: wrapper)
            ? [wrapper, "--pdeathsig", "TERM", "--", executable] + arguments
            : [executable] + arguments
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        ChildProcess.closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group; default dispositions and an empty mask for every signal, whatever
        // the test runner ignores or blocks (a child must die from SIGTERM and get SIGPIPE).
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)

        let argv: [UnsafeMutablePointer<CChar>?] = argvStrings.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, argvStrings[0], &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw Failure(description: "cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        pid = child
    }

    /// The child's termination if it has ended (reaping it), `nil` while it runs.
    func poll() -> Termination? {
        lock.lock()
        defer { lock.unlock() }
        if let termination { return termination }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        guard rc == pid else { return nil }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        termination = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
        return termination
    }

    var isRunning: Bool { poll() == nil }

    /// Waits at most `timeout` seconds for the child to end; `nil` if it is still running.
    @discardableResult
    func wait(timeout: TimeInterval) -> Termination? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let t = poll() { return t }
            if Date() >= deadline { return nil }
            usleep(10_000)
        }
    }

    /// Sends `signal` to the child's PID, unless it was already reaped.
    func send(_ signal: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if termination == nil { kill(pid, signal) }
    }

    /// Sends `signal` to the child's process group (its ID is the child's PID), unless the child was reaped.
    func sendToGroup(_ signal: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if termination == nil { kill(-pid, signal) }
    }

    /// SIGTERM, up to `grace` seconds to exit, then SIGKILL to its process group and up to 5 s more.
    @discardableResult
    func stop(grace: TimeInterval = 5) -> Termination? {
        if let t = poll() { return t }
        send(SIGTERM)
        if let t = wait(timeout: grace) { return t }
        sendToGroup(SIGKILL)
        return wait(timeout: 5)
    }

    var standardOutput: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var standardError: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// What a finished short command left behind.
    struct Outcome {
        let termination: Termination
        let stdout: String
        let stderr: String
        var succeeded: Bool { termination == .exited(0) }
    }

    /// Runs a command to completion in `directory` (files `<tag>.out` / `<tag>.err` there); kills it and
    /// throws if it takes longer than `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], logDirectory: String,
                    timeout: TimeInterval = 30) throws -> Outcome {
        let tag = "\(URL(fileURLWithPath: executable).lastPathComponent)-\(UUID().uuidString.prefix(8))"
        let out = "\(logDirectory)/\(tag).out"
        let err = "\(logDirectory)/\(tag).err"
        let child = try ChildProcess(executable, arguments, stdoutPath: out, stderrPath: err, dieWithParent: false)
        guard let t = child.wait(timeout: timeout) else {
            child.stop(grace: 1)
            throw Failure(description: "`\(child.commandLine)` did not finish within \(timeout) s; stderr: \(child.standardError)")
        }
        return Outcome(termination: t, stdout: child.standardOutput, stderr: child.standardError)
    }

    /// Closes every descriptor above 2 in the child (glibc >= 2.34), so no test file or socket leaks
    /// into a daemon; looked up at run time because Swift's Glibc module does not export it.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
    }
}
