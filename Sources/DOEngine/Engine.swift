import DOCore
import DOHTTP
import DOSwarm
import Foundation
import Logging
import Synchronization

/// The piece engine of one mount: opens contents (verified or simple) and owns what they share —
/// the piece store, the verified-metadata store, the HTTP client and the content directory.
///
/// How a content's trust mode is decided:
/// - a catalog entry with integrity metadata, or a content the directory (control plane) knows:
///   **verified**, once its pieces hash file is fetched and accepted;
/// - a URL the directory does not know, a directory that cannot be reached, or metadata that fails
///   its checks: **simple**, with the reason in the log and in the session. A simple session caused by
///   a transient failure is marked for revalidation, so the content turns verified when the directory
///   answers again.
/// Opening a verified content never needs the network when its pieces hash file is stored: the
/// trusted HashOfHashes names it locally. What the directory said is kept too (`MetadataStore`
/// records), so contents opened before keep opening verified while the directory is down.
///
/// An engine owns its cache folder (`CacheLock`) from its creation to its end: a second engine, or a
/// `dofs verify`, on the same folder is refused.
public final class Engine: Sendable {
    public let store: PieceStore
    public let metadata: MetadataStore
    /// Whole-file copies of complete contents, which FUSE passthrough serves (made when a mount asks).
    public let copies: WholeCopies
    /// The verified contents the cache knows, with kept piece counts (`dofs cache`).
    public let contents: CachedContents
    public let http: HTTPClient
    public let config: EngineConfiguration
    public let directory: (any ContentDirectory)?
    public let peering: PeeringConfiguration?
    public let cacheHosts: CacheHosts?
    /// The administrator's policy in force (DO's policy names), read at every decision it governs.
    public let policy: LivePolicy
    /// DO's download bandwidth policies on the CDN and cache-host path.
    public let throttle: DownloadThrottle
    /// This process's ownership of the cache folder, held for the engine's lifetime.
    public let cacheLock: CacheLock
    let logger: Logger
    private let sessions = Mutex<[String: ContentSession]>([:])

    public init(cacheDir: String, maxCacheBytes: Int? = nil, config: EngineConfiguration = .init(),
                http: HTTPClient = HTTPClient(), directory: (any ContentDirectory)? = nil,
                peering: PeeringConfiguration? = nil, cacheHosts: CacheHosts? = nil,
                policy: LivePolicy = LivePolicy(), logger: Logger = Logger(label: "dofs.engine")) throws {
        self.peering = peering
        self.policy = policy
        throttle = DownloadThrottle(policy: policy)
        self.cacheHosts = cacheHosts
        // The lock first: opening the stores deletes temporary files, which must be our own.
        cacheLock = try CacheLock(folder: cacheDir)
        store = try PieceStore(root: cacheDir + "/pieces", maxBytes: maxCacheBytes, configuration: config.pieceStore, logger: logger)
        metadata = try MetadataStore(root: cacheDir + "/metadata")
        copies = try WholeCopies(folder: cacheDir + "/whole", store: store, logger: logger)
        contents = CachedContents(store: store, metadata: metadata, copies: copies)
        if metadata.removedLeftovers > 0 {
            logger.info("metadata store: removed \(metadata.removedLeftovers) temporary file(s) left by an interrupted run")
        }
        self.http = http
        self.config = config
        self.directory = directory
        self.logger = logger
    }

    /// Opens a catalog entry: verified when it carries integrity metadata, simple otherwise.
    /// A catalog `size` must be what the content turns out to be (the kernel may have cached it), and
    /// a catalog `mtime` spares the HEAD that asks the origin for a date; embedded piece hashes spare
    /// the pieces hash file's fetch.
    public func open(_ entry: Catalog.Entry) async throws(FetchError) -> ContentSession {
        guard let integrity = entry.integrity else {
            let session = try await openSimple(url: entry.url, reason: "the catalog gives no integrity metadata")
            if let size = entry.size, size != session.layout.contentLength {
                throw .contentChanged(url: entry.url, detail: "the catalog says \(size) bytes, the origin serves \(session.layout.contentLength)")
            }
            return session
        }
        let session = try await openVerified(urls: [entry.url], integrity: integrity, contentId: nil, minPeeringBytes: nil,
                                             embedded: entry.embeddedPiecesHashFile, expectedLength: entry.size,
                                             givenModificationTime: entry.modificationTime)
        return named(session, entry)
    }

