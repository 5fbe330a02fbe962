import DOCore
import Foundation
import Synchronization

/// The verified contents a node's cache knows: each pieces hash file in `metadata/`, with its kept
/// piece count (`PieceTally`), its name and URL when known, and its last use. `dofs cache ls` lists
/// them and `dofs cache evict` removes their pieces.
///
/// ## Contract
/// - Counts are kept, never counted when asked: a content's tally is made once (when the content is
///   first opened, or when the first listing loads the metadata folder) and then follows the store's
///   reports. A listing reads a few numbers per content.
/// - The first `list` reads the PHFs in `metadata/` not known yet and recounts each (one short store
///   look-up per distinct piece, as at open). The registry's lock is never held over a file read, a
///   recount or a piece removal.
/// - `evict` removes every stored piece of the content, pieces it shares with another content included
///   (they are content-addressed: the other content fetches a shared piece again when it is read). Its
///   PHF stays, so the content is still listed (with no pieces) and opens verified without the network.
///   Whoever calls it refuses contents open for reading first (the node does, see `Node.evict`).
/// - Last use: the last read in this process, else the PHF file's modification time, which is set when
///   the content is opened (so it survives a restart).
public final class CachedContents: Sendable {
    /// One content as `dofs cache ls` shows it.
    public struct Listed: Codable, Sendable, Equatable {
        public var contentId: String
        public var hashOfHashes: String
        /// The catalog name it was opened under in this node's life, if any.
        public var name: String?
        /// Its content URL (credentials redacted), when the node saw one.
        public var url: String?
        public var piecesHave: Int
        public var piecesTotal: Int
        public var bytesStored: Int
        /// The bytes of its whole copy for passthrough (`WholeCopies`), beside the pieces; absent without one.
        public var copyBytes: Int?
        public var contentLength: Int
        /// ISO 8601, UTC.
        public var lastUse: String
    }

    private final class Known: Sendable {
        let contentId: ContentId
        let hashOfHashes: SHA256Digest
        let layout: PieceLayout
        let tally: PieceTally
        let lastUse: LastUse
        let label = Mutex<(name: String?, url: String?)>((nil, nil))

        init(_ phf: PiecesHashFile, lastUse: LastUse) {
            contentId = phf.contentId
            hashOfHashes = phf.hashOfHashes
            layout = phf.layout
            tally = PieceTally(phf)
            self.lastUse = lastUse
        }
    }

    private struct State {
        var known: [SHA256Digest: Known] = [:]
        var loadedFolder = false
    }

    private let store: PieceStore
    private let metadata: MetadataStore
    private let copies: WholeCopies?
    private let state = Mutex(State())

    init(store: PieceStore, metadata: MetadataStore, copies: WholeCopies? = nil) {
        self.store = store
        self.metadata = metadata
        self.copies = copies
    }

    /// The kept tally and last use of a content being opened (made and recounted on first use);
    /// `marksUse` dates its PHF file now (the caller does it otherwise, see `MetadataStore.saveCopy`).
    func register(_ phf: PiecesHashFile, url: String?, marksUse: Bool = true) -> (PieceTally, LastUse) {
        let known = known(phf, lastUse: LastUse())
        if marksUse { metadata.markUsed(hashOfHashes: phf.hashOfHashes) }
        known.lastUse.touch()
        if let url { known.label.withLock { $0.url = RedactedURL.redacted(url) } }
        return (known.tally, known.lastUse)
    }

    /// Records the catalog name a content was opened under.
    func name(_ hashOfHashes: SHA256Digest, _ name: String) {
        let known = state.withLock { $0.known[hashOfHashes] }
        known?.label.withLock { $0.name = name }
    }

