import DOCore
import Dispatch
import Foundation
import Synchronization

/// Publishes a folder tree at once (`dofs publish --tree`): every regular file under the folder is
/// hashed into its pieces hash file (PHF), the PHFs are written, and one catalog names them all.
///
/// - Names: a file's catalog name is its path relative to the folder; its URL is the URL base joined
///   with that path, each component percent-encoded; its PHF is `<path>.phf`, beside the file or
///   under `phfDirectory`, served at the PHF URL base joined the same way.
/// - Files are hashed in parallel (one worker per core): a tree of small files is bound by opening and
///   reading them, not by SHA-256. PHFs are written whole under a temporary name and renamed, so a web
///   server never serves half of one; nothing is fsync'ed (re-run the command after a crash).
/// - Every entry carries `size` and `mtime` (a mount lists the tree without a request) and, for a
///   content of at most `Catalog.maxEmbeddedPieces` pieces, its piece hashes (opening it needs no request).
/// - Skipped: anything that is not a regular file (symbolic links, devices), files ending in `.phf`
///   when PHFs are written beside the files (they are earlier runs' PHFs), and the PHF folder itself.
///   A name the catalog could not hold (a first component `by-id`/`by-url`) fails the run before
///   anything is written.
public struct TreePublisher: Sendable {
    /// Why a tree could not be published; each says what to fix.
    public enum Failure: Error, CustomStringConvertible {
        case notAFolder(String)
        case unusableName(String, reason: String)
        case hashing(String, detail: String)
        case writing(String, detail: String)
        case empty(String)

        public var description: String {
            switch self {
            case .notAFolder(let p): return "\(p) is not a folder"
            case .unusableName(let p, let r): return "'\(p)' cannot be a catalog name: \(r)"
            case .hashing(let p, let d): return "cannot hash \(p): \(d)"
            case .writing(let p, let d): return "cannot write \(p): \(d)"
            case .empty(let p): return "\(p) holds no regular file to publish"
            }
        }
    }

    /// One published file.
    public struct Published: Sendable {
        /// The path relative to the folder, `/`-separated: the catalog name.
        public var name: String
        public var url: String
        public var piecesHashFileURL: String
        public var piecesHashFile: PiecesHashFile
        public var modificationTime: Date
    }

    public var folder: String
    public var urlBase: String
    /// Where PHFs are written: `nil` beside the files.
    public var phfDirectory: String?
    /// The URL base PHFs are served under (default: `urlBase`).
    public var phfURLBase: String
    public var pieceSize: Int
    /// Hashing workers: one per core by default (reading small files is mostly system time).
    public var parallelism: Int

    public init(folder: String, urlBase: String, phfDirectory: String? = nil, phfURLBase: String? = nil,
                pieceSize: Int = PieceLayout.defaultPieceSize,
                parallelism: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.folder = folder
        self.urlBase = urlBase
        self.phfDirectory = phfDirectory
        self.phfURLBase = phfURLBase ?? urlBase
        self.pieceSize = pieceSize
        self.parallelism = max(1, parallelism)
    }