    /// A catalog entry opened on the calling thread, when that needs nothing to wait for: the entry
    /// embeds its pieces hash file and gives its date (its session may be open already). `nil` when
    /// it needs more (then `open(_:)` does it). Why: a FUSE `open` of such a file is answered on its worker
    /// thread, not after a hop to a task and back, which was a tenth of a small file's cold read.
    /// It may append a record to the kept PHF copies: call it where blocking on a local file is fine
    /// (a FUSE worker), not on the cooperative pool.
    public func openAtOnce(_ entry: Catalog.Entry) throws(FetchError) -> ContentSession? {
        guard let integrity = entry.integrity, let embedded = entry.embeddedPiecesHashFile,
              let date = entry.modificationTime else { return nil }
        let urls = [entry.url]
        if let s = sessions.withLock({ $0[Self.verifiedKey(integrity, urls)] }) { return s }
        keepCopyHere(embedded)
        let session = try verifiedSession(embedded, date: date, urls: urls, integrity: integrity, contentId: nil,
                                          minPeeringBytes: nil, contentDownloadMode: nil, expectedLength: entry.size,
                                          marksUse: false)
        return named(session, entry)
    }

    /// The session, after its content is given the entry's path as a name in the cache listing.
    private func named(_ session: ContentSession, _ entry: Catalog.Entry) -> ContentSession {
        if case .verified(let phf) = session.mode { contents.name(phf.hashOfHashes, entry.path.joined(separator: "/")) }
        return session
    }

    /// Opens a URL (`/by-url/`): verified if the directory knows it, simple otherwise.
    public func open(url: String) async throws(FetchError) -> ContentSession {
        guard let directory else {
            return try await openSimple(url: url, reason: "no control plane is configured (download mode 99)")
        }
        let answer: DirectoryAnswer?
        do {
            answer = try await directory.lookup(contentId: nil, url: url)
        } catch {
            if error.kind == .untrusted {
                // Never fall back to an earlier answer here: the directory did answer, and no trusted
                // publisher vouches for it. Asked again later, in case a trusted publisher signs it.
                return try await openSimple(url: url, reason: "its metadata is not signed by a trusted publisher (\(error))",
                                            transient: true)
            }
            if let known = metadata.loadRecord(key: .url(url)), directory.trusts(remembered: known) {
                logger.warning("\(RedactedURL.redacted(url)): control plane unreachable (\(error)); using what it said before",
                               metadata: ["url": "\(RedactedURL.redacted(url))", "content": "\(known.contentId)"])
                return try await openVerified(urls: Self.preferring(url, known.contentUrls), integrity: known.integrity,
                                              contentId: known.contentId, minPeeringBytes: known.minFileSizeForPeering,
                                              contentDownloadMode: known.downloadMode)
            }
            return try await openSimple(url: url, reason: "the control plane is unreachable: \(error)", transient: true)
        }
        guard let answer else {
            // Asked again later: the URL may be published meanwhile.
            return try await openSimple(url: url, reason: "the control plane does not know this URL", transient: true)
        }
        do {
            let session = try await openVerified(urls: Self.preferring(url, answer.contentUrls), integrity: answer.integrity,
                                                 contentId: answer.contentId, minPeeringBytes: answer.minFileSizeForPeering,
                                                 contentDownloadMode: answer.downloadMode)
            remember(answer, key: .url(url))
            return session
        } catch {
            // Metadata that cannot be fetched or fails its checks is never trusted; the bytes still are
            // fetchable, unverified, as DO does.
            return try await openSimple(url: url, reason: "its metadata was refused: \(error)", transient: !error.isMetadataRefusal)
        }
    }

