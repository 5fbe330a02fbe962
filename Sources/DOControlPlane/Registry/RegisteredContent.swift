import DOCore

/// One content as the registry knows it: metadata plus every URL it was registered under.
public struct RegisteredContent: Equatable, Sendable {
    public var contentId: ContentId
    public var hashOfHashes: SHA256Digest
    public var layout: PieceLayout
    /// Every URL the content was registered under, oldest first (`ContentCdnUrls`).
    public var urls: [String]
    /// Every PHF URL publishers gave, oldest first.
    public var piecesHashFileUrls: [String]
    /// True when the registry holds the PHF itself (served at `/content/{contentId}/phf`).
    public var hasStoredPiecesHashFile: Bool
    /// Seconds since the epoch of the first registration.
    public var registeredAt: Int
    /// The publisher signatures of its URLs (one per signed URL, in `urls` order).
    public var signatures: [URLSignature]

    public init(contentId: ContentId, hashOfHashes: SHA256Digest, layout: PieceLayout, urls: [String],
                piecesHashFileUrls: [String], hasStoredPiecesHashFile: Bool, registeredAt: Int,
                signatures: [URLSignature] = []) {
        self.contentId = contentId
        self.hashOfHashes = hashOfHashes
        self.layout = layout
        self.urls = urls
        self.piecesHashFileUrls = piecesHashFileUrls
        self.hasStoredPiecesHashFile = hasStoredPiecesHashFile
        self.registeredAt = registeredAt
        self.signatures = signatures
    }
}

/// What `Registry.register` did.
public enum RegistrationOutcome: Equatable, Sendable {
    /// The content was new.
    case created
    /// The content was known; its URL, PHF URL or stored PHF may have been added.
    case updated
}
