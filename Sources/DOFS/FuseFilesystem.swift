import DOCore
import DOEngine
import Foundation
import Logging
import Synchronization

/// What the mount answers to each FUSE operation. The C callbacks in `FuseOperations.swift` only
/// translate arguments and call in here.
///
/// No FUSE worker thread ever waits on the network: an operation that needs it (a lookup that opens
/// a content, a read of pieces not yet stored) starts a task that replies when done, and the worker
/// returns at once. Reads whose pieces are all stored are answered on the worker thread directly.
public final class FuseFilesystem: Sendable {
    /// Content does not change under a name, so the kernel may cache names and sizes for long.
    static let attributeTimeout = 3600.0

    let engine: Engine
    let namespace: Namespace
    let logger: Logger
    /// Whether OPEN is answered (the default). Without it (`dofs mount --no-open`) the first OPEN is
    /// answered ENOSYS and the kernel sends no OPEN or RELEASE any more (FUSE_NO_OPEN_SUPPORT): one
    /// round trip less per file read, measured 9% of a cold `cat` of 2,000 small files and a fifth of
    /// the daemon's CPU; but the mount no longer learns which files are open, so `dofs status` counts
    /// no readers and `dofs cache evict` does not refuse a content held open.
    let answersOpens: Bool
    /// Whether to ask the kernel for passthrough (the default; `dofs mount --no-passthrough` does not).
    let wantsPassthrough: Bool
    /// Set at INIT: the kernel and libfuse agreed on passthrough, so opens of contents with a whole
    /// copy are read by the kernel from the copy (see `InodeOpenModes`, `WholeCopies`).
    private let passthrough = Atomic<Bool>(false)
    private let openModes = Mutex(InodeOpenModes())
    /// Small files fetched ahead of their reader go straight into the kernel's page cache.
    let pageCache = KernelPageCache()
    /// Signalled once the kernel's INIT is handled: from then on the mount answers (see `FuseMount`).
    let kernelConnected = DispatchSemaphore(value: 0)
    private let negative = NegativeLookups()
    private let repeating = RepeatingLog()
    private let handles = Mutex<(next: UInt64, open: [UInt64: OpenFile])>((1, [:]))
    /// Without opens: the reader state of each content read, by inode (one per content, kept).
    private let unopened = Mutex<[UInt64: OpenFile]>([:])
    /// Contents this mount opened, by inode: what `dofs status` and `user.dofs.stats` report on.
    private let opened = Mutex<[UInt64: ContentNode]>([:])
    /// The name last opened in each catalog folder: a folder whose files are opened in name order
    /// (`cat dir/*`, `cp -r`, `tar`) gets its next files prefetched.
    private let lastOpened = Mutex<[UInt64: FolderReading]>([:])

    /// How a catalog folder is being read: the name opened last, the last name prefetched, and whether
    /// the start of the folder read after it was looked for (once per folder: `nextFolderStart`).
    private struct FolderReading {
        var last: String
        var prefetchedThrough: String?
        var lookedPastEnd = false
    }
    /// Files prefetched ahead of a folder read in order: single-piece files fetched ahead while the
    /// reader works through the current one hide a round trip per file on a LAN. They are fetched in
    /// batches (see `noteOpenedInOrder`): up to 16 ahead, once fewer than 8 are. That took a fifth to a
    /// third less of the daemon's CPU for a cold `cat` of 2,000 files than a sliding window of 8, which
    /// fetched one new file per open (`bench/RESULTS.md`, small files). Only files whose catalog entry
    /// embeds their one piece hash qualify (opening them costs no request), so at most 16 small pieces
    /// are fetched that the reader may not want.
    static let siblingPrefetchCount = 16

    /// A reader of one content: an open file, or (without opens) the content itself.
    struct OpenFile: Sendable {
        let node: ContentNode
        let session: ContentSession
        let pattern: ReadPattern

        init(node: ContentNode, session: ContentSession, config: EngineConfiguration) {
            self.node = node
            self.session = session
            pattern = ReadPattern(config: config)
        }
    }

    public init(engine: Engine, catalog: Catalog, answersOpens: Bool = true, passthrough: Bool = true,
                logger: Logger = Logger(label: "dofs.fs")) {
        self.engine = engine
        self.answersOpens = answersOpens
        wantsPassthrough = passthrough && answersOpens
        self.namespace = Namespace(catalog: catalog)
        self.logger = logger
    }

