import DOCore
import Foundation

/// The user's list of named contents: each entry becomes a file in the mount.
///
/// JSON: an array of `{"name": "dir/file.bin", "url": "http://…", "integrity": {"PiecesHashFileUrl": "…",
/// "HashOfHashes": "…"}, "mtime": "2024-05-01T12:00:00Z"}`. `integrity` takes the keys of DO's
/// IntegrityCheckInfo; without it the entry is served in simple mode. `recomputeHashOfHashes` (default
/// true) also requires the pieces hash file to hash to its HashOfHashes with dofs's algorithm; set it to
/// false for content published by DO itself, whose algorithm is not public (do-protocol.md 3.3), where
/// the string comparison is the only check. `mtime` (optional: RFC 3339 text or seconds since 1970) is
/// the file's modification time in the mount; without it the origin's `Last-Modified` is shown when
/// the content is fetched in simple mode, and the mount's start time otherwise.
///
/// Two optional fields let a mount answer without the network until a file is read (`dofs publish
/// --tree` writes them): `size` (bytes) is the file's size in listings, so `ls -l` of a cold mount
/// makes no request at all (the pieces hash file is then fetched at open, and a content whose pieces
/// hash file or origin disagrees with `size` is refused); and `integrity.Pieces` (with `PieceSize`,
/// default 1 MiB), the piece hashes themselves, for small contents, so opening one needs no request
/// either and a cold read of it is one range request. Embedded pieces need `size`, must be as many as
/// the layout says, and must hash to `HashOfHashes` with dofs's algorithm (so not with
/// `recomputeHashOfHashes: false`); the mount checks this when it loads the catalog.
///
/// Every refusal names what to fix: the catalog file, the entry (index from 0, and its name when it has
/// one) and the field, e.g. `catalog /etc/dofs/catalog.json: entry 3 ("images/big.iso"): field
/// "integrity.HashOfHashes": missing`.
public struct Catalog: Sendable {
    public struct Entry: Sendable, Equatable {
        /// Path components below the mount root; never empty, never `.`/`..`.
        public var path: [String]
        public var url: String
        public var integrity: ContentIntegrity?
        /// The modification time the catalog gives the file, if any.
        public var modificationTime: Date?
        /// The content's length in bytes, when the catalog gives it: listings need no request then.
        public var size: Int?
        /// The pieces hash file the catalog embeds (its pieces, `size` and `PieceSize`), already
        /// checked against `integrity.hashOfHashes`: opening the content needs no request.
        public var embeddedPiecesHashFile: PiecesHashFile?

        public init(path: [String], url: String, integrity: ContentIntegrity? = nil, modificationTime: Date? = nil,
                    size: Int? = nil, embeddedPiecesHashFile: PiecesHashFile? = nil) {
            self.path = path
            self.url = url
            self.integrity = integrity
            self.modificationTime = modificationTime
            self.size = size
            self.embeddedPiecesHashFile = embeddedPiecesHashFile
        }
    }

    /// Where in the catalog a refusal lies: the entry (index and, when known, name) and the field.
    public struct Location: Sendable, Equatable, CustomStringConvertible {
        public var index: Int
        public var name: String?
        /// Dotted path of the field within the entry (`integrity.HashOfHashes`); `nil` for the whole entry.
        public var field: String?

        public var description: String {
            var text = "entry \(index)"
            if let name { text += " (\"\(name)\")" }
            if let field { text += ": field \"\(field)\"" }
            return text
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        /// The file cannot be read: fix its path or permissions.
        case unreadable(path: String, detail: String)
        /// The text is not a JSON array (or a rule across entries is broken): fix the file as a whole.
        case malformed(path: String?, detail: String)
        /// One entry is wrong: fix the field named.
        case invalidEntry(path: String?, Location, detail: String)

        public var description: String {
            switch self {
            case .unreadable(let p, let d): return "cannot read catalog \(p): \(d)"
            case .malformed(let p, let d): return "\(Self.prefix(p)): \(d)"
            case .invalidEntry(let p, let at, let d): return "\(Self.prefix(p)): \(at): \(d)"
            }
        }

        private static func prefix(_ path: String?) -> String { path.map { "catalog \($0)" } ?? "catalog" }

        /// The same failure, naming the file it came from.
        func inFile(_ path: String) -> Failure {
            switch self {
            case .unreadable: return self
            case .malformed(_, let d): return .malformed(path: path, detail: d)
            case .invalidEntry(_, let at, let d): return .invalidEntry(path: path, at, detail: d)
            }
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry] = []) { self.entries = entries }

