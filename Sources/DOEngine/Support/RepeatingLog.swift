import Foundation
import Logging
import Synchronization

/// Keeps an error that repeats from flooding the log: the first occurrence of a kind is logged in
/// full, the next ones within `intervalSeconds` are only counted, and the next occurrence after that
/// is logged with the count ("… (37 more like this in the last 10 s)").
///
/// Why: a full disk failed every piece of every read, and logged one line per piece (650 lines for a
/// 128 MiB read) on that same full disk. A kind is a short key chosen by the caller (an error class and
/// its subject, such as a URL); at most `maxKinds` are tracked, so the throttle's memory is bounded too.
public final class RepeatingLog: Sendable {
    private struct Window {
        var started: ContinuousClock.Instant
        var suppressed: Int
    }

    public let intervalSeconds: Double
    /// Kinds tracked at once; beyond it, kinds whose window has ended are forgotten first.
    public let maxKinds: Int
    private let windows = Mutex<[String: Window]>([:])

    public init(intervalSeconds: Double = 10, maxKinds: Int = 512) {
        self.intervalSeconds = intervalSeconds
        self.maxKinds = maxKinds
    }

    /// Logs `message` at `level` unless a message of `kind` was logged less than `intervalSeconds` ago.
    /// `metadata` names the line's subject (a host, a peer) beside the logger's own.
    public func log(_ logger: Logger, _ level: Logger.Level, kind: String, _ message: @autoclosure () -> String,
                    metadata: @autoclosure () -> Logger.Metadata? = nil) {
        let now = ContinuousClock.now
        let interval = Duration.seconds(intervalSeconds)
        let suppressed: Int? = windows.withLock { w in
            if var window = w[kind], now - window.started < interval {
                window.suppressed += 1
                w[kind] = window
                return nil
            }
            let before = w[kind]?.suppressed ?? 0
            if w.count >= maxKinds {
                w = w.filter { now - $0.value.started < interval }
                if w.count >= maxKinds { w.removeAll() }
            }
            w[kind] = Window(started: now, suppressed: 0)
            return before
        }
        guard let suppressed else { return }
        let tail = suppressed > 0 ? " (\(suppressed) more like this in the last \(String(format: "%g", intervalSeconds)) s)" : ""
        logger.log(level: level, "\(message())\(tail)", metadata: metadata())
    }
}