    /// Opens a content by ID (`/by-id/`): it must be known to the directory (or have been before).
    public func open(contentId: ContentId) async throws(FetchError) -> ContentSession {
        let answer: DirectoryAnswer
        do {
            guard let directory else { throw DirectoryError("no control plane is configured (download mode 99)") }
            guard let found = try await directory.lookup(contentId: contentId, url: nil) else {
                throw FetchError.unknownContent(contentId.rawValue)
            }
            answer = found
        } catch let error as FetchError {
            throw error
        } catch let error as DirectoryError where error.kind == .untrusted {
            logger.warning("\(contentId): not shown: \(error)", metadata: ["content": "\(contentId)"])
            throw .untrustedContent(id: contentId.rawValue, reason: error.description)
        } catch {
            guard let known = metadata.loadRecord(key: .contentId(contentId)), directory?.trusts(remembered: known) ?? true else {
                throw .directoryUnavailable("\(error)")
            }
            logger.warning("\(contentId): control plane unreachable (\(error)); using what it said before",
                           metadata: ["content": "\(contentId)"])
            answer = known
        }
        let session = try await openVerified(urls: answer.contentUrls, integrity: answer.integrity,
                                             contentId: answer.contentId, minPeeringBytes: answer.minFileSizeForPeering,
                                             contentDownloadMode: answer.downloadMode)
        remember(answer, key: .contentId(contentId))
        return session
    }

    /// Opens a content whose pieces hash file is trusted through `integrity.hashOfHashes`, served
    /// from `urls` (tried in turn). It joins its swarm when peering is on and it is large enough
    /// (`minPeeringBytes` from the control plane, else the mount's minimum).
    public func openVerified(urls: [String], integrity: ContentIntegrity, contentId: ContentId?,
                             minPeeringBytes: Int?, contentDownloadMode: Int? = nil) async throws(FetchError) -> ContentSession {
        try await openVerified(urls: urls, integrity: integrity, contentId: contentId, minPeeringBytes: minPeeringBytes,
                               contentDownloadMode: contentDownloadMode, embedded: nil, expectedLength: nil, givenModificationTime: nil)
    }

    /// The same, with what a catalog entry may add: an `embedded` pieces hash file (already checked
    /// against `integrity`, so nothing is fetched), the length the content must have, and its date
    /// (then neither a HEAD nor a look at the kept date is needed).
    func openVerified(urls: [String], integrity: ContentIntegrity, contentId: ContentId?, minPeeringBytes: Int?,
                      contentDownloadMode: Int? = nil, embedded: PiecesHashFile?, expectedLength: Int?,
                      givenModificationTime: Date?) async throws(FetchError) -> ContentSession {
        if let s = sessions.withLock({ $0[Self.verifiedKey(integrity, urls)] }) { return s }
        let opened = try await withModificationTime(of: urls.first, given: givenModificationTime, integrity.hashOfHashes) { () async throws(FetchError) in
            if let embedded {
                self.keepCopy(of: embedded)
                return embedded
            }
            return try await self.piecesHashFile(integrity)
        }
        return try verifiedSession(opened.value, date: opened.date, urls: urls, integrity: integrity, contentId: contentId,
                                   minPeeringBytes: minPeeringBytes, contentDownloadMode: contentDownloadMode,
                                   expectedLength: expectedLength, marksUse: embedded == nil)
    }

    private static func verifiedKey(_ integrity: ContentIntegrity, _ urls: [String]) -> String {
        "verified|\(integrity.hashOfHashes.hex)|\(urls.joined(separator: " "))"
    }

