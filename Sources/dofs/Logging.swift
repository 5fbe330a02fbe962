import ArgumentParser
import Foundation
import Logging

/// Writes one line per log event to a set of file descriptors (stderr, a log file, or both):
/// `TIME LEVEL LABEL: MESSAGE key=value ...`, where the pairs are the logger's metadata merged with
/// the event's (the event's win), sorted by key, so a line about a content, a peer or a host carries
/// it (`content=DO-…`, `peer=…`, `host=…`) and `grep content=DO-x` finds every line about it.
///
/// The descriptors can change at run time: a daemon drops stderr once its parent has gone.
struct LineLogHandler: LogHandler {
    let label: String
    let sink: LogSink
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let time = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        let merged = metadata.merging(event.metadata ?? [:]) { _, event in event }
        sink.write("\(time) \(event.level) \(label): \(event.message)\(Self.pairs(merged))\n")
    }

    /// ` key=value` for each pair, sorted by key; a value with a space or a quote is quoted (an `=`
    /// is not: the first one ends the key, and base64 content IDs end in `=`).
    static func pairs(_ metadata: Logger.Metadata) -> String {
        metadata.keys.sorted().map { key in
            let value = "\(metadata[key]!)"
            let plain = !value.isEmpty && !value.contains(where: { $0 == " " || $0 == "\"" || $0.isNewline })
            return " \(key)=" + (plain ? value : "\"" + value.replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n") + "\"")
        }.joined()
    }
}

/// The descriptors log lines go to.
final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private var fds: [Int32]

    init(fds: [Int32]) { self.fds = fds }

    func write(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        var bytes = Array(line.utf8)
        for fd in fds { _ = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
    }

    func add(_ fd: Int32) {
        lock.lock()
        fds.append(fd)
        lock.unlock()
    }

    func remove(_ fd: Int32) {
        lock.lock()
        fds.removeAll { $0 == fd }
        lock.unlock()
    }

    /// Starts logging to `path` too (appending); throws if it cannot be opened.
    static func openFile(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw UserFacingError("cannot open log file \(path): \(String(cString: strerror(errno)))") }
        return fd
    }
}

/// The logging options every long-running command takes.
struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log-file"), help: "Also log to this file (dofs mount without -f: default CACHE_DIR/dofs.log).")
    var logFile: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    /// Sends every logger's lines to stderr and, if given, the log file; returns the sink so a daemon
    /// can drop stderr later.
    func bootstrap() throws -> LogSink {
        let sink = LogSink(fds: [STDERR_FILENO])
        if let logFile { sink.add(try LogSink.openFile(logFile)) }
        let level = logLevel
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, sink: sink, logLevel: level) }
        return sink
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