    // MARK: Names and attributes

    func lookup(_ req: Request, parent: UInt64, name: String) {
        if case .lookupDirectory(let kind)? = namespace.node(parent) {
            guard let (node, key) = lookedUpNode(kind, name: name) else { return req.error(ENOENT) }
            if let failed = negative.errno(for: key) { return req.error(failed) }
            return withSession(node, req) { node, session in
                req.entry(ino: node.ino, attributes: Attributes.file(ino: node.ino, size: session.layout.contentLength, modified: node.modificationTime(session)),
                          timeout: Self.timeout(for: session))
            }
        }
        guard let ino = namespace.child(of: parent, named: name), let node = namespace.node(ino) else {
            return req.error(ENOENT)
        }
        switch node {
        case .directory, .lookupDirectory:
            req.entry(ino: ino, attributes: Attributes.directory(ino: ino), timeout: Self.attributeTimeout)
        case .content(let content):
            if let attributes = content.catalogAttributes { return req.entry(ino: ino, attributes: attributes, timeout: Self.attributeTimeout) }
            withSession(content, req) { node, session in
                req.entry(ino: node.ino, attributes: Attributes.file(ino: node.ino, size: session.layout.contentLength, modified: node.modificationTime(session)),
                          timeout: Self.timeout(for: session))
            }
        }
    }

    /// The node a name under `/by-url/` or `/by-id/` stands for; `nil` (ENOENT) for a malformed name.
    /// Also returns the node's key in the negative cache.
    private func lookedUpNode(_ kind: LookupKind, name: String) -> (ContentNode, String)? {
        switch kind {
        case .url:
            guard let url = URLName.decode(name), HTTPURL.isValid(url) else {
                let shown = RedactedURL.redactingURLs(in: URLName.decode(name) ?? name)
                repeating.log(logger, .warning, kind: "by-url name", "by-url: '\(shown.prefix(120))' does not decode to an http(s) URL")
                return nil
            }
            return (namespace.lookedUpNode(.url, key: url, origin: .url(url)), "url " + url)
        case .contentId:
            guard let id = try? ContentId(name) else {
                repeating.log(logger, .warning, kind: "by-id name", "by-id: '\(name.prefix(120))' is not a valid content ID")
                return nil
            }
            return (namespace.lookedUpNode(.contentId, key: id.rawValue, origin: .contentId(id)), "id " + id.rawValue)
        }
    }

    /// A session that will be revalidated soon must not be cached by the kernel for long.
    static func timeout(for session: ContentSession) -> Double {
        session.revalidateAt == nil ? attributeTimeout : 1
    }

    func getattr(_ req: Request, ino: UInt64) {
        switch namespace.node(ino) {
        case nil:
            req.error(ENOENT)
        case .directory?, .lookupDirectory?:
            req.attributes(Attributes.directory(ino: ino), timeout: Self.attributeTimeout)
        case .content(let content)?:
            if let attributes = content.catalogAttributes { return req.attributes(attributes, timeout: Self.attributeTimeout) }
            withSession(content, req) { node, session in
                req.attributes(Attributes.file(ino: node.ino, size: session.layout.contentLength, modified: node.modificationTime(session)), timeout: Self.timeout(for: session))
            }
        }
    }

    /// A folder's entries; with `plus` (READDIRPLUS), each with its attributes where they are known
    /// without opening anything (`knownAttributes`).
    func readdir(_ req: Request, ino: UInt64, size: Int, offset: Int, plus: Bool) {
        guard let listing = namespace.listing(of: ino) else { return req.error(ENOTDIR) }
        // The dots carry no attributes: the kernel makes no entry for them.
        let dots = [DirectoryBuffer.Entry(name: ".", ino: ino, isDirectory: true),
                    DirectoryBuffer.Entry(name: "..", ino: Namespace.rootIno, isDirectory: true)]
        req.bytes(DirectoryBuffer.encode(count: listing.count + 2, entry: { i in
            if i < 2 { return dots[i] }
            let listed = listing[i - 2]
            var entry = DirectoryBuffer.Entry(name: listed.name, ino: listed.ino, isDirectory: listed.isDirectory)
            if plus { entry.attributes = knownAttributes(listed.ino) }
            return entry
        }, from: offset, maxBytes: size, plus: plus, request: req))
    }

