import Foundation
import Logging

/// A node's whole life in one process: start it, serve its control socket, mount what was asked at
/// start, report readiness, then run until `stopRequested` returns (a signal) or, for a node that a
/// `dofs mount` started, until its last mount is gone; then shut down in order.
public enum NodeService {
    public struct Options: Sendable {
        public var socketPath: String
        /// Mounted before readiness is reported (`dofs mount` starting a node).
        public var firstMount: MountRequest?
        /// End when the last mount is gone (a node started by `dofs mount`, not by `dofs node`).
        public var exitWhenIdle: Bool

        public init(socketPath: String, firstMount: MountRequest?, exitWhenIdle: Bool) {
            self.socketPath = socketPath
            self.firstMount = firstMount
            self.exitWhenIdle = exitWhenIdle
        }
    }

    public static func run(_ configuration: NodeConfiguration, options: Options, logger: Logger,
                           onReady: @escaping @Sendable () -> Void,
                           stopRequested: @escaping @Sendable () async -> String) async throws(NodeError) {
        let node = try await Node.start(configuration, logger: logger)
        let server: ControlSocketServer
        do {
            server = try await ControlSocketServer.start(path: options.socketPath, node: node, logger: logger)
            if let first = options.firstMount { try await node.attach(first) }
        } catch {
            await node.shutdown()
            throw error
        }
        onReady()
        let reason = await withTaskGroup(of: String?.self) { group -> String in
            group.addTask { await stopRequested() }
            if options.exitWhenIdle {
                group.addTask {
                    for await event in node.finished {
                        if case .mountEnded(_, let remaining) = event, remaining == 0 { return "the last mount is gone" }
                    }
                    return nil
                }
            }
            var reason = "stopped"
            for await outcome in group {
                if let outcome {
                    reason = outcome
                    break
                }
            }
            group.cancelAll()
            return reason
        }
        logger.notice("\(reason): stopping the node")
        await server.stop()
        await node.shutdown()
    }
}
