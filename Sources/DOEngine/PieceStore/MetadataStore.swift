import DOCore
import Foundation
import Synchronization

/// Verified pieces hash files, kept so that cached content reads with the origin down.
///
/// Stored by HashOfHashes (`metadata/<hex>.phf`), written atomically (temporary file, fsync, rename),
/// except copies of PHFs a catalog embeds, which are appended to one file (`PiecesHashFileCopies`; older
/// versions wrote them as `<hex>.phf` too, and those are still read and dated); a PHF that no longer
/// parses or no longer matches its name is deleted or forgotten, and refetched (or copied again). A
/// crash during a save leaves a `*.tmp-*` file, which the next start deletes (the caller holds the
/// `CacheLock`).
public final class MetadataStore: Sendable {
    public let root: String
    /// Temporary files of interrupted saves removed when the store was opened.
    public let removedLeftovers: Int
    private let copies: PiecesHashFileCopies
    /// The PHFs kept as files of their own, listed at open and kept up to date by this store (the caller
    /// holds the `CacheLock`), so that dating a copy asks the file system nothing when there is no file:
    /// a `utimes` of a missing file cost a path lookup in this folder for every small file opened.
    private let filed: Mutex<Set<SHA256Digest>>

    public init(root: String) throws {
        self.root = root
        try FileSystem.makeDirectories(root)
        removedLeftovers = FileSystem.removeTemporaryFiles(in: root) + FileSystem.removeTemporaryFiles(in: root + "/records")
        copies = try PiecesHashFileCopies(path: root + "/copies.log")
        filed = Mutex(Set(Self.filedHashes(in: root)))
    }

    /// The stored PHF named `hashOfHashes`; `nil` when absent, and when it does not parse or does not
    /// match its name (then the file is deleted, or the copy forgotten, so that it is fetched or copied
    /// again).
    public func load(hashOfHashes: SHA256Digest) -> PiecesHashFile? {
        let checked = { (bytes: [UInt8]) -> PiecesHashFile? in
            guard let phf = try? PiecesHashFile(json: bytes), phf.hashOfHashes == hashOfHashes else { return nil }
            return phf
        }
        if let bytes = FileSystem.readFile(path(hashOfHashes)) {
            guard let phf = checked(bytes) else {
                unlink(path(hashOfHashes))
                _ = filed.withLock { $0.remove(hashOfHashes) }
                return nil
            }
            return phf
        }
        guard let bytes = copies.bytes(hashOfHashes) else { return nil }
        guard let phf = checked(bytes) else {
            copies.forget(hashOfHashes)
            return nil
        }
        return phf
    }

    public func save(_ phf: PiecesHashFile) throws {
        try FileSystem.replaceDurably(path(phf.hashOfHashes), with: phf.jsonBytes())
        _ = filed.withLock { $0.insert(phf.hashOfHashes) }
    }

    /// Keeps a copy of a pieces hash file that is known elsewhere (a catalog embeds it), so the cache
    /// listing names its content. When the copy is there already, it is marked used instead (see
    /// `markUsed`): a new copy's date is its use.
    ///
    /// Appended to the copies file (`PiecesHashFileCopies`), unsynced: losing a copy costs nothing,
    /// and a tree of small files makes one per file, which as a file each cost an inode allocation per
    /// file. A copy torn by a crash is cut off when the store opens, and the next open copies it again.
    public func saveCopy(_ phf: PiecesHashFile) throws {
        if copies.markUsed(phf.hashOfHashes) { return }
        // A copy an older version wrote as a file of its own.
        if datedFile(phf.hashOfHashes) { return }
        try copies.append(phf)
    }

    /// Writes the copies and uses that wait in memory (see `PiecesHashFileCopies`); at unmount.
    public func flush() throws { try copies.flush() }

    private func path(_ hoh: SHA256Digest) -> String { "\(root)/\(hoh.hex).phf" }

    /// Dates the PHF's own file now; false when it has none.
    private func datedFile(_ hoh: SHA256Digest) -> Bool {
        filed.withLock { $0.contains(hoh) } && utimes(path(hoh), nil) == 0
    }

