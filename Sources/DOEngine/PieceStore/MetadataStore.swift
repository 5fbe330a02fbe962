import DOCore
import Foundation

/// Verified pieces hash files, kept so that cached content reads with the origin down.
///
/// Stored by HashOfHashes (`metadata/<hex>.phf`), written atomically; a file that no longer parses or
/// no longer matches its name is ignored and refetched.
public final class MetadataStore: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        try FileSystem.makeDirectories(root)
    }

    public func load(hashOfHashes: SHA256Digest) -> PiecesHashFile? {
        guard let bytes = FileSystem.readFile(path(hashOfHashes)),
              let phf = try? PiecesHashFile(json: bytes), phf.hashOfHashes == hashOfHashes else { return nil }
        return phf
    }

    public func save(_ phf: PiecesHashFile) throws {
        try FileSystem.replaceDurably(path(phf.hashOfHashes), with: phf.jsonBytes())
    }

    private func path(_ hoh: SHA256Digest) -> String { "\(root)/\(hoh.hex).phf" }
}
