import DOCore
import DOEngine
import Foundation
import Synchronization

/// The mount's tree: the catalog's files and folders at the root, plus `/by-url/` and `/by-id/`, whose
/// entries are created on lookup. Inode numbers are never reused within a mount. Nodes are kept for the
/// mount's lifetime, except looked-up entries that failed to open: those are forgotten at once (the
/// failure itself is remembered, for a short time, by `NegativeLookups`), so a stream of bad names
/// cannot grow the tree. Listings are built once per change and then served by index, so listing a
/// folder of n entries costs O(n) in all, not O(n) per `readdir` call.
/// A file of content: a catalog entry or a URL opened under `/by-url/`.
final class ContentNode: Sendable {
    enum Origin: Sendable {
        case catalog(Catalog.Entry)
        case url(String)
        case contentId(ContentId)
    }

    let ino: UInt64
    let origin: Origin
    /// The folder it is listed in.
    let parent: UInt64
    /// Set once the content is opened (its size is known only then).
    let session = Mutex<ContentSession?>(nil)

    init(ino: UInt64, origin: Origin, parent: UInt64 = Namespace.rootIno) {
        self.ino = ino
        self.origin = origin
        self.parent = parent
    }

    /// Its name in its folder.
    var name: String? {
        if case .catalog(let entry) = origin { return entry.path.last }
        return nil
    }
}

enum Node: Sendable {
    case directory(children: [String: UInt64])
    /// `/by-url/` and `/by-id/`: their entries appear when looked up.
    case lookupDirectory(LookupKind)
    case content(ContentNode)
}

enum LookupKind: Sendable {
    case url, contentId
}

final class Namespace: Sendable {
    static let rootIno: UInt64 = 1
    static let byURLName = "by-url"
    static let byIdName = "by-id"

    private struct State {
        var nodes: [UInt64: Node] = [:]
        /// Looked-up entries of `/by-url/` and `/by-id/`, by their decoded key.
        var lookedUp: [LookupKind: [String: UInt64]] = [:]
        var nextIno: UInt64 = 2
        /// Sorted listings, built on first use and dropped when a looked-up folder changes.
        var listings: [UInt64: [Listed]] = [:]
        /// Inode of each lookup folder.
        var lookupFolders: [LookupKind: UInt64] = [:]
        /// Where each catalog folder is listed: its parent and its name there (the root has none).
        var folderPlaces: [UInt64: (parent: UInt64, name: String)] = [:]
    }

    /// One entry of a listing.
    typealias Listed = (name: String, ino: UInt64, isDirectory: Bool)

    private let state: Mutex<State>

    init(catalog: Catalog) {
        var s = State()
        var dirs: [[String]: [String: UInt64]] = [[]: [:]]
        var dirInodes: [[String]: UInt64] = [[]: Self.rootIno]
        func allocate() -> UInt64 { defer { s.nextIno += 1 }; return s.nextIno }

        for (name, kind) in [(Self.byURLName, LookupKind.url), (Self.byIdName, LookupKind.contentId)] {
            let ino = allocate()
            s.nodes[ino] = .lookupDirectory(kind)
            s.lookupFolders[kind] = ino
            dirs[[], default: [:]][name] = ino
        }
        for entry in catalog.entries {
            // Make each parent folder, then the file.
            for depth in 1..<entry.path.count {
                let dir = Array(entry.path.prefix(depth))
                if dirInodes[dir] == nil {
                    let ino = allocate()
                    dirInodes[dir] = ino
                    dirs[Array(dir.dropLast()), default: [:]][dir.last!] = ino
                }
            }
            let ino = allocate()
            let parent = entry.path.count > 1 ? dirInodes[Array(entry.path.dropLast())]! : Self.rootIno
            s.nodes[ino] = .content(ContentNode(ino: ino, origin: .catalog(entry), parent: parent))
            dirs[Array(entry.path.dropLast()), default: [:]][entry.path.last!] = ino
        }
        for (path, ino) in dirInodes {
            s.nodes[ino] = .directory(children: dirs[path] ?? [:])
            if let name = path.last { s.folderPlaces[ino] = (dirInodes[Array(path.dropLast())]!, name) }
        }
        state = Mutex(s)
    }

    func node(_ ino: UInt64) -> Node? { state.withLock { $0.nodes[ino] } }

    func child(of parent: UInt64, named name: String) -> UInt64? {
        state.withLock { s in
            guard case .directory(let children)? = s.nodes[parent] else { return nil }
            return children[name]
        }
    }