    /// The HashOfHashes named by the `<hex>.phf` files in `root`.
    private static func filedHashes(in root: String) -> [SHA256Digest] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap { name in
            guard name.hasSuffix(".phf"), name.count == 68 else { return nil }
            return SHA256Digest(hex: String(name.dropLast(4)))
        }
    }

    /// The origin's `Last-Modified` of a verified content, kept beside its PHF (`<hex>.mtime`, seconds
    /// since 1970) so the file keeps its date when it opens with no network request.
    public func modificationTime(hashOfHashes: SHA256Digest) -> Date? {
        guard let bytes = FileSystem.readFile("\(root)/\(hashOfHashes.hex).mtime"),
              let seconds = Double(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
              seconds.isFinite else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    public func saveModificationTime(_ date: Date, hashOfHashes: SHA256Digest) throws {
        try FileSystem.replaceDurably("\(root)/\(hashOfHashes.hex).mtime", with: Array("\(Int64(date.timeIntervalSince1970))\n".utf8))
    }

    /// The HashOfHashes of every stored pieces hash file (its own file, or a kept copy; `load` checks
    /// the content).
    public func storedHashes() -> [SHA256Digest] {
        let files = filed.withLock { $0 }
        return Array(files) + copies.hashes.filter { !files.contains($0) }
    }

    /// Dates the content's PHF now: its last use, kept across restarts (the file's modification time,
    /// or a use record for a kept copy).
    public func markUsed(hashOfHashes: SHA256Digest) {
        if !datedFile(hashOfHashes) { copies.markUsed(hashOfHashes) }
    }

    /// When the content was last opened (the PHF file's modification time, or a kept copy's last use
    /// record); `nil` without either.
    public func lastUsed(hashOfHashes: SHA256Digest) -> Date? {
        var st = stat()
        guard stat(path(hashOfHashes), &st) == 0 else { return copies.lastUsed(hashOfHashes) }
        return Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec))
    }
}

extension MetadataStore {
    /// What a directory answer is remembered under.
    public enum RecordKey: Sendable {
        case url(String)
        case contentId(ContentId)

        var fileName: String {
            switch self {
            case .url(let u): return "url-" + SHA256.hash(Array(u.utf8)).hex + ".json"
            case .contentId(let id): return "id-" + SHA256.hash(Array(id.rawValue.utf8)).hex + ".json"
            }
        }
    }

    /// Keeps a directory answer so the content opens verified while the directory is unreachable.
    public func saveRecord(_ answer: DirectoryAnswer, key: RecordKey) throws {
        let record = Record(ContentId: answer.contentId.rawValue, HashOfHashes: answer.integrity.hashOfHashes.base64,
                            PiecesHashFileUrls: answer.integrity.piecesHashFileUrls,
                            RecomputeHashOfHashes: answer.integrity.recomputeHashOfHashes,
                            ContentUrls: answer.contentUrls, MinFileSizeForPeering: answer.minFileSizeForPeering,
                            DownloadMode: answer.downloadMode, PublisherKeyId: answer.publisherKeyId)
        let bytes = try JSONEncoder().encode(record)
        try FileSystem.makeDirectories(root + "/records")
        try FileSystem.replaceDurably(root + "/records/" + key.fileName, with: [UInt8](bytes))
    }

    public func loadRecord(key: RecordKey) -> DirectoryAnswer? {
        FileSystem.readFile(root + "/records/" + key.fileName).flatMap(Self.answer(from:))
    }

    /// Every remembered directory answer (a few small files per content).
    public func records() -> [DirectoryAnswer] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root + "/records")) ?? []
        return names.filter { $0.hasSuffix(".json") }.compactMap { name in
            guard let bytes = FileSystem.readFile(root + "/records/" + name) else { return nil }
            return Self.answer(from: bytes)
        }
    }

    private static func answer(from bytes: [UInt8]) -> DirectoryAnswer? {
        guard let r = try? JSONDecoder().decode(Record.self, from: Data(bytes)),
              let id = try? ContentId(r.ContentId), let hoh = SHA256Digest(base64: r.HashOfHashes) else { return nil }
        return DirectoryAnswer(contentId: id,
                               integrity: ContentIntegrity(hashOfHashes: hoh, piecesHashFileUrls: r.PiecesHashFileUrls,
                                                           recomputeHashOfHashes: r.RecomputeHashOfHashes),
                               contentUrls: r.ContentUrls, minFileSizeForPeering: r.MinFileSizeForPeering,
                               downloadMode: r.DownloadMode, publisherKeyId: r.PublisherKeyId)
    }

    private struct Record: Codable {
        var ContentId: String
        var HashOfHashes: String
        var PiecesHashFileUrls: [String]
        var RecomputeHashOfHashes: Bool
        var ContentUrls: [String]
        var MinFileSizeForPeering: Int?
        var DownloadMode: Int?
        var PublisherKeyId: String?
    }
}
