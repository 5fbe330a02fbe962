import DOCore
import DOEngine
import Dispatch
import Foundation

extension Node {
    /// The contents the cache knows (`dofs cache ls`).
    public func cacheList() async -> [CachedContents.Listed] {
        await engine.writesDrained()
        let contents = engine.contents
        return await Self.offThePool { contents.list() }
    }

    /// Removes the pieces of `contentId`, or (`nil`) of every known content (`dofs cache evict`).
    ///
    /// A content open for reading on any mount, or being prefetched, is refused (not waited for): with
    /// an ID the call fails with who holds it; with `--all` it is left and named in `busy`. A reader that
    /// opened a piece before it went keeps reading it (POSIX), and a later read fetches it again.
    public func evict(contentId: String?) async throws(NodeError) -> EvictionReport {
        await engine.writesDrained()
        let contents = engine.contents
        var targets: [SHA256Digest]
        if let contentId {
            guard let id = try? ContentId(contentId) else { throw .unknownContent(contentId) }
            targets = await Self.offThePool { contents.hashes(of: id) }
            if targets.isEmpty { throw .unknownContent(contentId) }
        } else {
            targets = await Self.offThePool { contents.allHashes }
        }
        let listed = await cacheList()
        let idOf = Dictionary(listed.map { ($0.hashOfHashes, $0.contentId) }, uniquingKeysWith: { a, _ in a })
        let holders = self.holders()
        var busy: [String] = []
        targets = targets.filter { hoh in
            guard let why = holders[hoh] else { return true }
            busy.append("\(idOf[hoh.hex] ?? hoh.hex): \(why)")
            return false
        }
        if contentId != nil, let why = busy.first {
            throw .contentBusy("not evicted: \(why); close it (or wait for the prefetch) and evict again")
        }
        let chosen = targets
        let evicted = await Self.offThePool {
            chosen.compactMap { hoh in
                contents.evict(hoh).map { EvictionReport.Evicted(contentId: idOf[hoh.hex] ?? hoh.hex, pieces: $0.pieces, bytes: $0.bytes) }
            }
        }
        for item in evicted { logger.notice("cache: evicted \(item.contentId) (\(item.pieces) pieces, \(item.bytes) bytes)") }
        return EvictionReport(evicted: evicted, busy: busy)
    }

    /// Who holds each content in use now (readers on a mount, a prefetch): one pass over the opened
    /// contents of every mount.
    private func holders() -> [SHA256Digest: String] {
        var holders: [SHA256Digest: String] = [:]
        for mount in mounts {
            for content in mount.filesystem.openedContents where content.readers > 0 {
                guard case .verified(let phf) = content.session.mode, holders[phf.hashOfHashes] == nil else { continue }
                holders[phf.hashOfHashes] = "open for reading (\(content.readers) reader(s) of \(mount.request.mountpoint)/\(content.path))"
            }
        }
        for (hoh, path) in prefetches.running where holders[hoh] == nil {
            holders[hoh] = "being prefetched (\(path))"
        }
        return holders
    }

    /// Runs blocking work (file reads, unlinks) on a Dispatch thread, never the cooperative pool.
    static func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }
}
