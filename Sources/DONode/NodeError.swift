/// Why a node could not start, or could not do what it was asked; each message says what to change.
public enum NodeError: Error, Sendable, CustomStringConvertible {
    case cache(String)
    case controlPlane(String)
    case peerServer(String)
    /// `--metrics-listen` could not be bound.
    case metrics(String)
    case trust(String)
    case adminConfig(String)
    case mountpoint(String)
    case mount(String)
    case notMounted(String)
    case unmount(mountpoint: String, reason: String)
    case shuttingDown
    /// A path given to `dofs prefetch` lies on no mount of this node.
    case notOnAMount(String)
    /// A content could not be fetched whole (or not kept whole in the cache): the reason.
    case fetch(path: String, reason: String)
    /// `dofs cache evict` named a content the cache does not know.
    case unknownContent(String)
    /// A content is being read or prefetched: close it (or wait), then evict.
    case contentBusy(String)
    /// `dofs get` could not write its output file (which is then left as it was).
    case output(String)

    public var description: String {
        switch self {
        case .cache(let why): return why
        case .controlPlane(let why): return why
        case .peerServer(let why): return why
        case .metrics(let why): return why
        case .trust(let why): return "trusted publisher key: \(why)"
        case .adminConfig(let why): return why
        case .mountpoint(let why): return why
        case .mount(let why): return why
        case .notMounted(let mountpoint): return "\(mountpoint) is not a mount of this node"
        case .unmount(let mountpoint, let reason): return "cannot unmount \(mountpoint): \(reason)"
        case .shuttingDown: return "the node is shutting down"
        case .notOnAMount(let path): return "\(path) is not on a mount of this node (see `dofs status` for its mounts)"
        case .fetch(let path, let reason): return "\(path): \(reason)"
        case .unknownContent(let id): return "the cache knows no content \(id) (see `dofs cache ls`)"
        case .contentBusy(let why): return why
        case .output(let why): return why
        }
    }
}
