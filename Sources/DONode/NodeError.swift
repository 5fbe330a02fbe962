/// Why a node could not start, or could not do what it was asked; each message says what to change.
public enum NodeError: Error, Sendable, CustomStringConvertible {
    case cache(String)
    case controlPlane(String)
    case peerServer(String)
    case trust(String)
    case adminConfig(String)
    case mountpoint(String)
    case mount(String)
    case notMounted(String)
    case unmount(mountpoint: String, reason: String)
    case shuttingDown

    public var description: String {
        switch self {
        case .cache(let why): return why
        case .controlPlane(let why): return why
        case .peerServer(let why): return why
        case .trust(let why): return "trusted publisher key: \(why)"
        case .adminConfig(let why): return why
        case .mountpoint(let why): return why
        case .mount(let why): return why
        case .notMounted(let mountpoint): return "\(mountpoint) is not a mount of this node"
        case .unmount(let mountpoint, let reason): return "cannot unmount \(mountpoint): \(reason)"
        case .shuttingDown: return "the node is shutting down"
        }
    }
}
