import DOEngine
import DOFS
import Foundation

/// What `dofs status` shows: the node, its cache, and per mount and per opened content where the bytes
/// came from. Every number is a kept counter read when asked; nothing walks the pieces.
public struct NodeStatus: Codable, Sendable, Equatable {
    public var pid: Int32
    public var version: String
    public var uptimeSeconds: Double
    public var cache: CacheStatus
    public var mounts: [MountStatus]
    public var cacheHosts: [CacheHosts.HostState]
    /// Paths being prefetched in the background now.
    public var backgroundPrefetches: [String]
}

public struct CacheStatus: Codable, Sendable, Equatable {
    public var directory: String
    public var bytes: Int
    /// `nil`: no cap.
    public var capBytes: Int?
    public var pieces: Int
}

public struct MountStatus: Codable, Sendable, Equatable {
    public var mountpoint: String
    public var catalog: String?
    /// The sum over `contents` (see `FuseFilesystem.totals`).
    public var totals: MountTotals
    public var hitRate: Double?
    public var contents: [ContentStatus]
}

/// One content a mount opened.
public struct ContentStatus: Codable, Sendable, Equatable {
    /// Its path in the mount.
    public var path: String
    public var contentId: String?
    public var url: String
    /// `verified` or `simple`.
    public var mode: String
    public var modeReason: String?
    public var piecesHave: Int
    public var piecesTotal: Int
    public var contentLength: Int
    public var bytes: Traffic
    public var hitRate: Double?
    public var piecesInFlight: Int
    /// File handles open on it in this mount.
    public var readers: Int
    public var peersConnected: Int
    public var peersBanned: Int
    /// The scored source table of the content, best first (`nil` from a node that keeps none).
    public var sources: [SourceScore]? = nil
}

/// A running prefetch, sent every half second (and once more at the end).
public struct PrefetchProgress: Codable, Sendable, Equatable {
    public var path: String
    public var piecesDone: Int
    public var piecesTotal: Int
    public var bytesDone: Int
    public var bytesTotal: Int
    /// Bytes fetched for the content since the prefetch began, by source (a reader of it meanwhile adds to them).
    public var fetched: Traffic
    public var elapsedSeconds: Double
}

/// How a prefetch ended (its failure is the answer's `error`).
public struct PrefetchOutcome: Codable, Sendable, Equatable {
    public var path: String
    public var contentId: String?
    /// `verified`: every piece was checked against its hash; `simple`: stored, but nothing vouches for it.
    public var mode: String
    public var modeReason: String?
    public var piecesCached: Int
    public var piecesTotal: Int
    public var contentLength: Int
    public var fetched: Traffic
    public var elapsedSeconds: Double
    /// The node goes on fetching after answering (`--background`).
    public var background: Bool
}

/// What `dofs cache evict` removed, and what it left because it is in use.
public struct EvictionReport: Codable, Sendable, Equatable {
    public struct Evicted: Codable, Sendable, Equatable {
        public var contentId: String
        public var pieces: Int
        public var bytes: Int
    }

    public var evicted: [Evicted]
    /// Contents left alone, with why (open for reading, being prefetched).
    public var busy: [String]
}
