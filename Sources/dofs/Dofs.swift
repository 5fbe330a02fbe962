import ArgumentParser
import DOHTTP

@main
struct Dofs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dofs",
        abstract: "A peer-assisted, verified, lazy content filesystem (Delivery Optimization for Linux).",
        discussion: """
        Content named by a catalog or by URL appears as read-only files. Reads fetch 1 MiB pieces on \
        demand, check each against its SHA-256 from the pieces hash file, and keep it in a local cache.
        """,
        version: DofsVersion.current,
        subcommands: [KeygenCommand.self, PublishCommand.self, NodeCommand.self, MountCommand.self, UnmountCommand.self,
                      StatusCommand.self, PrefetchCommand.self, CacheCommand.self, ConfigCommand.self, ControlPlaneCommand.self,
                      CacheServerCommand.self, VerifyCommand.self, GetCommand.self]
    )
}

/// An error already explained to the user: print the message, exit non-zero, no usage text.
struct UserFacingError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
