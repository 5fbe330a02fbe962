import ArgumentParser
import DOEngine
import DOFS
import DOHTTP
import Foundation
import Logging

struct MountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount content as a read-only filesystem.",
        discussion: """
        Catalog entries appear at the root of the mount; any http(s) URL opens, unverified, as \
        MOUNTPOINT/by-url/<percent-encoded URL>. Without -f the command returns once the mount is ready and \
        the daemon logs to --log-file. Unmount with `fusermount3 -u MOUNTPOINT`.
        """
    )

    @Argument(help: "An existing, empty folder.")
    var mountpoint: String

    @Option(name: .customLong("cache-dir"), help: "Where verified pieces and metadata are kept across mounts.")
    var cacheDir: String

    @Option(help: "A JSON catalog of named contents.")
    var catalog: String?

    @Flag(name: [.customShort("f"), .customLong("foreground")], help: "Stay in the foreground and log to stderr.")
    var foreground = false

    @Option(name: .customLong("read-deadline"), help: "Seconds a read may wait for its pieces before it fails with EIO.")
    var readDeadline: Double = 60

    @Option(name: .customLong("readahead-pieces"), help: "Largest readahead window of a sequential reader, in pieces.")
    var readaheadPieces = 16

    @Option(name: .customLong("cache-max-size"), help: "Cap on the piece cache in bytes; least recently used pieces go first.")
    var cacheMaxSize: Int?

    @Option(name: .customLong("kernel-readahead-kb"), help: "Kernel readahead of the mount in KiB (0: kernel default).")
    var kernelReadaheadKB = 4096

    @Option(name: .customLong("max-threads"), help: "FUSE worker threads.")
    var maxThreads = 8

    @Flag(name: .customLong("allow-other"), help: "Let other users read the mount.")
    var allowOther = false

    @Option(name: .customLong("log-file"), help: "Log file (default without -f: CACHE_DIR/dofs.log).")
    var logFile: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Flag(name: .customLong("notify-ready"), help: .hidden)
    var notifyReady = false

    func validate() throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: mountpoint, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("mount point \(mountpoint) is not an existing folder")
        }
        guard readDeadline > 0 else { throw ValidationError("--read-deadline must be positive") }
        guard readaheadPieces >= 0, maxThreads > 0, kernelReadaheadKB >= 0 else {
            throw ValidationError("--readahead-pieces, --max-threads and --kernel-readahead-kb must not be negative")
        }
    }

    func run() throws {
        // Refuse bad input before anything detaches, so the user sees the reason.
        let catalog = try loadCatalog()
        do {
            try FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
        } catch {
            throw UserFacingError("dofs mount: cannot create cache folder \(cacheDir): \(error.localizedDescription)")
        }
        if !foreground {
            return try Daemon.start(arguments: Array(CommandLine.arguments.dropFirst()),
                                    logFile: logFile ?? cacheDir + "/dofs.log", mountpoint: mountpoint)
        }
        try serve(catalog: catalog)
    }

    private func loadCatalog() throws -> Catalog {
        guard let catalog else { return Catalog() }
        do {
            return try Catalog.load(path: catalog)
        } catch {
            throw UserFacingError("dofs mount: \(error)")
        }
    }

    private func serve(catalog: Catalog) throws {
        if notifyReady { setsid() }
        let sink = LogSink(fds: [STDERR_FILENO])
        if let logFile { sink.add(try LogSink.openFile(logFile)) }
        LogSetup.bootstrap(sink: sink, level: logLevel)
        let logger = Logger(label: "dofs")

        var config = EngineConfiguration()
        config.readDeadlineSeconds = readDeadline
        config.maxReadaheadPieces = readaheadPieces
        config.initialReadaheadPieces = min(config.initialReadaheadPieces, readaheadPieces)
        let engine: Engine
        do {
            engine = try Engine(cacheDir: cacheDir, maxCacheBytes: cacheMaxSize, config: config)
        } catch {
            throw UserFacingError("dofs mount: cannot open the cache in \(cacheDir): \(error)")
        }
        var options = FuseMountOptions(mountpoint: mountpoint)
        options.allowOther = allowOther
        options.maxThreads = maxThreads
        options.kernelReadaheadKB = kernelReadaheadKB
        logger.notice("dofs mount \(mountpoint): \(catalog.entries.count) catalog entr\(catalog.entries.count == 1 ? "y" : "ies"), cache \(cacheDir)")
        let notify = notifyReady
        do {
            try FuseMount.run(FuseFilesystem(engine: engine, catalog: catalog), options: options, logger: logger) {
                guard notify else { return }
                Daemon.reportReady(sink: sink)
            }
        } catch {
            throw UserFacingError("dofs mount: \(error)")
        }
        engine.store.flush()
        logger.notice("piece cache flushed; bye")
    }
}
