import ArgumentParser
import DOCore
import DOEngine
import DONode
import Foundation
import Logging

/// `dofs get`: a headless peer. It builds the same node a mount runs on (control plane, peer server,
/// cache hosts, CDN, verification; `Node.start`), fetches one content whole and writes it to a file
/// atomically, then optionally keeps seeding. What `wget` is to a mount.
struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Download one content to a file through the swarm, cache hosts and CDN, verified.",
        discussion: """
        CONTENT is a content ID (as `dofs publish` prints it) or a URL the control plane knows. The content \
        is fetched piece by piece exactly as a mount reads it (peers first when the swarm has them, cache \
        hosts, the CDN), each piece checked against its SHA-256, and written to FILE through a temporary \
        file renamed into place: FILE is never left half-written. On a terminal a progress bar shows the \
        bytes, rate and sources. With --seed-for the peer server goes on sharing the pieces, and the \
        swarm membership is renewed, for that many seconds (or until SIGINT/SIGTERM). The cache folder \
        must not be in use by a node (one owner per cache). Exits 0 when FILE is written verified, 1 on \
        failure (FILE untouched), 2 when FILE was written but is unverified (simple mode: no trusted \
        metadata for a URL).
        """)

    @Argument(help: "A content ID, or an http(s) URL.")
    var content: String

    @Option(name: [.customShort("o"), .customLong("output")], help: "The file to write (replaced atomically).")
    var output: String

    @Option(name: .customLong("seed-for"), help: "Seconds to keep sharing the pieces with peers after the download.")
    var seedFor: Double = 0

    @Flag(name: .customLong("json"), help: "Print the outcome as one JSON line (no progress).")
    var json = false

    @OptionGroup var node: NodeOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard DownloadTarget(content) != nil else {
            throw ValidationError("'\(content)' is neither a content ID nor an http(s) URL")
        }
        guard seedFor >= 0, seedFor.isFinite else { throw ValidationError("--seed-for must not be negative") }
        guard !node.asksSimpleMode || HTTPURL.isValid(content) else {
            throw ValidationError("download mode 99 (simple) needs a URL: a content ID is looked up on a control plane")
        }
    }

    func run() throws {
        // Before any thread starts, as for a mount: a headless peer is a node too, and without it each
        // piece it served or received faulted in 256 freshly zeroed pages (see `PieceMemory`).
        PieceMemory.configureAllocator()
        _ = try logging.bootstrap()
        let logger = Logger(label: "dofs")
        let target = DownloadTarget(content)!
        let (configuration, outputPath, seconds, json) = (node.configuration, Self.absolute(output), seedFor, json)
        let display = GetProgress(PrefetchDisplay(name: (output as NSString).lastPathComponent,
                                                  live: !json && isatty(STDOUT_FILENO) == 1,
                                                  quiet: json || isatty(STDOUT_FILENO) != 1))
        let outcome = try SyncBridge.run { () async throws -> PrefetchOutcome in
            let running: Node
            do {
                running = try await Node.start(configuration, logger: logger)
            } catch {
                throw UserFacingError("dofs get: \(error)")
            }
            let result = await Self.raceSignal {
                try await running.download(target, to: outputPath) { display.show($0) }
            }
            display.finish()
            guard case .some(.success(let outcome)) = result else {
                await running.shutdown()
                switch result {
                case .some(.failure(let error)): throw UserFacingError("dofs get: \(error)")
                default: throw UserFacingError("dofs get: interrupted; \(outputPath) left as it was")
                }
            }
            PrefetchDisplay.line(json ? ((try? JSONOutput.text(outcome, pretty: false)) ?? "{}") : display.summary(outcome))
            if seconds > 0 {
                logger.notice("seeding \(outcome.contentId ?? target.description) for \(seconds) s")
                _ = await Self.raceSignal { try await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
            }
            await running.shutdown()
            return outcome
        }
        if outcome.mode != "verified" { throw ExitCode(2) }
    }

    /// Runs `work` until it ends or SIGINT/SIGTERM arrives (then it is cancelled); `nil` on a signal.
    private static func raceSignal<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async -> Result<T, any Error>? {
        await withTaskGroup(of: Result<T, any Error>?.self) { group in
            group.addTask {
                do {
                    return .success(try await work())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                _ = await ShutdownSignal.wait()
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// `dofs get`'s progress: the prefetch bar, redrawn at most 10 times a second (and at the end), from
/// whichever task finished a piece.
final class GetProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let display: PrefetchDisplay
    private var last: ContinuousClock.Instant?

    init(_ display: PrefetchDisplay) {
        self.display = display
    }

    func show(_ p: PrefetchProgress) {
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        guard last.map({ now - $0 >= .milliseconds(100) }) ?? true || p.piecesDone == p.piecesTotal else { return }
        last = now
        display.show(p)
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        display.finish()
    }

    func summary(_ outcome: PrefetchOutcome) -> String {
        lock.lock()
        defer { lock.unlock() }
        return display.summary(outcome)
    }
}
