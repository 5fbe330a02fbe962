/// The body of `POST <CollectiveArray>join/`: DO's array join (do-protocol.md 2.6), all values strings.
///
/// Every field is optional so DO's own bodies (which lack `ContentId` and `Port`) decode; a value of any
/// other JSON type than string is a decoding error, as on the wire DO only sends strings. dofs adds
/// `Port`, the TCP port the peer listens on for the swarm protocol (default 7680, DO's).
public struct JoinRequest: Codable, Equatable, Sendable {
    /// DO's swarm port, used when a join does not say `Port`.
    public static let defaultPort = 7680

    public var contentId: String?
    public var altCatalogId: String?
    /// `PeerId`: 20 bytes as 40 hex digits (DO: `<32 hex>00000000`).
    public var peerId: String?
    /// `ReportedIp`: the peer's own (usually private) address; peers are told to connect there.
    public var reportedIp: String?
    /// `SubnetMask`: with `ReportedIp`, defines the peer's subnet for LAN matching.
    public var subnetMask: String?
    public var ipv6: String?
    public var isBackground: String?
    public var clientDialectVersionMajor: String?
    public var clientDialectVersionMinor: String?
    public var clientDialectVersionBuild: String?
    public var clientDialectVersionRevision: String?
    public var clientCompactVersion: String?
    /// Byte counters: `Uploaded`, `Downloaded`, `DownloadedCdn`, `DownloadedDoinc` (from a cache host), `Left`.
    public var uploaded: String?
    public var downloaded: String?
    public var downloadedCdn: String?
    public var downloadedDoinc: String?
    public var left: String?
    public var uploadedBPS: String?
    public var downloadedBPS: String?
    public var httpDelayLeftSecs: String?
    /// `JoinRequestEvent`: 1 on the first announce (like BitTorrent's `started`).
    public var joinRequestEvent: String?
    public var restrictedUpload: String?
    /// `PeersWanted`: the most peers the answer may list (DO asks for 255).
    public var peersWanted: String?
    /// `GroupId`: peers of one group find each other across subnets in Group mode.
    public var groupId: String?
    /// `Scope`: the download mode (1 LAN, 2 Group, 3 Internet; 0, 99, 100 mean no peers).
    public var scope: String?
    public var profile: String?
    /// `Seq`: the announce number.
    public var seq: String?
    /// `Port` (dofs): the peer's listening TCP port.
    public var port: String?

    public init(contentId: String? = nil, altCatalogId: String? = nil, peerId: String? = nil,
                reportedIp: String? = nil, subnetMask: String? = nil, ipv6: String? = nil,
                isBackground: String? = nil, clientDialectVersionMajor: String? = nil,
                clientDialectVersionMinor: String? = nil, clientDialectVersionBuild: String? = nil,
                clientDialectVersionRevision: String? = nil, clientCompactVersion: String? = nil,
                uploaded: String? = nil, downloaded: String? = nil, downloadedCdn: String? = nil,
                downloadedDoinc: String? = nil, left: String? = nil, uploadedBPS: String? = nil,
                downloadedBPS: String? = nil, httpDelayLeftSecs: String? = nil, joinRequestEvent: String? = nil,
                restrictedUpload: String? = nil, peersWanted: String? = nil, groupId: String? = nil,
                scope: String? = nil, profile: String? = nil, seq: String? = nil, port: String? = nil) {
        self.contentId = contentId
        self.altCatalogId = altCatalogId
        self.peerId = peerId
        self.reportedIp = reportedIp
        self.subnetMask = subnetMask
        self.ipv6 = ipv6
        self.isBackground = isBackground
        self.clientDialectVersionMajor = clientDialectVersionMajor
        self.clientDialectVersionMinor = clientDialectVersionMinor
        self.clientDialectVersionBuild = clientDialectVersionBuild
        self.clientDialectVersionRevision = clientDialectVersionRevision
        self.clientCompactVersion = clientCompactVersion
        self.uploaded = uploaded
        self.downloaded = downloaded
        self.downloadedCdn = downloadedCdn
        self.downloadedDoinc = downloadedDoinc
        self.left = left
        self.uploadedBPS = uploadedBPS
        self.downloadedBPS = downloadedBPS
        self.httpDelayLeftSecs = httpDelayLeftSecs
        self.joinRequestEvent = joinRequestEvent
        self.restrictedUpload = restrictedUpload
        self.peersWanted = peersWanted
        self.groupId = groupId
        self.scope = scope
        self.profile = profile
        self.seq = seq
        self.port = port
    }

    enum CodingKeys: String, CodingKey {
        case contentId = "ContentId"
        case altCatalogId = "AltCatalogId"
        case peerId = "PeerId"
        case reportedIp = "ReportedIp"
        case subnetMask = "SubnetMask"
        case ipv6 = "Ipv6"
        case isBackground = "IsBackground"
        case clientDialectVersionMajor = "ClientDialectVersionMajor"
        case clientDialectVersionMinor = "ClientDialectVersionMinor"
        case clientDialectVersionBuild = "ClientDialectVersionBuild"
        case clientDialectVersionRevision = "ClientDialectVersionRevision"
        case clientCompactVersion = "ClientCompactVersion"
        case uploaded = "Uploaded"
        case downloaded = "Downloaded"
        case downloadedCdn = "DownloadedCdn"
        case downloadedDoinc = "DownloadedDoinc"
        case left = "Left"
        case uploadedBPS = "UploadedBPS"
        case downloadedBPS = "DownloadedBPS"
        case httpDelayLeftSecs = "HttpDelayLeftSecs"
        case joinRequestEvent = "JoinRequestEvent"
        case restrictedUpload = "RestrictedUpload"
        case peersWanted = "PeersWanted"
        case groupId = "GroupId"
        case scope = "Scope"
        case profile = "Profile"
        case seq = "Seq"
        case port = "Port"
    }
}
