import ArgumentParser
import DOEngine
import DONode
import Foundation
import Logging

/// `dofs node`: the per-host service in the foreground (systemd `Type=exec`), until SIGINT or SIGTERM.
struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run the dofs node: one cache, one peer port, one control plane client, any number of mounts.",
        discussion: """
        `dofs mount MOUNTPOINT` attaches mounts to it over --socket, and `dofs unmount` detaches them. \
        It logs to stderr (or --log-file) and stops cleanly on SIGINT or SIGTERM, unmounting everything.
        """
    )

    @OptionGroup var node: NodeOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        // Before any thread starts: piece buffers reused warm, in one heap (see `PieceMemory`).
        PieceMemory.configureAllocator()
        _ = try logging.bootstrap()
        let logger = Logger(label: "dofs")
        let (configuration, socket) = (node.configuration, node.socket)
        try SyncBridge.run {
            do {
                try await NodeService.run(configuration, options: .init(socketPath: socket, firstMount: nil, exitWhenIdle: false),
                                          logger: logger, onReady: {}, stopRequested: { await ShutdownSignal.wait() })
            } catch {
                throw UserFacingError("dofs node: \(error)")
            }
        }
    }
}

/// `dofs unmount`: detaches a mount from its node; with no node answering, it says to use fusermount3.
struct UnmountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unmount",
        abstract: "Unmount a dofs mount (the node keeps running for its other mounts).")

    @Argument(help: "The mount point.")
    var mountpoint: String

    @OptionGroup var node: NodeClientOptions

    @Flag(name: .customLong("lazy"), help: "Detach now even if files are open (they stay readable until closed).")
    var lazy = false

    func run() throws {
        let path = MountRequest.canonicalPath(mountpoint)
        do {
            let answer = try ControlSocketClient(path: node.socket).send(.unmount(mountpoint: path, lazy: lazy))
            if let error = answer.error { throw UserFacingError("dofs unmount: \(error)") }
        } catch let error as ControlSocketError {
            throw UserFacingError("dofs unmount: \(error); for a mount of no node, use `fusermount3 -u \(path)`")
        }
    }
}
