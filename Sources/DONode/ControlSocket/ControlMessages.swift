import Foundation

/// The control socket's protocol: one JSON object per line each way, a request then its answer.
/// Only root (the socket is mode 0600) talks to it: `dofs mount`, `dofs unmount`, and later the
/// status, prefetch and cache commands.
public enum ControlRequest: Codable, Sendable, Equatable {
    /// Is a node here, and what does it serve?
    case hello
    case mount(MountRequest)
    case unmount(mountpoint: String, lazy: Bool)
}

/// A node's answer to one request.
public struct ControlAnswer: Codable, Sendable, Equatable {
    /// `nil` when the request was carried out; else why not.
    public var error: String?
    public var node: NodeSummary?

    public init(error: String? = nil, node: NodeSummary? = nil) {
        self.error = error
        self.node = node
    }
}

/// Who answers on a socket.
public struct NodeSummary: Codable, Sendable, Equatable {
    public var pid: Int32
    public var cacheDirectory: String
    public var mountpoints: [String]
    public var uptimeSeconds: Double

    public init(pid: Int32, cacheDirectory: String, mountpoints: [String], uptimeSeconds: Double) {
        self.pid = pid
        self.cacheDirectory = cacheDirectory
        self.mountpoints = mountpoints
        self.uptimeSeconds = uptimeSeconds
    }
}
