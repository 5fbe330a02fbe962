import DOEngine
import Foundation

/// The control socket's protocol: one JSON object per line each way. A request is answered by one
/// final answer, which a prefetch precedes with progress answers (`final: false`), so a client reads
/// lines until `isFinal`. Only root (the socket is mode 0600) talks to it: `dofs mount`, `unmount`,
/// `status`, `prefetch` and `cache`.
public enum ControlRequest: Codable, Sendable, Equatable {
    /// Is a node here, and what does it serve?
    case hello
    case mount(MountRequest)
    case unmount(mountpoint: String, lazy: Bool)
    /// The node, its cache and its mounts (`NodeStatus`).
    case status
    /// Fetch the whole content at `path` (a file on a mount) into the cache; with `background`, answer
    /// at once and go on fetching.
    case prefetch(path: String, background: Bool)
    /// The contents the cache knows.
    case cacheList
    /// Remove the pieces of one content, or (`nil`) of every content not in use.
    case cacheEvict(contentId: String?)
}

/// A node's answer to one request.
public struct ControlAnswer: Codable, Sendable, Equatable {
    /// `nil` when the request was carried out; else why not.
    public var error: String?
    public var node: NodeSummary?
    /// `false` on progress answers that more answers follow; absent (true) on the last.
    public var final: Bool?
    public var status: NodeStatus?
    public var progress: PrefetchProgress?
    public var prefetch: PrefetchOutcome?
    public var cache: [CachedContents.Listed]?
    public var eviction: EvictionReport?

    public init(error: String? = nil, node: NodeSummary? = nil, final: Bool? = nil, status: NodeStatus? = nil,
                progress: PrefetchProgress? = nil, prefetch: PrefetchOutcome? = nil, cache: [CachedContents.Listed]? = nil,
                eviction: EvictionReport? = nil) {
        self.error = error
        self.node = node
        self.final = final
        self.status = status
        self.progress = progress
        self.prefetch = prefetch
        self.cache = cache
        self.eviction = eviction
    }

    /// The last answer to its request.
    public var isFinal: Bool { final ?? true }
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
