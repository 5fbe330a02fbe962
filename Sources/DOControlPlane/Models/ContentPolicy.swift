/// The answer of `GET .../content/{contentId}/contentpolicy` (do-protocol.md 2.3): what a client needs to
/// trust and fetch one content.
///
/// `HashOfHashes` is the trust anchor: a pieces hash file fetched from any of `PiecesHashFileCdnUrls`
/// is used only if its own HashOfHashes equals this one. Decoding ignores unknown keys and accepts the
/// numeric and boolean fields as numbers or strings, since DO's exact JSON types are not public.
public struct ContentPolicy: Codable, Equatable, Sendable {
    /// `ContentId`: the content's ID, which may differ from the one asked for (Intune GUIDs map to `DO-` IDs).
    public var contentId: String
    /// `HashOfHashes`: standard base64 of 32 bytes.
    public var hashOfHashes: String
    /// `PiecesHashFileCdnUrls`: where the pieces hash file can be fetched, best first.
    public var piecesHashFileCdnUrls: [String]
    /// `ContentCdnUrls`: where the content itself is served (may be empty, as in DO's Intune answers).
    public var contentCdnUrls: [String]
    /// `IsSecure`: DO's flag; its meaning is not public, dofs always sends `false` as DO's sample does.
    public var isSecure: Bool
    /// `Rank`: DO's ordering hint, `0` in every sample.
    public var rank: Int
    /// `Policies`: download policy values.
    public var policies: Policies
    /// `ContentLength` (dofs extension): the content's size in bytes, when the control plane knows it.
    public var contentLength: Int?
    /// `PieceSize` (dofs extension): the piece size of its pieces hash file, when known.
    public var pieceSize: Int?
    /// `DofsHashOfHashes` (dofs extension): true when the content was published by dofs, so its
    /// HashOfHashes must also recompute from the pieces (do-protocol.md 9.1). DO's own answers lack it.
    public var dofsHashOfHashes: Bool?
    /// `PublisherSignatures` (dofs extension): each publisher signature of this content at one of its
    /// URLs. A mount that pins publisher keys believes the policy only through one of these.
    public var publisherSignatures: [URLSignature]?

    public init(contentId: String, hashOfHashes: String, piecesHashFileCdnUrls: [String] = [],
                contentCdnUrls: [String] = [], isSecure: Bool = false, rank: Int = 0,
                policies: Policies = Policies(), contentLength: Int? = nil, pieceSize: Int? = nil,
                dofsHashOfHashes: Bool? = nil, publisherSignatures: [URLSignature]? = nil) {
        self.contentId = contentId
        self.hashOfHashes = hashOfHashes
        self.piecesHashFileCdnUrls = piecesHashFileCdnUrls
        self.contentCdnUrls = contentCdnUrls
        self.isSecure = isSecure
        self.rank = rank
        self.policies = policies
        self.contentLength = contentLength
        self.pieceSize = pieceSize
        self.dofsHashOfHashes = dofsHashOfHashes
        self.publisherSignatures = publisherSignatures
    }

    enum CodingKeys: String, CodingKey {
        case contentId = "ContentId"
        case hashOfHashes = "HashOfHashes"
        case piecesHashFileCdnUrls = "PiecesHashFileCdnUrls"
        case contentCdnUrls = "ContentCdnUrls"
        case isSecure = "IsSecure"
        case rank = "Rank"
        case policies = "Policies"
        case contentLength = "ContentLength"
        case pieceSize = "PieceSize"
        case dofsHashOfHashes = "DofsHashOfHashes"
        case publisherSignatures = "PublisherSignatures"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        contentId = try c.decode(String.self, forKey: .contentId)
        hashOfHashes = try c.decode(String.self, forKey: .hashOfHashes)
        piecesHashFileCdnUrls = try c.decodeLenientStrings(forKey: .piecesHashFileCdnUrls)
        contentCdnUrls = try c.decodeLenientStrings(forKey: .contentCdnUrls)
        isSecure = try c.decodeLenientBool(forKey: .isSecure) ?? false
        rank = try c.decodeLenientInt(forKey: .rank) ?? 0
        policies = try c.decodeIfPresent(Policies.self, forKey: .policies) ?? Policies()
        contentLength = try c.decodeLenientInt(forKey: .contentLength)
        pieceSize = try c.decodeLenientInt(forKey: .pieceSize)
        dofsHashOfHashes = try c.decodeLenientBool(forKey: .dofsHashOfHashes)
        publisherSignatures = try c.decodeIfPresent([URLSignature].self, forKey: .publisherSignatures)
    }

