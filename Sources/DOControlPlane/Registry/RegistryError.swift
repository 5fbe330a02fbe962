/// Why the registry could not do what was asked.
public enum RegistryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The database file or its folder could not be opened or created.
    case cannotOpen(path: String, detail: String)
    /// The file was written by a newer dofs (its schema version is higher than this one knows).
    case unsupportedSchema(path: String, version: Int)
    /// The content is registered with different metadata (HashOfHashes, length or piece size).
    case conflict(contentId: String, detail: String)
    /// The URL is registered under another publisher's key: only that key may re-point it.
    case urlOwnedByAnotherPublisher(url: String, owner: String)
    /// A database operation failed (disk full, I/O error, locked for too long, ...).
    case storage(String)
    /// The registry was closed.
    case closed

    public var description: String {
        switch self {
        case .cannotOpen(let path, let detail): return "cannot open the registry \(path): \(detail)"
        case .unsupportedSchema(let path, let v): return "registry \(path) has schema version \(v), newer than this dofs understands"
        case .conflict(let id, let detail): return "content \(id) is already registered with different metadata: \(detail)"
        case .urlOwnedByAnotherPublisher(let url, let owner):
            return "URL \(url.prefix(300)) is registered by publisher key \(owner); only that key may re-point it"
        case .storage(let detail): return "registry storage failed: \(detail)"
        case .closed: return "the registry is closed"
        }
    }
}