    /// A node's attributes when no content has to be opened for them: a folder's; a content's from
    /// its catalog entry (which gives its size) or from its open session.
    private func knownAttributes(_ ino: UInt64) -> (stat, timeout: Double)? {
        switch namespace.node(ino) {
        case nil: return nil
        case .directory?, .lookupDirectory?: return (Attributes.directory(ino: ino), Self.attributeTimeout)
        case .content(let content)?:
            if let attributes = content.catalogAttributes { return (attributes, Self.attributeTimeout) }
            guard let session = content.session.withLock({ $0 }), !session.needsRevalidation else { return nil }
            return (Attributes.file(ino: ino, size: session.layout.contentLength, modified: content.modificationTime(session)),
                    Self.timeout(for: session))
        }
    }

    // MARK: Files

    /// Called at INIT with whether passthrough was agreed on.
    func connected(passthrough: Bool) {
        self.passthrough.store(passthrough, ordering: .relaxed)
        if passthrough { logger.info("passthrough on: complete contents are read from their whole copies by the kernel") }
        kernelConnected.signal()
    }

    /// Opens a file; `reply` gets its handle and the backing id the kernel reads it from (0: dofs serves it).
    func open(_ req: Request, ino: UInt64, flags: Int32, reply: @escaping @Sendable (UInt64, Int32) -> Void) {
        guard case .content(let content)? = namespace.node(ino) else { return req.error(EISDIR) }
        guard flags & O_ACCMODE == O_RDONLY else { return req.error(EROFS) }
        guard answersOpens else { return req.error(ENOSYS) }
        withSession(content, req) { [self] node, session in
            let fh = handles.withLock { h -> UInt64 in
                let fh = h.next
                h.next += 1
                h.open[fh] = OpenFile(node: node, session: session, config: engine.config)
                return fh
            }
            let backingId = passthrough.load(ordering: .relaxed)
                ? openModes.withLock { $0.open(node.ino) { backing(req, session) } } : 0
            // Its reads may never reach dofs (passthrough, or a page cache filled ahead of it): the open is
            // the use the cache's age policy sees.
            session.lastUse.touch()
            if backingId > 0 { FuseMetrics.passthroughOpens.increment() }
            reply(fh, backingId)
        }
        // After the reply: opening the next files' sessions to prefetch them is no reason for this
        // reader to wait (it read on while this worker did it: 40 µs of the open, per file, before).
        noteOpenedInOrder(content)
    }

    func release(_ req: Request, fh: UInt64) {
        let file = handles.withLock { $0.open.removeValue(forKey: fh) }
        if let file, passthrough.load(ordering: .relaxed) {
            let (served, closing) = openModes.withLock { $0.release(file.node.ino) }
            if let closing { req.passthroughClose(closing) }
            // A content read whole through dofs gets its copy now, for the next open.
            if served { engine.offerWholeCopy(of: file.session) }
        }
        req.error(0)
    }

    /// A content fetched whole outside a read (`dofs prefetch`) gets its copy for the next open, as one
    /// read whole does at its release.
    public func fetchedWhole(_ session: ContentSession) {
        if passthrough.load(ordering: .relaxed) { engine.offerWholeCopy(of: session) }
    }

