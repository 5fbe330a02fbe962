import Foundation
import Logging
import NIOCore
import NIOExtras
import NIOPosix

/// Serves a node's control socket: a Unix socket of mode 0600, one task per connection, one JSON
/// request per line, answered in order (a prefetch with progress lines before its final answer).
///
/// Guarantees: at most one node serves a socket path (a live one makes `start` fail; a stale file left
/// by a killed node is replaced); a line longer than `maxRequestBytes` closes its connection; the
/// socket file is removed by `stop`.
public final class ControlSocketServer: Sendable {
    /// Requests are a few hundred bytes; a catalog travels as a path, never inline.
    static let maxRequestBytes = 64 << 10
    public let path: String
    private let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let task: Task<Void, Never>

    private init(path: String, channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, task: Task<Void, Never>) {
        self.path = path
        self.channel = channel
        self.task = task
    }

    /// Binds `path` and serves `node` there until `stop`.
    public static func start(path: String, node: Node, logger: Logger) async throws(NodeError) -> ControlSocketServer {
        if let other = try? ControlSocketClient(path: path).send(.hello).node {
            throw .mount("a dofs node (process \(other.pid), cache \(other.cacheDirectory)) already serves \(path)")
        }
        let folder = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder.isEmpty ? "." : folder, withIntermediateDirectories: true)
        } catch {
            throw .mount("cannot create \(folder): \(error.localizedDescription)")
        }
        unlink(path)  // a stale socket of a node that died: nothing answers on it (checked above)
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            // Made 0600 before anyone can connect: the umask applies to bind's file.
            let previous = umask(0o177)
            defer { umask(previous) }
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw .mount("cannot listen on \(path): \(error)")
        }
        let task = Task<Void, Never> {
            try? await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        group.addTask { await serve(connection, node: node, logger: logger) }
                    }
                }
            }
        }
        logger.notice("control socket \(path)")
        return ControlSocketServer(path: path, channel: server, task: task)
    }

    private static func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, node: Node, logger: Logger) async {
        try? await connection.executeThenClose { lines, out in
            for try await line in lines {
                guard line.readableBytes <= maxRequestBytes else { return }
                let send = { @Sendable (answer: ControlAnswer) async throws in
                    var bytes = (try? JSONEncoder().encode(answer)) ?? Data(#"{"error":"cannot encode the answer"}"#.utf8)
                    bytes.append(UInt8(ascii: "\n"))
                    try await out.write(ByteBuffer(bytes: bytes))
                }
                let answer: ControlAnswer
                do {
                    let request = try JSONDecoder().decode(ControlRequest.self, from: Data(line.readableBytesView))
                    answer = await handle(request, node: node) { progress in
                        try await send(ControlAnswer(final: false, progress: progress))
                    }
                } catch {
                    answer = ControlAnswer(error: "malformed request: \(error)")
                }
                try await send(answer)
            }
        }
    }

    /// Carries out one request; `progress` sends a progress line ahead of the final answer.
    private static func handle(_ request: ControlRequest, node: Node,
                               progress: @escaping @Sendable (PrefetchProgress) async throws -> Void) async -> ControlAnswer {
        do throws(NodeError) {
            switch request {
            case .hello: break
            case .mount(let mount): try await node.attach(mount)
            case .unmount(let mountpoint, let lazy): try await node.detach(mountpoint, lazy: lazy)
            case .status: return ControlAnswer(status: await node.settledStatus())
            case .prefetch(let path, let background):
                return ControlAnswer(prefetch: try await node.prefetch(path: path, background: background, progress: progress))
            case .cacheList: return ControlAnswer(cache: await node.cacheList())
            case .cacheEvict(let contentId): return ControlAnswer(eviction: try await node.evict(contentId: contentId))
            }
            return ControlAnswer(node: node.summary)
        } catch {
            return ControlAnswer(error: error.description, node: node.summary)
        }
    }

    /// Stops accepting, lets the requests in progress answer (for up to `drainSeconds`; a `dofs
    /// unmount` of the last mount is answered although the node then stops), and removes the socket file.
    public func stop(drainSeconds: Double = 2) async {
        unlink(path)
        try? await channel.channel.close()
        let task = self.task
        let deadline = Task {
            try? await Task.sleep(for: .seconds(drainSeconds))
            task.cancel()
        }
        await task.value
        deadline.cancel()
    }
}

extension Node {
    /// Who this node is, for the control socket.
    public var summary: NodeSummary {
        NodeSummary(pid: getpid(), cacheDirectory: configuration.cacheDirectory, mountpoints: mountpoints,
                    uptimeSeconds: uptimeSeconds)
    }
}
