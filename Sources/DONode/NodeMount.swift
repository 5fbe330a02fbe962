import DOFS
import Foundation
import Logging
import Synchronization

/// One FUSE mount of a node: its session runs on a thread of its own until the mount goes away,
/// by `unmount` or from outside (`fusermount3 -u`); then `onEnded` tells the node.
final class NodeMount: Sendable {
    let request: MountRequest
    let filesystem: FuseFilesystem
    private let logger: Logger

    init(request: MountRequest, filesystem: FuseFilesystem, logger: Logger) {
        self.request = request
        self.filesystem = filesystem
        self.logger = logger
    }

    /// Mounts, and returns once the mount answers (`true`) or once it was unmounted before it answered
    /// (`false`; `onEnded` has run or is about to); throws when it cannot mount.
    @discardableResult
    func start(onEnded: @escaping @Sendable () -> Void) async throws(NodeError) -> Bool {
        var options = FuseMountOptions(mountpoint: request.mountpoint)
        options.allowOther = request.allowOther
        options.maxThreads = request.maxThreads
        options.kernelReadaheadKB = request.kernelReadaheadKB
        // The node owns SIGINT/SIGTERM for all its mounts: libfuse's handlers serve one session only.
        options.installSignalHandlers = false
        options.sourceName = request.catalogPath ?? "dofs"
        let (readiness, signal) = AsyncStream.makeStream(of: Result<Bool, NodeError>.self)
        let (filesystem, logger, settings) = (self.filesystem, self.logger, options)
        let thread = Thread {
            do {
                let answered = try FuseMount.run(filesystem, options: settings, logger: logger) { signal.yield(.success(true)) }
                // Unmounted before it answered (a mount and an unmount at once): it came and went.
                if !answered { signal.yield(.success(false)) }
            } catch {
                signal.yield(.failure(.mount("cannot mount on \(settings.mountpoint): \(error)")))
            }
            signal.finish()
            onEnded()
        }
        thread.name = "fuse \(request.mountpoint)"
        thread.start()
        var outcome: Result<Bool, NodeError> = .failure(.mount("the mount on \(options.mountpoint) ended before it answered"))
        for await first in readiness {
            outcome = first
            break
        }
        return try outcome.get()
    }

    /// Asks the kernel to unmount (`fusermount3 -u`, or `-uz` when `lazy`); the session thread then ends.
    func unmount(lazy: Bool) async throws(NodeError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/fusermount3")
        process.arguments = [lazy ? "-uz" : "-u", request.mountpoint]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw .unmount(mountpoint: request.mountpoint, reason: "cannot run fusermount3: \(error.localizedDescription)")
        }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .unmount(mountpoint: request.mountpoint, reason: text.isEmpty ? "fusermount3 failed" : text)
        }
    }
}