    /// Registers the whole copy of `session`'s content with the kernel; its backing id, or 0 when there
    /// is no copy or the kernel refuses it (then dofs serves the file, as without passthrough).
    private func backing(_ req: Request, _ session: ContentSession) -> Int32 {
        guard let path = engine.wholeCopy(of: session) else { return 0 }
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            repeating.log(logger, .warning, kind: "whole copy", "cannot open the whole copy \(path): \(String(cString: strerror(errno)))")
            return 0
        }
        defer { close(fd) }
        let id = req.passthroughOpen(fd)
        if id <= 0 {
            repeating.log(logger, .warning, kind: "passthrough", "the kernel refused \(path) as a backing file: \(String(cString: strerror(errno))); dofs serves its reads")
        }
        return id
    }

    /// A read of an open file (`fh`), or without opens (`fh` 0) of the content at `ino`.
    func read(_ req: Request, ino: UInt64, fh: UInt64, size: Int, offset: Int) {
        guard fh != 0 else { return readUnopened(req, ino: ino, size: size, offset: offset) }
        guard let file = handles.withLock({ $0.open[fh] }) else { return req.error(EBADF) }
        read(req, file, size: size, offset: offset)
    }

    /// A read without opens: the content's session found by inode, as an open would; the first read
    /// of a file stands for its open in telling whether its folder is read in order.
    private func readUnopened(_ req: Request, ino: UInt64, size: Int, offset: Int) {
        if let file = unopened.withLock({ $0[ino] }), !file.session.needsRevalidation {
            return read(req, file, size: size, offset: offset)
        }
        guard case .content(let content)? = namespace.node(ino) else { return req.error(EBADF) }
        withSession(content, req) { [self] node, session in
            let file = unopened.withLock { files -> OpenFile in
                if let kept = files[ino], kept.session === session { return kept }
                files[ino] = OpenFile(node: node, session: session, config: engine.config)
                return files[ino]!
            }
            read(req, file, size: size, offset: offset)
        }
        noteOpenedInOrder(content)
    }

    private func read(_ req: Request, _ file: OpenFile, size: Int, offset: Int) {
        let started = ContinuousClock.now
        let session = file.session
        logger.trace("read \(size) at \(offset) of \(session.displayURL)")
        let ahead = file.pattern.record(offset: offset, length: size, layout: session.layout)
        // A read answered from the store starts its readahead after the reply, which does not wait for it.
        let answered = Self.replyFromStore(req, session, offset: offset, size: size)
        session.prefetch(ahead)
        if answered { return FuseMetrics.readSeconds.record(since: started) }
        let logger = self.logger, repeating = self.repeating
        Task {
            do throws(FetchError) {
                req.bytes(try await session.read(offset: offset, length: size))
                FuseMetrics.readSeconds.record(since: started)
            } catch {
                repeating.log(logger, .error, kind: "read \(session.url)",
                              "read of \(size) bytes at \(offset) of \(session.displayURL) failed: \(error)",
                              metadata: session.logMetadata)
                req.error(error.errno)
                FuseMetrics.readSeconds.record(since: started)
            }
        }
    }

    /// Answers a read whose pieces are all stored, on this thread; false (nothing replied) when one is
    /// missing. Pieces committed lately are answered from memory (their files were written past the
    /// page cache); a read inside one other stored piece goes straight from its file. libfuse consumes
    /// the request whether or not a reply succeeds, so there is no second try on these paths.
    private static func replyFromStore(_ req: Request, _ session: ContentSession, offset: Int, size: Int) -> Bool {
        if let held = session.readRecent(offset: offset, length: size) {
            req.bytes(held)
            return true
        }
        if session.withLocalPieceFile(offset: offset, length: size, { fd, at, count in req.file(fd, offset: at, length: count) }) != nil {
            return true
        }
        guard let local = session.readLocal(offset: offset, length: size) else { return false }
        req.bytes(local)
        return true
    }

    /// Prefetches the next small files of `node`'s folder when the folder is being read in name order
    /// (this file comes after the one opened before it there), and, near the folder's end, the first
    /// files of the folder a walk of the tree reads next.
    private func noteOpenedInOrder(_ node: ContentNode) {
        pageCache.retryDeclined(in: node.parent)
        guard let name = node.name else { return }
        let listed = namespace.entries(after: name, in: node.parent, count: Self.siblingPrefetchCount)
        // In batches: once half a window is left ahead of the reader, the files up to a whole window
        // ahead are fetched together, so one wake-up of each thread on the way serves several files.
        // Near the folder's end (the window reaches past it), the next folder's start, once.
        let (lookPastEnd, fresh) = lastOpened.withLock { folders -> (Bool, ArraySlice<Namespace.Listed>) in
            let before = folders[node.parent]
            var reading = before ?? FolderReading(last: name)
            reading.last = name
            defer { folders[node.parent] = reading }
            guard let before, before.last < name else { return (false, []) }
            let lookPastEnd = !before.lookedPastEnd && listed.count < Self.siblingPrefetchCount
            if lookPastEnd { reading.lookedPastEnd = true }
            guard let last = listed.last else { return (lookPastEnd, []) }
            let ahead = before.prefetchedThrough.flatMap { $0 > name ? $0 : nil }
            let half = listed.count / 2
            if let ahead, half > 0, ahead >= listed[listed.startIndex + half - 1].name { return (lookPastEnd, []) }
            reading.prefetchedThrough = last.name
            return (lookPastEnd, listed.drop { entry in ahead.map { entry.name <= $0 } ?? false })
        }
        var toFetch = Array(fresh)
        if lookPastEnd { toFetch += nextFolderStart(after: node.parent) }
        let upcoming = toFetch.compactMap { listed -> ContentNode? in
            guard !listed.isDirectory, case .content(let sibling)? = namespace.node(listed.ino),
                  case .catalog(let entry) = sibling.origin, entry.embeddedPiecesHashFile?.layout.pieceCount == 1 else { return nil }
            return sibling
        }
        // Most open at once (their entries give a date); the others on a task.
        let later = upcoming.filter { sibling in
            guard let session = sessionAtOnce(sibling) else { return true }
            prefetchSibling(sibling, session)
            return false
        }
        guard !later.isEmpty else { return }
        Task {
            for sibling in later {
                guard let session = try? await session(of: sibling) else { continue }
                prefetchSibling(sibling, session)
            }
        }
    }

    /// Fetches a single-piece file ahead of its reader. With opens answered, the verified file also goes
    /// into the kernel's page cache, so its reader's READ never reaches dofs (see `KernelPageCache`).
    /// Without opens it does not: a file's first READ is then what tells dofs that its folder is read on
    /// (`readUnopened`), and filled files would end the prefetch at each batch's end.
    private func prefetchSibling(_ node: ContentNode, _ session: ContentSession) {
        let whole = 0..<session.layout.pieceCount
        guard answersOpens else { return session.prefetch(whole) }
        let pageCache = self.pageCache, ino = node.ino, folder = node.parent
        // Weak: the session holds this watcher until a fetch of the piece succeeds.
        session.prefetch(whole) { [weak session] piece in
            let owner = session
            // Once the kernel holds it, its reader will not read it from dofs's memory.
            pageCache.fill(ino: ino, folder: folder, with: piece) { owner?.handedOver(piece: 0) }
        }
    }

    /// The first files of the folder a depth-first walk of the tree in listing order reads after
    /// `folder` (`cp -r`, `tar`, `find | sort | xargs cat`), half a window of them, once: the folder is
    /// marked read in order up to them, so its first open goes on prefetching in batches. Without it,
    /// the first two files of every folder waited for their fetch, two round trips to the origin per
    /// folder (`bench/RESULTS.md`, small files).
    private func nextFolderStart(after folder: UInt64) -> [Namespace.Listed] {
        guard let next = namespace.nextFilesInTreeOrder(after: folder, count: Self.siblingPrefetchCount / 2),
              let last = next.files.last else { return [] }
        let claimed = lastOpened.withLock { folders -> Bool in
            guard folders[next.folder] == nil else { return false }
            folders[next.folder] = FolderReading(last: "", prefetchedThrough: last.name)
            return true
        }
        return claimed ? Array(next.files) : []
    }

    // MARK: Extended attributes

    func getxattr(_ req: Request, ino: UInt64, name: String, size: Int) {
        if ino == Namespace.rootIno, name == ExtendedAttributes.stats {
            return req.xattr(Array(ExtendedAttributes.statsJSON(totals).utf8), callerSize: size)
        }
        guard case .content(let content)? = namespace.node(ino), let session = content.session.withLock({ $0 }) else {
            return req.error(ENODATA)
        }
        if name == ExtendedAttributes.copy {
            guard let progress = engine.wholeCopyProgress(of: session) else { return req.error(ENODATA) }
            return req.xattr(Array(progress.rawValue.utf8), callerSize: size)
        }
        if name == ExtendedAttributes.pieces, session.writesPending {
            // Pieces a reader was answered with ahead of their disk write are counted once stored, so
            // a read that returned is counted whole (a `close` no longer waits for the writes).
            Task {
                await session.writesDrained()
                Self.replyAttribute(req, name, of: session, callerSize: size)
            }
            return
        }
        Self.replyAttribute(req, name, of: session, callerSize: size)
    }

    private static func replyAttribute(_ req: Request, _ name: String, of session: ContentSession, callerSize: Int) {
        guard let value = ExtendedAttributes.value(name, of: session) else { return req.error(ENODATA) }
        req.xattr(Array(value.utf8), callerSize: callerSize)
    }

    func listxattr(_ req: Request, ino: UInt64, size: Int) {
        if ino == Namespace.rootIno { return req.xattr(Array(ExtendedAttributes.stats.utf8) + [0], callerSize: size) }
        guard case .content(let content)? = namespace.node(ino), let session = content.session.withLock({ $0 }) else {
            return req.xattr([], callerSize: size)
        }
        let names = ExtendedAttributes.names(of: session) + (engine.wholeCopyProgress(of: session) == nil ? [] : [ExtendedAttributes.copy])
        req.xattr(names.flatMap { Array($0.utf8) + [0] }, callerSize: size)
    }

    // MARK: Opening contents

    /// Runs `body` with the content's session, opening it first (on a task) if needed; replies the
    /// error itself when the content cannot be opened.
    private func withSession(_ node: ContentNode, _ req: Request,
                             _ body: @escaping @Sendable (ContentNode, ContentSession) -> Void) {
        if let session = sessionAtOnce(node) { return body(node, session) }
        Task {
            do throws(FetchError) {
                body(node, try await session(of: node))
            } catch {
                req.error(error.errno)
            }
        }
    }

    /// The content's session if it is open, or opens without waiting (`Engine.openAtOnce`: a catalog
    /// entry that embeds its pieces hash file and gives its date); `nil` when opening it needs a task.
    /// A failure to open at once is left to `session(of:)`, which reports it.
    private func sessionAtOnce(_ node: ContentNode) -> ContentSession? {
        if let session = node.session.withLock({ $0 }), !session.needsRevalidation { return session }
        guard case .catalog(let entry) = node.origin, let session = try? engine.openAtOnce(entry) else { return nil }
        return adopt(session, node)
    }

    /// The content's session, opened (or revalidated) now if needed.
    private func session(of node: ContentNode) async throws(FetchError) -> ContentSession {
        if let session = node.session.withLock({ $0 }), !session.needsRevalidation { return session }
        do {
            let session: ContentSession
            switch node.origin {
            case .catalog(let entry): session = try await engine.open(entry)
            case .url(let url): session = try await engine.open(url: url)
            case .contentId(let id): session = try await engine.open(contentId: id)
            }
            return adopt(session, node)
        } catch {
            logger.error("cannot open \(node.describe): \(error)", metadata: node.logMetadata)
            // A looked-up name that cannot be opened leaves the tree; its failure is kept briefly.
            switch node.origin {
            case .url(let url):
                namespace.forget(.url, key: url, node: node)
                negative.record("url " + url, errno: error.errno)
            case .contentId(let id):
                namespace.forget(.contentId, key: id.rawValue, node: node)
                negative.record("id " + id.rawValue, errno: error.errno)
            case .catalog:
                break
            }
            throw error
        }
    }

    /// Makes `session` the node's, unless another (not due for revalidation) got there first; returns
    /// the node's session.
    private func adopt(_ session: ContentSession, _ node: ContentNode) -> ContentSession {
        let current = node.session.withLock { current -> ContentSession in
            if current == nil || current!.needsRevalidation { current = session }
            return current!
        }
        opened.withLock { $0[node.ino] = node }
        return current
    }
}

