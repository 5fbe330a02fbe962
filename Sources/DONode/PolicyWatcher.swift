import DOEngine
import Foundation
import Logging

/// Keeps a running node's policy current: the policy files are read again when one of them changes
/// (checked every `NodeConfiguration.policyPollSeconds`) or when the node gets SIGHUP, and the merged
/// result replaces the live policy. A file that no longer parses is refused with its reason in the
/// log, and the policy in force stays as it was.
///
/// It also applies `DOMaxCacheAge`: contents unused for longer are evicted, checked once a minute.
final class PolicyWatcher: Sendable {
    private let files: [String]
    private let flags: PolicyLayer
    private let policy: LivePolicy
    private let engine: Engine
    private let pollSeconds: Double
    private let logger: Logger
    /// How often unused contents are looked for: DO's cache age is counted in days, so a minute is fine.
    static let cacheAgeSweepSeconds = 60.0

    init(configuration: NodeConfiguration, engine: Engine, logger: Logger) {
        files = configuration.policyFiles
        flags = configuration.policyFlags
        policy = engine.policy
        self.engine = engine
        pollSeconds = max(0.1, configuration.policyPollSeconds)
        self.logger = logger
    }

    /// Runs until cancelled.
    func run() async {
        let (hangups, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "dofs.sighup"))
        source.setEventHandler { continuation.yield() }
        source.resume()
        defer { source.cancel() }
        let hangupTask = Task { [self] in
            for await _ in hangups { reload(because: "SIGHUP") }
        }
        defer { hangupTask.cancel() }
        var seen = signature()
        var lastSweep = ContinuousClock.now - .seconds(Self.cacheAgeSweepSeconds)
        while !Task.isCancelled {
            let now = signature()
            if now != seen {
                seen = now
                reload(because: "a policy file changed")
            }
            if ContinuousClock.now - lastSweep >= .seconds(Self.cacheAgeSweepSeconds) {
                lastSweep = ContinuousClock.now
                sweepOldContents()
            }
            try? await Task.sleep(for: .seconds(pollSeconds))
        }
        continuation.finish()
    }

    /// Reads the files again and puts the result in force (or keeps the old policy when one fails).
    func reload(because reason: String) {
        do {
            let fresh = try PolicyFiles.load(files, flags: flags)
            let changed = policy.replace(with: fresh)
            if changed.contains(.maxCacheAge) { sweepOldContents() }
            logger.notice("policy re-read (\(reason)): \(changed.isEmpty ? "nothing changed" : "now " + changed.map { "\($0.rawValue)=\(fresh[$0]?.description ?? "unset")" }.joined(separator: ", "))")
        } catch {
            logger.error("policy re-read (\(reason)) refused, the previous policy stays in force: \(error)")
        }
    }

    private func sweepOldContents() {
        guard let age = policy.current.maxCacheAgeSeconds else { return }
        let (evicted, bytes) = engine.contents.evictUnused(before: Date().addingTimeInterval(-Double(age)))
        if !evicted.isEmpty {
            logger.notice("DOMaxCacheAge \(age) s: evicted \(evicted.count) content(s) unused for longer (\(bytes) bytes): \(evicted.map(\.rawValue).joined(separator: ", "))")
        }
    }

    /// What identifies the files' current versions: modification time, size and inode of each.
    private func signature() -> [String] {
        files.map { path in
            var st = stat()
            guard stat(path, &st) == 0 else { return "\(path): missing" }
            return "\(path): \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_size) \(st.st_ino)"
        }
    }
}
