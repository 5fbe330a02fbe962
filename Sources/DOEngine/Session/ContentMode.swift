import DOCore

/// How much a content is trusted, decided once when it is opened.
public enum ContentMode: Sendable {
    /// Every piece is checked against this pieces hash file before anyone sees it.
    case verified(PiecesHashFile)
    /// No trusted metadata: bytes are taken from the origin as they come (DO's simple mode).
    /// `contentKey` names the content's pieces in the store (URL + validator + length).
    case simple(contentKey: String, reason: String)

    public var name: String {
        switch self {
        case .verified: return "verified"
        case .simple: return "simple"
        }
    }
}