    /// The node for a key under `/by-url/` or `/by-id/`, created on first use.
    func lookedUpNode(_ kind: LookupKind, key: String, origin: ContentNode.Origin) -> ContentNode {
        state.withLock { s in
            if let ino = s.lookedUp[kind]?[key], case .content(let node)? = s.nodes[ino] { return node }
            let ino = s.nextIno
            s.nextIno += 1
            let node = ContentNode(ino: ino, origin: origin)
            s.nodes[ino] = .content(node)
            s.lookedUp[kind, default: [:]][key] = ino
            if let folder = s.lookupFolders[kind] { s.listings.removeValue(forKey: folder) }
            return node
        }
    }

    /// Drops a looked-up entry whose content could not be opened; its inode is never reused.
    func forget(_ kind: LookupKind, key: String, node: ContentNode) {
        state.withLock { s in
            guard s.lookedUp[kind]?[key] == node.ino else { return }
            s.lookedUp[kind]?.removeValue(forKey: key)
            s.nodes.removeValue(forKey: node.ino)
            if let folder = s.lookupFolders[kind] { s.listings.removeValue(forKey: folder) }
        }
    }

    /// Directory listing in a stable order: (name, inode, is directory). Built once per change of the
    /// folder; the array is shared (copy on write), so asking again is O(1).
    func listing(of ino: UInt64) -> [Listed]? {
        state.withLock { s in
            if let cached = s.listings[ino] { return cached }
            let built = Self.build(ino, in: s)
            if let built { s.listings[ino] = built }
            return built
        }
    }

    /// The `count` entries listed after `name` in folder `folder` (files and folders), in listing order.
    func entries(after name: String, in folder: UInt64, count: Int) -> ArraySlice<Listed> {
        guard let listed = listing(of: folder) else { return [] }
        // The listing is sorted by name: binary search, so a folder of n files costs O(log n) per open.
        var lo = 0, hi = listed.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if listed[mid].name <= name { lo = mid + 1 } else { hi = mid }
        }
        return listed[lo...].prefix(count)
    }

    /// The folder whose files come next after the whole of `folder` in a walk of the catalog's tree in
    /// listing order, depth first (`cp -r`, `tar`, `find | sort`), with its first files (up to `count`,
    /// up to its first subfolder); `nil` at the end of the tree, or when none is found within
    /// `maxSteps` folders looked at (a walk that long is no prediction worth a fetch).
    func nextFilesInTreeOrder(after folder: UInt64, count: Int, maxSteps: Int = 16) -> (folder: UInt64, files: ArraySlice<Listed>)? {
        var current = folder
        var steps = 0
        // Up from `current` to the next entry listed after it; then down through first subfolders.
        while steps < maxSteps, let place = state.withLock({ $0.folderPlaces[current] }) {
            var candidates = entries(after: place.name, in: place.parent, count: Int.max)
            while steps < maxSteps, let first = candidates.first {
                steps += 1
                guard first.isDirectory else {
                    return (place.parent, candidates.prefix { !$0.isDirectory }.prefix(count))
                }
                guard let inside = listing(of: first.ino), let head = inside.first else {
                    candidates = candidates.dropFirst()  // no entry inside (not in a catalog's tree): the next
                    continue
                }
                if !head.isDirectory { return (first.ino, inside.prefix { !$0.isDirectory }.prefix(count)) }
                candidates = inside[...]
            }
            current = place.parent
        }
        return nil
    }

    private static func build(_ ino: UInt64, in s: State) -> [Listed]? {
        switch s.nodes[ino] {
        case .directory(let children)?:
            return children.sorted { $0.key < $1.key }.map { name, child in
                let isDir: Bool
                switch s.nodes[child] {
                case .content?: isDir = false
                default: isDir = true
                }
                return (name, child, isDir)
            }
        case .lookupDirectory(let kind)?:
            return (s.lookedUp[kind] ?? [:]).sorted { $0.key < $1.key }.map { key, child in
                (kind == .url ? URLName.encode(key) : key, child, false)
            }
        default:
            return nil
        }
    }
}

/// File names under `/by-url/`: the URL percent-encoded so that it is one path component.
enum URLName {
    private static let unreserved: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._~")
        return set
    }()

    static func encode(_ url: String) -> String {
        url.addingPercentEncoding(withAllowedCharacters: unreserved) ?? url
    }

    /// Decodes a name; `nil` if its escapes are invalid.
    static func decode(_ name: String) -> String? { name.removingPercentEncoding }
}
