/// Why content metadata (a pieces hash file, a content ID, a catalog) was refused.
///
/// Each case names one thing the caller can report or act on; the messages say what was expected.
public enum MetadataError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformedJSON(String)
    case unsupportedVersion(major: Int, minor: Int)
    case invalidHashOfHashes(String)
    case invalidPieceHash(index: Int, value: String)
    case invalidContentLength(Int)
    case invalidPieceSize(Int)
    case pieceCountMismatch(expected: Int, found: Int)
    case hashOfHashesMismatch(expected: String, found: String)
    case hashOfHashesNotRecomputed(declared: String, computed: String)
    case invalidContentId(String)
    /// The pieces hash file's ContentLength is not the size the catalog gave (the kernel may have it).
    case contentLengthDisagrees(declared: Int, found: Int)

    public var description: String {
        switch self {
        case .malformedJSON(let why): return "pieces hash file is not valid JSON of the expected shape: \(why)"
        case .unsupportedVersion(let major, let minor): return "pieces hash file version \(major).\(minor) is not supported (expected 1.x)"
        case .invalidHashOfHashes(let v): return "HashOfHashes '\(v)' is not base64 of 32 bytes"
        case .invalidPieceHash(let i, let v): return "piece \(i) hash '\(v)' is not base64 of 32 bytes"
        case .invalidContentLength(let n): return "ContentLength \(n) is negative"
        case .invalidPieceSize(let n): return "PieceSize \(n) is not a positive size of at most 64 MiB"
        case .pieceCountMismatch(let e, let f): return "pieces hash file lists \(f) pieces, but ContentLength and PieceSize need \(e)"
        case .hashOfHashesMismatch(let e, let f): return "pieces hash file has HashOfHashes \(f), but the trusted metadata says \(e)"
        case .hashOfHashesNotRecomputed(let d, let c): return "pieces hash file declares HashOfHashes \(d), but its pieces hash to \(c)"
        case .invalidContentId(let id): return "'\(id.prefix(80))' is not a valid content ID"
        case .contentLengthDisagrees(let d, let f): return "pieces hash file says ContentLength \(f), but the catalog gives the size \(d)"
        }
    }
}
