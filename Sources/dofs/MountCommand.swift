import ArgumentParser
import DOEngine
import DONode
import Foundation
import Logging

/// `dofs mount`: attaches a mount to the node on --socket, starting that node first when none runs.
struct MountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount content as a read-only filesystem.",
        discussion: """
        Catalog entries appear at the root of the mount; content opens by ID as MOUNTPOINT/by-id/<id> and \
        by URL as MOUNTPOINT/by-url/<percent-encoded URL>. The mount is served by the dofs node on --socket: \
        when none runs, this command starts one with the node options given (cache, peers, control plane), \
        in the background (it logs to --log-file) or, with -f, in this process. Further mounts attach to \
        it and share its cache, peer port and control plane. A node started this way stops when its last \
        mount is gone. Unmount with `dofs unmount MOUNTPOINT` or `fusermount3 -u MOUNTPOINT`.
        """
    )

    @Argument(help: "An existing, empty folder.")
    var mountpoint: String

    @Option(help: "A JSON catalog of named contents.")
    var catalog: String?

    @Flag(name: [.customShort("f"), .customLong("foreground")], help: "Run the node in this process and log to stderr.")
    var foreground = false

    @Option(name: .customLong("kernel-readahead-kb"), help: "Kernel readahead of the mount in KiB (0: kernel default).")
    var kernelReadaheadKB = MountRequest(mountpoint: "").kernelReadaheadKB

    @Option(name: .customLong("max-threads"), help: "FUSE worker threads.")
    var maxThreads = MountRequest(mountpoint: "").maxThreads

    @Flag(name: .customLong("no-open"),
          help: "Answer no OPEN, so the kernel sends none: one round trip less per file read (trees of small files); dofs status then counts no readers and cache evict does not refuse files held open.")
    var noOpen = false

    @Flag(name: .customLong("no-passthrough"),
          help: "Serve every read in dofs: never let the kernel read a complete content from its whole copy in the cache (FUSE passthrough, libfuse >= 3.16).")
    var noPassthrough = false

    @Flag(name: .customLong("allow-other"), help: "Let other users read the mount.")
    var allowOther = false

    @Flag(name: .customLong("allow-non-empty"), help: "Mount on a folder that is not empty (its files are hidden meanwhile).")
    var allowNonEmpty = false

    @OptionGroup var node: NodeOptions
    @OptionGroup var logging: LoggingOptions

    @Flag(name: .customLong("notify-ready"), help: .hidden)
    var notifyReady = false

    func validate() throws {
        guard maxThreads > 0, kernelReadaheadKB >= 0 else {
            throw ValidationError("--max-threads must be positive and --kernel-readahead-kb not negative")
        }
    }

    private var request: MountRequest {
        var r = MountRequest(mountpoint: MountRequest.canonicalPath(mountpoint), catalogPath: catalog.map(MountRequest.canonicalPath))
        r.allowOther = allowOther
        r.allowNonEmpty = allowNonEmpty
        r.maxThreads = maxThreads
        r.kernelReadaheadKB = kernelReadaheadKB
        r.noOpen = noOpen
        r.noPassthrough = noPassthrough
        return r
    }

    func run() throws {
        // Refuse bad input before anything starts or detaches, so the user sees the reason.
        if let catalog {
            do {
                _ = try Catalog.load(path: catalog)
            } catch {
                throw UserFacingError("dofs mount: \(error)")
            }
        }
        if let running = try? ControlSocketClient(path: node.socket).send(.hello).node {
            return try attach(to: running)
        }
        do {
            try MountpointCheck.refuseUnusable(request.mountpoint, allowNonEmpty: allowNonEmpty)
            try FileManager.default.createDirectory(atPath: node.cacheDir, withIntermediateDirectories: true)
            _ = try CacheLock(folder: node.cacheDir)  // taken for real by the node; refused here first
        } catch {
            throw UserFacingError("dofs mount: \(error)")
        }
        if !foreground {
            return try Daemon.start(arguments: Array(CommandLine.arguments.dropFirst()),
                                    logFile: logging.logFile ?? node.cacheDir + "/dofs.log", mountpoint: mountpoint)
        }
        try serveNode()
    }

    /// A node already serves the socket: hand it the mount.
    private func attach(to running: NodeSummary) throws {
        if foreground {
            throw UserFacingError("dofs mount: a dofs node (process \(running.pid)) already serves \(node.socket); run without -f to attach to it")
        }
        if let asked = node.cacheDirOption, running.cacheDirectory != MountRequest.canonicalPath(asked) {
            throw UserFacingError("dofs mount: the node on \(node.socket) (process \(running.pid)) uses cache \(running.cacheDirectory), not \(node.cacheDir); "
                                  + "attach without --cache-dir, or start another node with --socket")
        }
        let answer: ControlAnswer
        do {
            answer = try ControlSocketClient(path: node.socket).send(.mount(request))
        } catch {
            throw UserFacingError("dofs mount: \(error)")
        }
        if let error = answer.error { throw UserFacingError("dofs mount: \(error)") }
    }

    /// This process becomes the node, with this mount; it ends when the mount (and any other) is gone.
    private func serveNode() throws {
        if notifyReady { setsid() }
        // Before any thread starts: piece buffers reused warm, in one heap (see `PieceMemory`).
        PieceMemory.configureAllocator()
        let sink = try logging.bootstrap()
        let logger = Logger(label: "dofs")
        let (configuration, request, notify) = (node.configuration, request, notifyReady)
        let options = NodeService.Options(socketPath: node.socket, firstMount: request, exitWhenIdle: true)
        try SyncBridge.run {
            do {
                try await NodeService.run(configuration, options: options, logger: logger,
                                          onReady: { if notify { Daemon.reportReady(sink: sink) } },
                                          stopRequested: { await ShutdownSignal.wait() })
            } catch {
                throw UserFacingError("dofs mount: \(error)")
            }
        }
    }
}
