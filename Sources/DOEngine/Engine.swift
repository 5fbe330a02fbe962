/// The piece engine of one mount: opens contents (verified or simple) and owns what they share —
/// the piece store, the verified-metadata store and the HTTP client.
///
/// Opening a verified content never needs the network when its pieces hash file is already stored:
/// the trusted HashOfHashes from the catalog names it locally, which is what lets cached content read
/// with the origin down. A simple-mode content asks its server for its size and validator each time.
import DOCore
import DOHTTP
import Foundation
import Logging
import Synchronization

public final class Engine: Sendable {
    public let store: PieceStore
    public let metadata: MetadataStore
    public let http: HTTPClient
    public let config: EngineConfiguration
    let logger: Logger
    private let sessions = Mutex<[String: ContentSession]>([:])

    public init(cacheDir: String, maxCacheBytes: Int? = nil, config: EngineConfiguration = .init(),
                http: HTTPClient = HTTPClient(), logger: Logger = Logger(label: "dofs.engine")) throws {
        store = try PieceStore(root: cacheDir + "/pieces", maxBytes: maxCacheBytes, logger: logger)
        metadata = try MetadataStore(root: cacheDir + "/metadata")
        self.http = http
        self.config = config
        self.logger = logger
    }

    /// Opens a catalog entry: verified when it carries integrity metadata, simple otherwise.
    public func open(_ entry: Catalog.Entry) async throws(FetchError) -> ContentSession {
        guard let integrity = entry.integrity else {
            return try await openSimple(url: entry.url, reason: "the catalog gives no integrity metadata")
        }
        return try await openVerified(url: entry.url, integrity: integrity)
    }

    /// Opens a content whose pieces hash file is trusted through `integrity.hashOfHashes`.
    public func openVerified(url: String, integrity: Catalog.Integrity) async throws(FetchError) -> ContentSession {
        let cacheKey = "verified|\(integrity.hashOfHashes.hex)|\(url)"
        if let s = sessions.withLock({ $0[cacheKey] }) { return s }
        let phf = try await piecesHashFile(integrity)
        let source = HTTPSource(url: url, contentLength: phf.layout.contentLength, client: http)
        let session = ContentSession(url: url, layout: phf.layout, mode: .verified(phf), sources: [source],
                                     store: store, config: config, logger: logger)
        return sessions.withLock { $0[cacheKey, default: session] }
    }

    /// Opens any http(s) URL unverified: size and validator from the server, which must support ranges.
    public func openSimple(url: String, reason: String) async throws(FetchError) -> ContentSession {
        let cacheKey = "simple|\(url)"
        if let s = sessions.withLock({ $0[cacheKey] }) { return s }
        let probe = try await OriginProbe.probe(url: url, client: http)
        let contentKey = SHA256.hash(Array("\(url)\n\(probe.validator ?? "")\n\(probe.contentLength)".utf8)).hex
        let source = HTTPSource(url: url, contentLength: probe.contentLength, validator: probe.validator, client: http)
        let layout = PieceLayout(contentLength: probe.contentLength)
        logger.notice("\(url): simple mode (unverified) because \(reason)")
        let session = ContentSession(url: url, layout: layout, mode: .simple(contentKey: contentKey, reason: reason),
                                     sources: [source], store: store, config: config, logger: logger)
        return sessions.withLock { $0[cacheKey, default: session] }
    }

    /// The trusted pieces hash file: from the metadata store, else fetched and checked, then stored.
    func piecesHashFile(_ integrity: Catalog.Integrity) async throws(FetchError) -> PiecesHashFile {
        if let phf = metadata.load(hashOfHashes: integrity.hashOfHashes) { return phf }
        let url = integrity.piecesHashFileUrl
        let response: HTTPResponse
        do {
            response = try await http.send(HTTPRequest(url: url, maxBodyBytes: config.maxPiecesHashFileBytes))
        } catch {
            throw .transport(error)
        }
        guard response.status == 200 else { throw .httpStatus(url: url, status: response.status) }
        let phf: PiecesHashFile
        do throws(MetadataError) {
            phf = try PiecesHashFile(json: response.body)
            try phf.verify(against: integrity.hashOfHashes, requireRecompute: integrity.recomputeHashOfHashes)
        } catch {
            logger.error("pieces hash file \(url) refused: \(error)")
            throw .metadata(url: url, error)
        }
        do {
            try metadata.save(phf)
        } catch {
            logger.warning("cannot keep the pieces hash file of \(phf.contentId) on disk: \(error)")
        }
        logger.info("\(phf.contentId): pieces hash file accepted (\(phf.layout.pieceCount) pieces of \(phf.layout.pieceSize) bytes)")
        return phf
    }
}