    /// Every known content, largest stored first. Blocking (the first call reads the metadata folder):
    /// call it off the cooperative pool.
    public func list() -> [Listed] {
        loadFolderOnce()
        let all = state.withLock { Array($0.known.values) }
        let iso = ISO8601DateFormatter()
        return all.map { k in
            let (have, bytes) = k.tally.stored
            let label = k.label.withLock { $0 }
            return Listed(contentId: k.contentId.rawValue, hashOfHashes: k.hashOfHashes.hex, name: label.name, url: label.url,
                          piecesHave: have, piecesTotal: k.layout.pieceCount, bytesStored: bytes,
                          copyBytes: copies?.progress(of: k.hashOfHashes) == .ready ? k.layout.contentLength : nil,
                          contentLength: k.layout.contentLength, lastUse: iso.string(from: k.lastUse.date))
        }.sorted { ($0.bytesStored, $0.contentId) > ($1.bytesStored, $1.contentId) }
    }

    /// The hashes of the known contents with this ID (usually one).
    public func hashes(of contentId: ContentId) -> [SHA256Digest] {
        loadFolderOnce()
        return state.withLock { s in s.known.values.filter { $0.contentId == contentId }.map(\.hashOfHashes) }
    }

    /// The hashes of every known content.
    public var allHashes: [SHA256Digest] {
        loadFolderOnce()
        return state.withLock { Array($0.known.keys) }
    }

    /// Removes the stored pieces of a content, and its whole copy (see the contract); returns how many
    /// pieces and bytes left the cache, or `nil` for an unknown content. Blocking: one unlink per piece.
    public func evict(_ hashOfHashes: SHA256Digest) -> (pieces: Int, bytes: Int)? {
        guard let known = state.withLock({ $0.known[hashOfHashes] }) else { return nil }
        let copyBytes = copies?.remove(hashOfHashes) ?? 0
        let before = known.tally.stored
        for digest in known.tally.digests where store.contains(.verified(digest)) {
            store.remove(.verified(digest))
        }
        store.settleRemovals()
        let after = known.tally.stored
        return (before.pieces - after.pieces, before.bytes - after.bytes + copyBytes)
    }

    /// Evicts every content with stored pieces whose last use is before `cutoff` (DO's
    /// `DOMaxCacheAge`); returns the IDs evicted and the bytes freed. Blocking, like `evict`.
    public func evictUnused(before cutoff: Date) -> (contents: [ContentId], bytes: Int) {
        loadFolderOnce()
        let stale = state.withLock { s in s.known.values.filter { $0.lastUse.date < cutoff && $0.tally.stored.pieces > 0 } }
        var freed = 0
        for k in stale { freed += evict(k.hashOfHashes)?.bytes ?? 0 }
        return (stale.map(\.contentId), freed)
    }

    private func known(_ phf: PiecesHashFile, lastUse: LastUse) -> Known {
        let (known, isNew) = state.withLock { s -> (Known, Bool) in
            if let existing = s.known[phf.hashOfHashes] { return (existing, false) }
            let made = Known(phf, lastUse: lastUse)
            s.known[phf.hashOfHashes] = made
            return (made, true)
        }
        if isNew {
            store.watch(known.tally)
            known.tally.recount(in: store)
        }
        return known
    }

    private func loadFolderOnce() {
        let first = state.withLock { s -> Bool in
            defer { s.loadedFolder = true }
            return !s.loadedFolder
        }
        guard first else { return }
        let urls = metadata.records().reduce(into: [SHA256Digest: String]()) { map, answer in
            if let url = answer.contentUrls.first { map[answer.integrity.hashOfHashes] = map[answer.integrity.hashOfHashes] ?? url }
        }
        for hoh in metadata.storedHashes() where state.withLock({ $0.known[hoh] == nil }) {
            guard let phf = metadata.load(hashOfHashes: hoh) else { continue }
            let known = known(phf, lastUse: LastUse(metadata.lastUsed(hashOfHashes: hoh) ?? Date()))
            if let url = urls[hoh] { known.label.withLock { $0.url = $0.url ?? RedactedURL.redacted(url) } }
        }
    }
}