    /// DO's policy values (do-protocol.md 2.3, 6) plus dofs's peering hints. Every field is optional:
    /// an absent value means "no policy", not zero.
    public struct Policies: Codable, Equatable, Sendable {
        /// `ForegroundQosBps`: bytes/s a foreground download should reach (DO's sample: 6710886).
        public var foregroundQosBps: Int?
        /// `BackgroundQosBps`: bytes/s a background download should reach (DO's sample: 2621440).
        public var backgroundQosBps: Int?
        /// `MaxCacheAgeSecs`: how long a cached content may be kept (DO's default DOMaxCacheAge: 259200).
        public var maxCacheAgeSecs: Int?
        /// `ExpireAtSecsSinceEpoch`: absolute expiry of the content; empty in DO's sample.
        public var expireAtSecsSinceEpoch: Int?
        /// `DownloadToExpire`: seconds a finished download stays valid (DO's sample: 86400).
        public var downloadToExpire: Int?
        /// `MinFileSizeForPeering` (dofs): contents smaller than this many bytes use simple mode, no peers.
        public var minFileSizeForPeering: Int?
        /// `DownloadMode` (dofs): the most peering the service allows (0 HTTP only, 1 LAN, 2 Group, 3 Internet).
        public var downloadMode: Int?

        public init(foregroundQosBps: Int? = nil, backgroundQosBps: Int? = nil, maxCacheAgeSecs: Int? = nil,
                    expireAtSecsSinceEpoch: Int? = nil, downloadToExpire: Int? = nil,
                    minFileSizeForPeering: Int? = nil, downloadMode: Int? = nil) {
            self.foregroundQosBps = foregroundQosBps
            self.backgroundQosBps = backgroundQosBps
            self.maxCacheAgeSecs = maxCacheAgeSecs
            self.expireAtSecsSinceEpoch = expireAtSecsSinceEpoch
            self.downloadToExpire = downloadToExpire
            self.minFileSizeForPeering = minFileSizeForPeering
            self.downloadMode = downloadMode
        }

        /// The values a dofs control plane sends unless configured otherwise: DO's sample QoS figures,
        /// DO's documented cache age, 10 MiB as the peering minimum (DO's simple-mode threshold), and
        /// download mode 3: the service allows every mode, so each client's own mode decides (a client
        /// in a higher mode than the policy's is lowered to it).
        public static let dofsDefaults = Policies(
            foregroundQosBps: 6_710_886, backgroundQosBps: 2_621_440, maxCacheAgeSecs: 259_200,
            downloadToExpire: 86_400, minFileSizeForPeering: 10 << 20, downloadMode: 3)

        enum CodingKeys: String, CodingKey {
            case foregroundQosBps = "ForegroundQosBps"
            case backgroundQosBps = "BackgroundQosBps"
            case maxCacheAgeSecs = "MaxCacheAgeSecs"
            case expireAtSecsSinceEpoch = "ExpireAtSecsSinceEpoch"
            case downloadToExpire = "DownloadToExpire"
            case minFileSizeForPeering = "MinFileSizeForPeering"
            case downloadMode = "DownloadMode"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            foregroundQosBps = try c.decodeLenientInt(forKey: .foregroundQosBps)
            backgroundQosBps = try c.decodeLenientInt(forKey: .backgroundQosBps)
            maxCacheAgeSecs = try c.decodeLenientInt(forKey: .maxCacheAgeSecs)
            expireAtSecsSinceEpoch = try c.decodeLenientInt(forKey: .expireAtSecsSinceEpoch)
            downloadToExpire = try c.decodeLenientInt(forKey: .downloadToExpire)
            minFileSizeForPeering = try c.decodeLenientInt(forKey: .minFileSizeForPeering)
            downloadMode = try c.decodeLenientInt(forKey: .downloadMode)
        }
    }
}
