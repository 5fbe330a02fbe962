import Foundation

/// Background mode: `dofs mount` without -f starts itself again in the foreground with
/// `--notify-ready`, waits until that child reports the mount ready, and returns.
///
/// Re-executing instead of fork(): a Swift process is multi-threaded from the start, and fork() in a
/// multi-threaded process leaves locks held by threads that no longer exist.
enum Daemon {
    static let readyLine = "READY"

    static func start(arguments: [String], logFile: String, mountpoint: String) throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = arguments.filter { $0 != "--notify-ready" } + ["-f", "--notify-ready", "--log-file", logFile]
        let out = Pipe(), err = Pipe()
        child.standardOutput = out
        child.standardError = err
        child.standardInput = FileHandle.nullDevice
        do {
            try child.run()
        } catch {
            throw UserFacingError("dofs mount: cannot start the daemon: \(error.localizedDescription)")
        }
        // The child's stdout carries one line, READY, once the mount answers; EOF before it means it failed.
        let line = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if line.contains(readyLine) { return }
        child.waitUntilExit()
        let detail = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        FileHandle.standardError.write(Data(detail.utf8))
        throw UserFacingError("dofs mount: the daemon exited (status \(child.terminationStatus)) before \(mountpoint) was mounted; see \(logFile)")
    }

    /// Called in the child once the mount answers: tell the parent, then let go of its pipes.
    static func reportReady(sink: LogSink) {
        let devNull = open("/dev/null", O_RDWR)
        sink.remove(STDERR_FILENO)
        _ = "\(readyLine)\n".withCString { write(STDOUT_FILENO, $0, strlen($0)) }
        dup2(devNull, STDOUT_FILENO)
        dup2(devNull, STDERR_FILENO)
        close(devNull)
    }
}
