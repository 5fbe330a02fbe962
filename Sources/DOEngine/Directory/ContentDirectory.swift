import DOCore

/// Trusted metadata of a content: enough to accept its pieces hash file and so verify every piece.
public struct ContentIntegrity: Sendable, Equatable {
    /// The trust anchor, from a trusted channel (the catalog, the control plane over TLS).
    public var hashOfHashes: SHA256Digest
    /// Where the pieces hash file can be fetched, tried in order.
    public var piecesHashFileUrls: [String]
    /// Also require the pieces to hash to `hashOfHashes` with dofs's algorithm (do-protocol.md 9.1);
    /// false for DO-published content, whose algorithm is not public.
    public var recomputeHashOfHashes: Bool

    public init(hashOfHashes: SHA256Digest, piecesHashFileUrls: [String], recomputeHashOfHashes: Bool) {
        self.hashOfHashes = hashOfHashes
        self.piecesHashFileUrls = piecesHashFileUrls
        self.recomputeHashOfHashes = recomputeHashOfHashes
    }
}

/// What a content directory (the control plane) says about one content.
public struct DirectoryAnswer: Sendable, Equatable {
    public var contentId: ContentId
    public var integrity: ContentIntegrity
    /// Where the content is served, best first (DO's ContentCdnUrls).
    public var contentUrls: [String]
    /// Contents smaller than this are never shared in a swarm (DO drops to simple mode below 10 MB).
    public var minFileSizeForPeering: Int?
    /// The most peering the service allows for this content (its policy's `DownloadMode`): a lower
    /// mode than the client's wins (DO's DOWNLOADMODE_SET_BY_CP); 0 means no peers.
    public var downloadMode: Int?
    /// The publisher key whose signature vouched for this answer; `nil` when the directory itself is
    /// trusted (no publisher keys pinned).
    public var publisherKeyId: String?

    public init(contentId: ContentId, integrity: ContentIntegrity, contentUrls: [String], minFileSizeForPeering: Int? = nil,
                downloadMode: Int? = nil, publisherKeyId: String? = nil) {
        self.downloadMode = downloadMode
        self.contentId = contentId
        self.integrity = integrity
        self.contentUrls = contentUrls
        self.minFileSizeForPeering = minFileSizeForPeering
        self.publisherKeyId = publisherKeyId
    }
}

/// Looks contents up by ID or by URL: the engine's view of the control plane.
public protocol ContentDirectory: Sendable {
    /// The content's metadata; `nil` when the directory does not know it. Throws when the directory
    /// cannot be asked (unreachable, malformed answer), which the engine treats differently from "unknown",
    /// or when its answer is not vouched for by a trusted publisher (`DirectoryError.Kind.untrusted`).
    func lookup(contentId: ContentId?, url: String?) async throws(DirectoryError) -> DirectoryAnswer?

    /// True when an answer remembered from an earlier lookup may still be believed (the trust settings
    /// may have changed since it was saved).
    func trusts(remembered answer: DirectoryAnswer) -> Bool

    /// Joins (or re-joins) the content's swarm and returns the peers to connect to.
    func announce(_ announcement: SwarmAnnouncement) async throws(DirectoryError) -> SwarmAnnouncementAnswer
}

/// What a peer tells the swarm service about itself (DO's array join body, do-protocol.md 2.6).
public struct SwarmAnnouncement: Sendable {
    public var contentId: ContentId
    /// DO's `AltCatalogId`: the content's URL, when it has one.
    public var altCatalogId: String?
    public var peerId: String
    public var reportedIp: String
    /// The mask of the network `reportedIp` is on (`SubnetMask`).
    public var subnetMask: String
    /// The peer server's port; 0 when this member uploads nothing (DO's `RestrictedUpload`).
    public var port: Int
    /// Bytes from peers, cache hosts and the CDN together (`Downloaded`).
    public var downloaded: Int
    /// Bytes from the CDN alone (`DownloadedCdn`).
    public var downloadedCdn: Int
    /// Bytes from cache hosts (`DownloadedDoinc`).
    public var downloadedCacheHost: Int
    /// Bytes of this content served to peers (`Uploaded`).
    public var uploaded: Int
    public var left: Int
    /// The announcement is for a background download (`IsBackground`).
    public var isBackground: Bool
    /// DO's download mode: 1 LAN, 2 Group, 3 Internet.
    public var scope: Int
    public var groupId: String?
    public var peersWanted: Int
    /// Announce number; 0 is the first (DO's JoinRequestEvent 1, "started").
    public var seq: Int
}

/// The swarm service's answer: who else shares the content, and when to ask again.
public struct SwarmAnnouncementAnswer: Sendable {
    public struct Peer: Sendable {
        public var peerId: String
        public var host: String
        public var port: Int
        /// When it first joined the swarm, in ms on the service's clock; `nil` when the service does not say.
        public var joinedMs: Int64?

        public init(peerId: String, host: String, port: Int, joinedMs: Int64? = nil) {
            self.peerId = peerId
            self.host = host
            self.port = port
            self.joinedMs = joinedMs
        }
    }

    public var peers: [Peer]
    public var reannounceSeconds: Int
    /// When we first joined the swarm, on the service's clock (see `Peer.joinedMs`).
    public var joinedMs: Int64?

    public init(peers: [Peer], reannounceSeconds: Int, joinedMs: Int64? = nil) {
        self.peers = peers
        self.reannounceSeconds = reannounceSeconds
        self.joinedMs = joinedMs
    }
}

public struct DirectoryError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// The directory could not be asked, or its answer was unusable: may pass.
        case unavailable
        /// The directory answered, but no trusted publisher vouches for the answer.
        case untrusted
    }

    public let kind: Kind
    public let description: String

    public init(_ description: String, kind: Kind = .unavailable) {
        self.kind = kind
        self.description = description
    }
}

extension ContentDirectory {
    /// Without publisher keys to check against, whatever the directory said stays believed.
    public func trusts(remembered answer: DirectoryAnswer) -> Bool { true }
}