    public static func load(path: String) throws(Failure) -> Catalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, detail: String(cString: strerror(errno)))
        }
        do {
            return try parse([UInt8](data))
        } catch {
            throw error.inFile(path)
        }
    }

    public static func parse(_ json: [UInt8]) throws(Failure) -> Catalog {
        let wire: [WireEntry]
        do {
            wire = try JSONDecoder().decode([WireEntry].self, from: Data(json))
        } catch let error as DecodingError {
            throw CatalogDecodingFailure.describe(error, json: json)
        } catch {
            throw .malformed(path: nil, detail: "\(error)".prefix(300).description)
        }
        var entries: [Entry] = []
        var seen = Set<[String]>()
        for (i, w) in wire.enumerated() {
            func refuse(_ field: String?, _ detail: String) -> Failure {
                .invalidEntry(path: nil, Location(index: i, name: w.name, field: field), detail: detail)
            }
            guard !w.name.hasPrefix("/") else {
                throw refuse("name", "'\(w.name)' is absolute; names are relative to the mount's root")
            }
            let path = w.name.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            guard !path.isEmpty, path.allSatisfy(Self.isValidComponent) else {
                throw refuse("name", "'\(w.name)' is not a relative path of valid file names")
            }
            guard path.first != "by-url", path.first != "by-id" else {
                throw refuse("name", "'\(w.name)' collides with the built-in folder \(path[0])")
            }
            guard seen.insert(path).inserted else { throw refuse("name", "duplicate name '\(w.name)'") }
            guard HTTPURL.isValid(w.url) else { throw refuse("url", "'\(RedactedURL.redacted(w.url))' is not an http(s) URL") }
            var integrity: ContentIntegrity?
            if let info = w.integrity {
                guard HTTPURL.isValid(info.PiecesHashFileUrl) else {
                    throw refuse("integrity.PiecesHashFileUrl", "'\(RedactedURL.redacted(info.PiecesHashFileUrl))' is not an http(s) URL")
                }
                guard let hoh = SHA256Digest(base64: info.HashOfHashes) else {
                    throw refuse("integrity.HashOfHashes", "'\(info.HashOfHashes)' is not base64 of 32 bytes")
                }
                integrity = ContentIntegrity(hashOfHashes: hoh, piecesHashFileUrls: [info.PiecesHashFileUrl],
                                             recomputeHashOfHashes: w.recomputeHashOfHashes ?? true)
            }
            var mtime: Date?
            if let given = w.mtime {
                guard let date = given.date else {
                    throw refuse("mtime", "'\(given.text)' is neither an RFC 3339 time (2024-05-01T12:00:00Z) nor seconds since 1970")
                }
                mtime = date
            }
            if let size = w.size {
                guard size >= 0, PieceLayout.supports(contentLength: size) else {
                    throw refuse("size", "\(size) is not a content length dofs supports")
                }
            }
            var embedded: PiecesHashFile?
            if let info = w.integrity, let texts = info.Pieces, let integrity {
                embedded = try Self.embeddedPiecesHashFile(texts, size: w.size, pieceSize: info.PieceSize, integrity: integrity, refuse: refuse)
            } else if w.integrity?.PieceSize != nil {
                throw refuse("integrity.PieceSize", "only applies with integrity.Pieces")
            }
            entries.append(Entry(path: path, url: w.url, integrity: integrity, modificationTime: mtime, size: w.size,
                                 embeddedPiecesHashFile: embedded))
        }
        // A file cannot also be a folder.
        for e in entries where e.path.count > 1 {
            for depth in 1..<e.path.count where seen.contains(Array(e.path.prefix(depth))) {
                throw .malformed(path: nil, detail: "'\(e.path.prefix(depth).joined(separator: "/"))' is both a file and a folder")
            }
        }
        return Catalog(entries: entries)
    }

    /// Most piece hashes one entry may embed: enough for contents of a few MiB, while a catalog of
    /// many thousands of entries stays small (each hash is 45 bytes of text).
    public static let maxEmbeddedPieces = 16

    /// The PHF an entry embeds, checked: as many pieces as `size` in `pieceSize` pieces makes, hashing
    /// to the entry's HashOfHashes with dofs's algorithm.
    private static func embeddedPiecesHashFile(_ texts: [String], size: Int?, pieceSize: Int?, integrity: ContentIntegrity,
                                               refuse: (String?, String) -> Failure) throws(Failure) -> PiecesHashFile {
        guard let size else { throw refuse("integrity.Pieces", "embedded pieces need the entry's size") }
        guard integrity.recomputeHashOfHashes else {
            throw refuse("integrity.Pieces", "embedded pieces need recomputeHashOfHashes (they are checked against HashOfHashes)")
        }
        let pieceSize = pieceSize ?? PieceLayout.defaultPieceSize
        guard pieceSize > 0, pieceSize <= PiecesHashFile.maxPieceSize else {
            throw refuse("integrity.PieceSize", "\(pieceSize) is not between 1 and \(PiecesHashFile.maxPieceSize)")
        }
        let layout = PieceLayout(contentLength: size, pieceSize: pieceSize)
        guard texts.count == layout.pieceCount, texts.count <= maxEmbeddedPieces else {
            throw refuse("integrity.Pieces", "\(texts.count) piece hash(es) for \(layout.pieceCount) piece(s) (at most \(maxEmbeddedPieces) may be embedded)")
        }
        var pieces: [SHA256Digest] = []
        for (i, text) in texts.enumerated() {
            guard let digest = SHA256Digest(base64: text) else { throw refuse("integrity.Pieces", "piece \(i): '\(text.prefix(60))' is not base64 of 32 bytes") }
            pieces.append(digest)
        }
        let phf = PiecesHashFile(hashOfHashes: integrity.hashOfHashes, layout: layout, pieces: pieces)
        do {
            try phf.verify(against: integrity.hashOfHashes, requireRecompute: true)
        } catch {
            throw refuse("integrity.Pieces", "the pieces do not hash to HashOfHashes")
        }
        return phf
    }

    static func isValidComponent(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && s.utf8.count <= 255 && !s.utf8.contains(0)
    }

    struct WireEntry: Decodable {
        struct IntegrityCheckInfo: Decodable {
            var PiecesHashFileUrl: String
            var HashOfHashes: String
            var PieceSize: Int?
            var Pieces: [String]?
        }
        var name: String
        var url: String
        var integrity: IntegrityCheckInfo?
        var recomputeHashOfHashes: Bool?
        var mtime: WireTime?
        var size: Int?
    }

    /// `mtime` as written: RFC 3339 text or a number of seconds since 1970.
    struct WireTime: Decodable {
        let text: String
        let date: Date?

        init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let seconds = try? value.decode(Double.self) {
                text = "\(seconds)"
                date = seconds.isFinite && seconds >= 0 ? Date(timeIntervalSince1970: seconds) : nil
            } else {
                text = try value.decode(String.self)
                date = Self.rfc3339(text)
            }
        }

        static func rfc3339(_ text: String) -> Date? {
            let plain = ISO8601DateFormatter()
            if let d = plain.date(from: text) { return d }
            let fractional = ISO8601DateFormatter()
            fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return fractional.date(from: text)
        }
    }
}