    /// Hashes every file and writes every PHF; returns the files in name order.
    public func publish() throws(Failure) -> [Published] {
        let names = try filesToPublish()
        guard !names.isEmpty else { throw .empty(folder) }
        let results = Mutex([Result<Published, Failure>?](repeating: nil, count: names.count))
        // Workers take the next file from a shared counter, so one large file does not hold up a share.
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: min(parallelism, names.count)) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < names.count else { return }
                let outcome: Result<Published, Failure>
                do throws(Failure) {
                    outcome = .success(try publishOne(names[i]))
                } catch {
                    outcome = .failure(error)
                }
                results.withLock { $0[i] = outcome }
            }
        }
        return try results.withLock { $0 }.map { result throws(Failure) in try result!.get() }
    }

    /// The catalog of what `publish` returned: JSON text `Catalog.parse` accepts (checked before it is
    /// returned).
    public static func catalogJSON(_ published: [Published]) throws -> [UInt8] {
        let rfc3339 = ISO8601DateFormatter()
        let entries: [[String: Any]] = published.map { p in
            var integrity: [String: Any] = [
                "PiecesHashFileUrl": p.piecesHashFileURL,
                "HashOfHashes": p.piecesHashFile.hashOfHashes.base64,
            ]
            if p.piecesHashFile.pieces.count <= Catalog.maxEmbeddedPieces {
                integrity["Pieces"] = p.piecesHashFile.pieces.map(\.base64)
                if p.piecesHashFile.layout.pieceSize != PieceLayout.defaultPieceSize {
                    integrity["PieceSize"] = p.piecesHashFile.layout.pieceSize
                }
            }
            return ["name": p.name, "url": p.url, "integrity": integrity,
                    "size": p.piecesHashFile.layout.contentLength, "mtime": rfc3339.string(from: p.modificationTime)]
        }
        let data = try JSONSerialization.data(withJSONObject: entries, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        let bytes = [UInt8](data)
        _ = try Catalog.parse(bytes)  // never write a catalog that mount would refuse
        return bytes
    }

    /// `base` joined with a relative path, each component percent-encoded.
    public static func join(_ base: String, _ relativePath: String) -> String {
        let encoded = relativePath.split(separator: "/").map { PercentEncoding.encodePathSegment(String($0)) }.joined(separator: "/")
        return (base.hasSuffix("/") ? base : base + "/") + encoded
    }

    // MARK: - Steps

    /// Relative paths of the regular files to publish, sorted.
    func filesToPublish() throws(Failure) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue,
              let walker = FileManager.default.enumerator(atPath: folder) else {
            throw .notAFolder(folder)
        }
        let root = URL(fileURLWithPath: folder).standardizedFileURL.path
        let phfRoot = phfDirectory.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        var names: [String] = []
        while let relative = walker.nextObject() as? String {
            let full = root + "/" + relative
            if let phfRoot, full == phfRoot {
                walker.skipDescendants()
                continue
            }
            var st = stat()
            guard lstat(full, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            if phfDirectory == nil && relative.hasSuffix(".phf") { continue }
            if relative.contains(Self.temporaryMarker) { continue }
            let components = relative.split(separator: "/").map(String.init)
            if let bad = components.first(where: { !Catalog.isValidComponent($0) }) {
                throw .unusableName(relative, reason: "the component '\(bad)' is not a valid file name")
            }
            if components.count > 0, ["by-url", "by-id"].contains(components[0]) {
                throw .unusableName(relative, reason: "it collides with the mount's built-in folder \(components[0])")
            }
            names.append(relative)
        }
        return names.sorted()
    }

    /// Hashes one file and writes its PHF.
    func publishOne(_ name: String) throws(Failure) -> Published {
        let path = folder + "/" + name
        let phf: PiecesHashFile
        var st = stat()
        do {
            phf = try Publisher.hashFile(atPath: path, pieceSize: pieceSize)
            guard stat(path, &st) == 0 else { throw Publisher.Failure.readFailed(path: path, errno: errno) }
        } catch {
            throw .hashing(path, detail: "\(error)")
        }
        guard Int(st.st_size) == phf.layout.contentLength else { throw .hashing(path, detail: "it changed size while it was hashed") }
        let phfPath = (phfDirectory ?? folder) + "/" + name + ".phf"
        try Self.writeWhole(phf.jsonBytes(), to: phfPath, makingFolders: phfDirectory != nil)
        let modified = Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec))
        return Published(name: name, url: Self.join(urlBase, name), piecesHashFileURL: Self.join(phfURLBase, name + ".phf"),
                         piecesHashFile: phf, modificationTime: modified)
    }

    /// Marks a PHF being written (a crash may leave one; a later run skips it).
    static let temporaryMarker = ".dofs-tmp-"

    /// Writes `bytes` to a temporary name beside `path`, then renames it there.
    static func writeWhole(_ bytes: [UInt8], to path: String, makingFolders: Bool) throws(Failure) {
        if makingFolders {
            do {
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true)
            } catch {
                throw .writing(path, detail: error.localizedDescription)
            }
        }
        let tmp = path + temporaryMarker + UUID().uuidString
        do {
            try FileSystem.writeFile(bytes, to: tmp)
        } catch {
            throw .writing(path, detail: "\(error)")
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw .writing(path, detail: String(cString: strerror(e)))
        }
    }
}