extension ContentNode {
    /// The attributes of a catalog file that gives its size, while it is not open: a listing of a cold
    /// mount then needs no request (the content is opened, and its size checked, at `open`). Once it is
    /// open, its session answers.
    var catalogAttributes: stat? {
        guard case .catalog(let entry) = origin, let size = entry.size, session.withLock({ $0 }) == nil else { return nil }
        return Attributes.file(ino: ino, size: size, modified: entry.modificationTime)
    }

    /// The catalog's `mtime` first (the publisher said so), else the origin's `Last-Modified`.
    func modificationTime(_ session: ContentSession) -> Date? {
        if case .catalog(let entry) = origin, let given = entry.modificationTime { return given }
        return session.lastModified
    }

    /// The content a log line about this node concerns.
    var logMetadata: Logger.Metadata {
        switch origin {
        case .catalog(let e): return ["url": "\(RedactedURL.redacted(e.url))"]
        case .url(let u): return ["url": "\(RedactedURL.redacted(u))"]
        case .contentId(let id): return ["content": "\(id)"]
        }
    }

    var describe: String {
        switch origin {
        case .catalog(let e): return "'\(e.path.joined(separator: "/"))' (\(RedactedURL.redacted(e.url)))"
        case .url(let u): return RedactedURL.redacted(u)
        case .contentId(let id): return id.rawValue
        }
    }
}

