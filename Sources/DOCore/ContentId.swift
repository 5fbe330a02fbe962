/// A content's identity in DO's control plane.
///
/// dofs-published content uses `DO-` + the base64 HashOfHashes with `/`→`-` and `+`→`_`, padding kept
/// (do-protocol.md section 9.2). Other publishers' IDs (Windows Update SHA-1s, winget SHA-256s, Intune
/// GUIDs) are opaque strings, so the type accepts any ID that is safe as a single path component and URL segment.
public struct ContentId: Hashable, Sendable, CustomStringConvertible, Codable {
    public static let maxLength = 200
    public let rawValue: String

    /// Validates an opaque content ID: 1 to 200 characters of `A-Z a-z 0-9 - _ . =`, not `.` or `..`.
    public init(_ text: String) throws(MetadataError) {
        guard !text.isEmpty, text.utf8.count <= Self.maxLength, text != ".", text != "..",
              text.utf8.allSatisfy(ContentId.isAllowed) else {
            throw .invalidContentId(text)
        }
        rawValue = text
    }

    /// The content ID dofs derives from a HashOfHashes.
    public init(hashOfHashes: SHA256Digest) {
        // Mapped as bytes (base64 is ASCII): this runs at every open of a content.
        let mapped = hashOfHashes.base64.utf8.map { b -> UInt8 in
            switch b {
            case UInt8(ascii: "/"): return UInt8(ascii: "-")
            case UInt8(ascii: "+"): return UInt8(ascii: "_")
            default: return b
            }
        }
        rawValue = "DO-" + String(decoding: mapped, as: UTF8.self)
    }

    /// For a `DO-` ID: the HashOfHashes it encodes; `nil` for other kinds of ID.
    public var hashOfHashes: SHA256Digest? {
        guard rawValue.hasPrefix("DO-") else { return nil }
        let b64 = String(rawValue.dropFirst(3).map { c -> Character in
            switch c {
            case "-": return "/"
            case "_": return "+"
            default: return c
            }
        })
        return SHA256Digest(base64: b64)
    }

    public var description: String { rawValue }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    private static func isAllowed(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
             UInt8(ascii: "."), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }
}