    /// The session of a verified content whose pieces hash file and date are in hand (no I/O waited
    /// for): the one open already under the same key, else a new one, which joins its swarm.
    /// `marksUse`: the PHF's copy is marked used here (an embedded PHF's copy is, where it is kept).
    private func verifiedSession(_ phf: PiecesHashFile, date: Date?, urls: [String], integrity: ContentIntegrity,
                                 contentId: ContentId?, minPeeringBytes: Int?, contentDownloadMode: Int?,
                                 expectedLength: Int?, marksUse: Bool) throws(FetchError) -> ContentSession {
        let cacheKey = Self.verifiedKey(integrity, urls)
        if let expectedLength, expectedLength != phf.layout.contentLength {
            throw .metadata(url: integrity.piecesHashFileUrls.first ?? urls.first ?? "(catalog)",
                            .contentLengthDisagrees(declared: expectedLength, found: phf.layout.contentLength))
        }
        let sources = urls.map { HTTPSource(url: $0, contentLength: phf.layout.contentLength, client: http, throttle: throttle) }
        let id = contentId ?? phf.contentId
        let swarm = makeSwarm(contentId: id, phf: phf, url: urls.first, minPeeringBytes: minPeeringBytes,
                              contentDownloadMode: contentDownloadMode)
        // The piece count is kept from here on (see PieceTally), never counted when asked.
        let (tally, lastUse) = contents.register(phf, url: urls.first, marksUse: marksUse)
        let session = ContentSession(url: urls.first ?? "(no content URL)", layout: phf.layout, mode: .verified(phf),
                                     sources: sources, cacheHosts: cacheHosts, store: store, config: config,
                                     logger: logger, swarm: swarm, tally: tally, lastModified: date,
                                     lastUse: lastUse)
        let (chosen, isNew) = sessions.withLock { s -> (ContentSession, Bool) in
            if let existing = s[cacheKey] { return (existing, false) }
            s[cacheKey] = session
            return (session, true)
        }
        if isNew, let swarm {
            // What we hold already: connections to peers with nothing more are not interested.
            swarm.swarm.ours.formUnion(store.heldPieces(phf.pieces))
            swarm.start { [store] in
                zip(phf.pieces.indices, phf.pieces).reduce(0) { sum, p in
                    sum + (store.contains(.verified(p.1)) ? phf.layout.length(ofPiece: p.0) : 0)
                }
            }
            chosen.startServingAhead()
        }
        return chosen
    }