// MARK: - What the node asks of a mount

extension FuseFilesystem {
    /// One content this mount opened, for `dofs status`.
    public struct OpenedContent: Sendable {
        /// Its path in the mount (`name`, `by-url/<encoded URL>`, `by-id/<id>`).
        public let path: String
        public let session: ContentSession
        /// File handles open on it now.
        public let readers: Int
    }

    /// Why a path cannot be fetched through this mount.
    public enum PathError: Error, Sendable, CustomStringConvertible {
        case notFound(String)
        case notAFile(String)
        case cannotOpen(String, FetchError)
        /// It failed to open moments ago (the failure is kept briefly, see `NegativeLookups`).
        case failedRecently(String, errno: Int32)

        public var description: String {
            switch self {
            case .notFound(let p), .notAFile(let p), .cannotOpen(let p, _), .failedRecently(let p, _): return "\(p): \(reason)"
            }
        }

        /// What went wrong, without the path (for a caller that names the path itself).
        public var reason: String {
            switch self {
            case .notFound: return "no such file on the mount"
            case .notAFile: return "a folder, not a content file"
            case .cannotOpen(_, let e): return "cannot open: \(e)"
            case .failedRecently(_, let e):
                return "failed to open moments ago (\(String(cString: strerror(e)))); see the node's log, or retry in a few seconds"
            }
        }
    }

