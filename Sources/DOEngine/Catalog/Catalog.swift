import DOCore
import Foundation

/// The user's list of named contents: each entry becomes a file in the mount.
///
/// JSON: an array of `{"name": "dir/file.bin", "url": "http://…", "integrity": {"PiecesHashFileUrl": "…",
/// "HashOfHashes": "…"}}`. `integrity` takes the keys of DO's IntegrityCheckInfo; without it the entry is
/// served in simple mode. `recomputeHashOfHashes` (default true) also requires the pieces hash file to
/// hash to its HashOfHashes with dofs's algorithm; set it to false for content published by DO itself,
/// whose algorithm is not public (do-protocol.md 3.3), where the string comparison is the only check.
public struct Catalog: Sendable {
    public struct Entry: Sendable, Equatable {
        /// Path components below the mount root; never empty, never `.`/`..`.
        public var path: [String]
        public var url: String
        public var integrity: ContentIntegrity?
    }

    public enum Failure: Error, CustomStringConvertible {
        case unreadable(path: String, detail: String)
        case malformed(String)
        case invalidEntry(index: Int, detail: String)

        public var description: String {
            switch self {
            case .unreadable(let p, let d): return "cannot read catalog \(p): \(d)"
            case .malformed(let d): return "catalog is not a JSON array of entries: \(d)"
            case .invalidEntry(let i, let d): return "catalog entry \(i): \(d)"
            }
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry] = []) { self.entries = entries }

    public static func load(path: String) throws(Failure) -> Catalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, detail: String(cString: strerror(errno)))
        }
        return try parse([UInt8](data))
    }

    public static func parse(_ json: [UInt8]) throws(Failure) -> Catalog {
        let wire: [WireEntry]
        do {
            wire = try JSONDecoder().decode([WireEntry].self, from: Data(json))
        } catch {
            throw .malformed("\(error)".prefix(300).description)
        }
        var entries: [Entry] = []
        var seen = Set<[String]>()
        for (i, w) in wire.enumerated() {
            guard !w.name.hasPrefix("/") else {
                throw .invalidEntry(index: i, detail: "name '\(w.name)' is absolute; names are relative to the mount's root")
            }
            let path = w.name.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            guard !path.isEmpty, path.allSatisfy(Self.isValidComponent) else {
                throw .invalidEntry(index: i, detail: "name '\(w.name)' is not a relative path of valid file names")
            }
            guard path.first != "by-url", path.first != "by-id" else {
                throw .invalidEntry(index: i, detail: "name '\(w.name)' collides with the built-in folder \(path[0])")
            }
            guard seen.insert(path).inserted else { throw .invalidEntry(index: i, detail: "duplicate name '\(w.name)'") }
            guard HTTPURL.isValid(w.url) else { throw .invalidEntry(index: i, detail: "url '\(w.url)' is not an http(s) URL") }
            var integrity: ContentIntegrity?
            if let info = w.integrity {
                guard HTTPURL.isValid(info.PiecesHashFileUrl) else {
                    throw .invalidEntry(index: i, detail: "PiecesHashFileUrl '\(info.PiecesHashFileUrl)' is not an http(s) URL")
                }
                guard let hoh = SHA256Digest(base64: info.HashOfHashes) else {
                    throw .invalidEntry(index: i, detail: "HashOfHashes '\(info.HashOfHashes)' is not base64 of 32 bytes")
                }
                integrity = ContentIntegrity(hashOfHashes: hoh, piecesHashFileUrls: [info.PiecesHashFileUrl],
                                             recomputeHashOfHashes: w.recomputeHashOfHashes ?? true)
            }
            entries.append(Entry(path: path, url: w.url, integrity: integrity))
        }
        // A file cannot also be a folder.
        for e in entries where e.path.count > 1 {
            for depth in 1..<e.path.count where seen.contains(Array(e.path.prefix(depth))) {
                throw .malformed("'\(e.path.prefix(depth).joined(separator: "/"))' is both a file and a folder")
            }
        }
        return Catalog(entries: entries)
    }

    static func isValidComponent(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && s.utf8.count <= 255 && !s.utf8.contains(0)
    }

    private struct WireEntry: Decodable {
        struct IntegrityCheckInfo: Decodable {
            var PiecesHashFileUrl: String
            var HashOfHashes: String
        }
        var name: String
        var url: String
        var integrity: IntegrityCheckInfo?
        var recomputeHashOfHashes: Bool?
    }
}