    /// Runs `open` while learning the content's date: `given` (the catalog's), else kept beside its
    /// PHF, else asked of `url` with one HEAD in parallel. The open waits for that answer at most
    /// `modificationTimeWaitSeconds` after it is done itself; a later answer is still kept for the next
    /// open. A file's date never fails or holds up an open for long.
    /// A `nil` url asks nothing (there is no URL).
    private func withModificationTime<T: Sendable>(of url: String?, given: Date?, _ hoh: SHA256Digest,
                                                   _ open: () async throws(FetchError) -> T) async throws(FetchError) -> (value: T, date: Date?) {
        if let given { return (try await open(), given) }
        if let known = metadata.modificationTime(hashOfHashes: hoh) { return (try await open(), known) }
        guard let url else { return (try await open(), nil) }
        let (metadata, http, logger) = (self.metadata, self.http, self.logger)
        let head = Task { () -> Date? in
            guard let date = await OriginProbe.lastModified(url: url, client: http) else { return nil }
            do {
                try metadata.saveModificationTime(date, hashOfHashes: hoh)
            } catch {
                logger.debug("cannot keep the date of \(RedactedURL.redacted(url)): \(error)")
            }
            return date
        }
        let value = try await open()
        let wait = config.modificationTimeWaitSeconds
        let date = await withTaskGroup(of: Date??.self) { group -> Date? in
            group.addTask { .some(await head.value) }
            group.addTask {
                try? await Task.sleep(for: .seconds(wait))
                return .none
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? nil
        }
        return (value, date)
    }

    private func makeSwarm(contentId: ContentId, phf: PiecesHashFile, url: String?, minPeeringBytes: Int?,
                           contentDownloadMode: Int?) -> SessionSwarm? {
        guard let peering, let directory else { return nil }
        let meta: Logger.Metadata = ["content": "\(contentId)"]
        // DOMinFileSizeToCache as in force now, raised (never lowered) by the control plane's minimum.
        let local = peering.policy != nil ? policy.current.minFileSizeToCacheBytes : peering.minContentBytes
        let minimum = max(local, minPeeringBytes ?? 0)
        guard phf.layout.contentLength >= minimum else {
            logger.info("\(contentId): \(phf.layout.contentLength) bytes is under the peering minimum of \(minimum); CDN only, still verified",
                        metadata: meta)
            return nil
        }
        if let refusal = PeeringEligibility.refusal(policy.current, cacheFolder: store.root) {
            logger.notice("\(contentId): no peering: \(refusal); CDN only, still verified", metadata: meta)
            return nil
        }
        var mode = peering.downloadMode
        if let lowered = contentDownloadMode, lowered < mode {
            guard [1, 2, 3].contains(lowered) else {
                logger.notice("\(contentId): its content policy sets download mode \(lowered): no peers (DO: DOWNLOADMODE_SET_BY_CP)",
                              metadata: meta)
                return nil
            }
            logger.info("\(contentId): its content policy lowers the download mode from \(mode) to \(lowered)", metadata: meta)
            mode = lowered
        }
        return SessionSwarm(contentId: contentId, hashOfHashes: phf.hashOfHashes, layout: phf.layout, config: peering,
                            altCatalogId: url, downloadMode: mode, directory: directory, logger: logger)
    }

    /// A peer joined our peer server for this content.
    func peerArrived(hashOfHashes: SHA256Digest, peerId: PeerId) {
        let swarms = sessions.withLock { $0.values.compactMap(\.swarm).filter { $0.hashOfHashes == hashOfHashes } }
        swarms.forEach { $0.peerArrived(peerId) }
    }

    /// The pieces of the content behind `hashOfHashes` being fetched from HTTP sources now, in any
    /// session of it: claimed to a peer that connects (`SharedContent.fetching`).
    func piecesFetchingFromHTTP(hashOfHashes: SHA256Digest) -> [Int] {
        let sessions = sessions.withLock { $0.values.filter { $0.swarm?.hashOfHashes == hashOfHashes } }
        return Array(Set(sessions.flatMap(\.piecesFetchingFromHTTP)))
    }

    /// Returns once every piece write that runs behind a reply now, in any content, has ended: what
    /// readers were answered with is then in the store, for a listing or a count that must show it.
    public func writesDrained() async {
        for session in sessions.withLock({ Array($0.values) }) where session.writesPending {
            await session.writesDrained()
        }
    }

    /// The pieces hash file of `session`'s content when the content may have a whole copy: verified
    /// and at least `wholeCopyMinBytes`.
    private func copyable(_ session: ContentSession) -> PiecesHashFile? {
        guard case .verified(let phf) = session.mode, phf.layout.contentLength >= config.wholeCopyMinBytes else { return nil }
        return phf
    }

    /// The whole copy of `session`'s content that passthrough may serve, marked used; `nil` when there
    /// is none (simple contents, contents under `wholeCopyMinBytes`, copies not made yet).
    public func wholeCopy(of session: ContentSession) -> String? {
        copyable(session).flatMap { copies.path(of: $0.hashOfHashes) }
    }

    /// Where the whole copy of `session`'s content stands; `nil` for contents that get none.
    public func wholeCopyProgress(of session: ContentSession) -> WholeCopies.Progress? {
        copyable(session).map { copies.progress(of: $0.hashOfHashes) }
    }

    /// Starts making the whole copy of `session`'s content in the background when it may have one, is
    /// complete once its pieces' writes end, and is neither copied nor being copied.
    public func offerWholeCopy(of session: ContentSession) {
        guard let phf = copyable(session), copies.progress(of: phf.hashOfHashes) == .none else { return }
        let copies = self.copies
        Task {
            await session.writesDrained()
            guard session.isComplete else { return }
            copies.offer(phf)
        }
    }

    /// Lets every piece write that runs behind a reply end, and leaves every swarm (at unmount).
    public func shutdown() async {
        copies.stop()
        await writesDrained()
        for session in sessions.withLock({ Array($0.values) }) {
            await session.swarm?.stop()
        }
        do {
            try metadata.flush()
        } catch {
            logger.warning("cannot keep the copies of catalog pieces hash files: \(error)")
        }
    }

    /// Opens any http(s) URL unverified: size and validator from the server, which must support ranges.
    /// A `transient` reason (the directory was unreachable) makes the session ask to be revalidated.
    public func openSimple(url: String, reason: String, transient: Bool = false) async throws(FetchError) -> ContentSession {
        let cacheKey = "simple|\(url)|\(transient)"
        if let s = sessions.withLock({ $0[cacheKey] }), !s.needsRevalidation { return s }
        let probe = try await OriginProbe.probe(url: url, client: http)
        let contentKey = SHA256.hash(Array("\(url)\n\(probe.validator ?? "")\n\(probe.contentLength)".utf8)).hex
        let source = HTTPSource(url: url, contentLength: probe.contentLength, validator: probe.validator, client: http,
                                throttle: throttle)
        let layout = PieceLayout(contentLength: probe.contentLength)
        logger.notice("\(RedactedURL.redacted(url)): simple mode (unverified) because \(RedactedURL.redactingURLs(in: reason))",
                      metadata: ["url": "\(RedactedURL.redacted(url))"])
        let revalidate = transient ? ContinuousClock.now + .seconds(config.revalidateSimpleSeconds) : nil
        let session = ContentSession(url: url, layout: layout, mode: .simple(contentKey: contentKey, reason: reason),
                                     sources: [source], cacheHosts: cacheHosts, store: store, config: config,
                                     logger: logger, revalidateAt: revalidate, lastModified: probe.lastModified)
        return sessions.withLock { s in
            if let existing = s[cacheKey], !existing.needsRevalidation { return existing }
            s[cacheKey] = session
            return session
        }
    }

    /// The trusted pieces hash file: from the metadata store, else fetched (each URL in turn) and
    /// checked, then stored.
    func piecesHashFile(_ integrity: ContentIntegrity) async throws(FetchError) -> PiecesHashFile {
        if let phf = metadata.load(hashOfHashes: integrity.hashOfHashes) { return phf }
        var failure = FetchError.metadataUnavailable("no pieces hash file URL")
        for url in integrity.piecesHashFileUrls.flatMap(viaCacheHosts) {
            do {
                let phf = try await fetchPiecesHashFile(url, integrity)
                do {
                    try metadata.save(phf)
                } catch {
                    logger.warning("cannot keep the pieces hash file of \(phf.contentId) on disk: \(error)", metadata: ["content": "\(phf.contentId)"])
                }
                logger.info("\(phf.contentId): pieces hash file from \(RedactedURL.redacted(url)) accepted (\(phf.layout.pieceCount) pieces of \(phf.layout.pieceSize) bytes)",
                            metadata: ["content": "\(phf.contentId)"])
                return phf
            } catch {
                logger.error("pieces hash file \(RedactedURL.redacted(url)): \(error)")
                failure = error
            }
        }
        throw failure
    }

    private func fetchPiecesHashFile(_ url: String, _ integrity: ContentIntegrity) async throws(FetchError) -> PiecesHashFile {
        let response: HTTPResponse
        do {
            response = try await http.send(HTTPRequest(url: url, maxBodyBytes: config.maxPiecesHashFileBytes))
        } catch {
            throw .transport(error)
        }
        guard response.status == 200 else { throw .httpStatus(url: url, status: response.status) }
        do throws(MetadataError) {
            let phf = try PiecesHashFile(json: response.body)
            try phf.verify(against: integrity.hashOfHashes, requireRecompute: integrity.recomputeHashOfHashes)
            return phf
        } catch {
            throw .metadata(url: url, error)
        }
    }

    /// A URL as fetched: through each usable cache host first (DO fetches the PHF from MCC too),
    /// then directly.
    private func viaCacheHosts(_ url: String) -> [String] {
        guard let cacheHosts, let origin = CacheHostURL.origin(of: url) else { return [url] }
        return cacheHosts.available(forOrigin: origin).compactMap { CacheHostURL.rewrite(url, cacheHost: $0)?.url } + [url]
    }

    /// Keeps a catalog-embedded pieces hash file in the metadata folder (or marks the kept copy used),
    /// off the caller's path.
    private func keepCopy(of phf: PiecesHashFile) {
        BlockingIO.queue.async { [self] in keepCopyHere(phf) }
    }

    /// `keepCopy` on the calling thread: one record appended to a local file (no sync), which costs
    /// less than waking a thread to do it.
    private func keepCopyHere(_ phf: PiecesHashFile) {
        do {
            try metadata.saveCopy(phf)
        } catch {
            logger.debug("cannot keep the pieces hash file of \(phf.contentId): \(error)")
        }
    }

    private func remember(_ answer: DirectoryAnswer, key: MetadataStore.RecordKey) {
        do {
            try metadata.saveRecord(answer, key: key)
        } catch {
            logger.warning("cannot keep the control plane's answer for \(answer.contentId): \(error)", metadata: ["content": "\(answer.contentId)"])
        }
    }

    /// `urls` with `first` moved to the front: the URL a reader named is the one to fetch from first.
    static func preferring(_ first: String, _ urls: [String]) -> [String] {
        [first] + urls.filter { $0 != first }
    }
}

extension FetchError {
    /// The metadata itself was refused (as opposed to not reachable): retrying will not help.
    var isMetadataRefusal: Bool {
        if case .metadata = self { return true }
        return false
    }
}
