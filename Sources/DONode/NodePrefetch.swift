import DOCore
import DOEngine
import DOFS
import Foundation
import Synchronization

extension Node {
    /// Fetches the whole content at `path` (a file on one of this node's mounts) into the cache.
    ///
    /// In the foreground, `progress` is called every `progressInterval` with how far it is, and the
    /// outcome comes when every piece is stored, verified (simple-mode contents: stored, unverified).
    /// With `background`, it answers at once and the node goes on fetching; the outcome logged.
    /// Fails with the reason when the path is on no mount, the content cannot be opened, a piece cannot
    /// be fetched, or the cache cannot keep the whole content (a cap too small).
    public func prefetch(path: String, background: Bool, progressInterval: Duration = .milliseconds(500),
                         progress: @escaping @Sendable (PrefetchProgress) async throws -> Void) async throws(NodeError) -> PrefetchOutcome {
        let (mount, components) = try locate(path)
        let session: ContentSession
        do {
            session = try await mount.filesystem.session(atPath: components)
        } catch {
            throw .fetch(path: path, reason: error.reason)
        }
        var hoh: SHA256Digest?
        if case .verified(let phf) = session.mode { hoh = phf.hashOfHashes }
        let id = prefetches.begin(path: path, hashOfHashes: hoh, background: background)
        let started = ContinuousClock.now
        let before = session.traffic
        if background {
            let logger = self.logger, prefetches = self.prefetches
            let task = Task {
                defer { prefetches.end(id) }
                do throws(FetchError) {
                    // DO's background policies (bandwidth, delays) govern this fetch.
                    let fetched: Result<Void, FetchError> = await DownloadPriority.$current.withValue(.background) {
                        do throws(FetchError) {
                            try await session.fetchWhole { _ in }
                            return .success(())
                        } catch {
                            return .failure(error)
                        }
                    }
                    try fetched.get()
                    logger.notice("prefetch of \(path) done: \(session.havePieces)/\(session.layout.pieceCount) pieces cached")
                    mount.filesystem.fetchedWhole(session)
                } catch {
                    logger.error("prefetch of \(path) failed: \(error)")
                }
            }
            prefetches.attach(task, to: id)
            return outcome(path, session, fetched: Traffic(), since: started, background: true)
        }
        defer { prefetches.end(id) }
        let latest = LatestProgress()
        let report = { @Sendable () -> PrefetchProgress? in
            guard let p = latest.value.withLock({ $0 }) else { return nil }
            return PrefetchProgress(path: path, piecesDone: p.piecesDone, piecesTotal: p.piecesTotal, bytesDone: p.bytesDone,
                                    bytesTotal: p.bytesTotal, fetched: session.traffic - before,
                                    elapsedSeconds: (ContinuousClock.now - started).seconds)
        }
        // The fetch and a reporter side by side; when the reporter cannot write (the client left), the
        // fetch is cancelled: it starts no new piece (pieces in flight still land in the cache).
        let failure: FetchError? = await withTaskGroup(of: FetchError?.self) { group in
            group.addTask {
                do throws(FetchError) {
                    try await session.fetchWhole { p in latest.value.withLock { $0 = p } }
                    return nil
                } catch {
                    return error
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: progressInterval)
                    guard !Task.isCancelled, let p = report() else { continue }
                    do {
                        try await progress(p)
                    } catch {
                        return .pieceUnavailable(index: -1, attempts: 0, last: "the prefetch's client went away")
                    }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let failure { throw .fetch(path: path, reason: "\(failure)") }
        if let last = report() { try? await progress(last) }
        let result = outcome(path, session, fetched: session.traffic - before, since: started, background: false)
        guard result.piecesCached == result.piecesTotal else {
            let cap = engine.store.maxBytes.map { "the cache cap of \($0) bytes" } ?? "the cache"
            throw .fetch(path: path, reason: "fetched, but only \(result.piecesCached) of \(result.piecesTotal) pieces stayed in "
                         + "\(cap) (\(session.layout.contentLength) bytes needed); raise --cache-max-size or evict other contents")
        }
        mount.filesystem.fetchedWhole(session)
        return result
    }

    /// What a whole-content fetch of `session` came to (`dofs prefetch` and `dofs get` report the same).
    func outcome(_ path: String, _ session: ContentSession, fetched: Traffic, since started: ContinuousClock.Instant,
                 background: Bool) -> PrefetchOutcome {
        var reason: String?
        if case .simple(_, let why) = session.mode { reason = why }
        return PrefetchOutcome(path: path, contentId: session.contentId?.rawValue, mode: session.mode.name, modeReason: reason,
                               piecesCached: session.havePieces, piecesTotal: session.layout.pieceCount,
                               contentLength: session.layout.contentLength, fetched: fetched,
                               elapsedSeconds: (ContinuousClock.now - started).seconds, background: background)
    }

    /// The mount `path` lies on (the deepest mount point that contains it), and the path within it.
    func locate(_ path: String) throws(NodeError) -> (NodeMount, [String]) {
        let mounts = self.mounts.sorted { $0.request.mountpoint.count > $1.request.mountpoint.count }
        func within(_ candidate: String) -> (NodeMount, [String])? {
            for mount in mounts {
                let root = mount.request.mountpoint
                guard candidate == root || candidate.hasPrefix(root == "/" ? "/" : root + "/") else { continue }
                return (mount, candidate.dropFirst(root.count).split(separator: "/").map(String.init))
            }
            return nil
        }
        // As given first; resolving symlinks looks the path up, which on a mount would open the content
        // (and record a failure to open as a negative lookup), so only when the path is on no mount.
        if let found = within(path) ?? within(MountRequest.canonicalPath(path)) { return found }
        throw .notOnAMount(path)
    }
}

/// The last progress of a fetch, written by the fetch and read by its reporter.
private final class LatestProgress: Sendable {
    let value = Mutex<ContentSession.WholeFetchProgress?>(nil)
}