    /// The session of the content at `components` (relative to the mount root), opened as a lookup
    /// and an open would: catalog names, `by-url/<percent-encoded URL>` and `by-id/<content ID>`.
    public func session(atPath components: [String]) async throws(PathError) -> ContentSession {
        let shown = components.joined(separator: "/")
        var ino = Namespace.rootIno
        for (i, name) in components.enumerated() {
            if case .lookupDirectory(let kind)? = namespace.node(ino) {
                guard i == components.count - 1, let (node, key) = lookedUpNode(kind, name: name) else { throw .notFound(shown) }
                if let failed = negative.errno(for: key) { throw .failedRecently(shown, errno: failed) }
                return try await openForNode(node, shown)
            }
            guard let child = namespace.child(of: ino, named: name) else { throw .notFound(shown) }
            ino = child
        }
        guard case .content(let node)? = namespace.node(ino) else { throw .notAFile(shown) }
        return try await openForNode(node, shown)
    }

    private func openForNode(_ node: ContentNode, _ shown: String) async throws(PathError) -> ContentSession {
        do {
            return try await session(of: node)
        } catch {
            throw .cannotOpen(shown, error)
        }
    }

    /// The contents this mount opened, with their readers (O(contents + open files), no piece walked).
    public var openedContents: [OpenedContent] {
        let nodes = opened.withLock { Array($0.values) }.sorted { $0.ino < $1.ino }
        let readers = handles.withLock { h in
            h.open.values.reduce(into: [UInt64: Int]()) { $0[$1.node.ino, default: 0] += 1 }
        }
        return nodes.compactMap { node in
            guard let session = node.session.withLock({ $0 }) else { return nil }
            return OpenedContent(path: node.path, session: session, readers: readers[node.ino] ?? 0)
        }
    }

    /// The mount's totals: the sum over the contents it opened (a content open in two mounts of one
    /// node is one session, counted in both).
    public var totals: MountTotals {
        var t = MountTotals()
        for content in openedContents {
            t.contents += 1
            t.bytes = t.bytes + content.session.traffic
            t.piecesInFlight += content.session.piecesInFlight
            t.readers += content.readers
        }
        return t
    }
}

/// A mount's totals, as `user.dofs.stats` and `dofs status` give them.
public struct MountTotals: Codable, Sendable, Equatable {
    public var contents = 0
    public var readers = 0
    public var piecesInFlight = 0
    public var bytes = Traffic()

    public init() {}
}

extension ContentNode {
    /// The node's path in the mount.
    var path: String {
        switch origin {
        case .catalog(let e): return e.path.joined(separator: "/")
        case .url(let u): return Namespace.byURLName + "/" + URLName.encode(u)
        case .contentId(let id): return Namespace.byIdName + "/" + id.rawValue
        }
    }
}
