import DOHTTP
import DOEngine
import DOFS
import Foundation

extension Node {
    /// The status once the piece writes pending now have ended, so that the pieces of a read that
    /// returned are counted (a file's `close` does not wait for them).
    public func settledStatus() async -> NodeStatus {
        await engine.writesDrained()
        return status
    }

    /// The node's status now: kept counters only (a few per mount and per opened content).
    public var status: NodeStatus {
        let mounts = self.mounts.map { mount -> MountStatus in
            let contents = mount.filesystem.openedContents.map(Self.contentStatus)
            let totals = mount.filesystem.totals
            return MountStatus(mountpoint: mount.request.mountpoint, catalog: mount.request.catalogPath, totals: totals,
                               hitRate: totals.bytes.hitRate, contents: contents)
        }
        let cache = CacheStatus(directory: configuration.cacheDirectory, bytes: engine.store.totalBytes,
                                capBytes: engine.store.maxBytes, pieces: engine.store.pieceCount)
        return NodeStatus(pid: getpid(), version: DofsVersion.current, uptimeSeconds: uptimeSeconds, cache: cache,
                          mounts: mounts, cacheHosts: engine.cacheHosts?.hostStates ?? [],
                          backgroundPrefetches: prefetches.backgroundPaths)
    }

    private static func contentStatus(_ content: FuseFilesystem.OpenedContent) -> ContentStatus {
        let session = content.session
        let traffic = session.traffic
        let peers = session.peers
        var reason: String?
        if case .simple(_, let why) = session.mode { reason = why }
        return ContentStatus(path: content.path, contentId: session.contentId?.rawValue, url: session.displayURL,
                             mode: session.mode.name, modeReason: reason, piecesHave: session.havePieces,
                             piecesTotal: session.layout.pieceCount, contentLength: session.layout.contentLength,
                             bytes: traffic, hitRate: traffic.hitRate, piecesInFlight: session.piecesInFlight,
                             readers: content.readers, peersConnected: peers.connected, peersBanned: peers.banned,
                             sources: session.sourceScores)
    }
}
