import DOCore
import Hummingbird

/// Content policy, discovery and the stored PHF: lookups by content ID, or by URL with DO's
/// `?altCatalogId=` (then the path's content ID is a placeholder, as in DO's Store lookups).
extension ControlPlaneService {
    func contentPolicy(_ request: Request, _ context: ControlPlaneRequestContext) async throws -> Response {
        let content = try await resolve(request, context)
        let base = publicBase.base(for: request)
        var phfURLs: [String] = []
        // The control plane's own copy first: it is known to exist, a publisher's URL only promised.
        if content.hasStoredPiecesHashFile { phfURLs.append(base + "/content/\(content.contentId)/phf") }
        for url in content.piecesHashFileUrls where !phfURLs.contains(url) { phfURLs.append(url) }
        return try JSONReply.ok(ContentPolicy(
            contentId: content.contentId.rawValue,
            hashOfHashes: content.hashOfHashes.base64,
            piecesHashFileCdnUrls: phfURLs,
            contentCdnUrls: content.urls,
            isSecure: false,
            rank: 0,
            policies: configuration.policies,
            contentLength: content.layout.contentLength,
            pieceSize: content.layout.pieceSize,
            // Registrations come from `dofs publish`, whose HashOfHashes follows do-protocol.md 9.1.
            dofsHashOfHashes: true,
            publisherSignatures: content.signatures.isEmpty ? nil : content.signatures))
    }

    /// One array per content: registered content (by ID or URL), or any dofs `DO-` ID, which names
    /// its content by hash and so can never mix two contents in one swarm.
    func discovery(_ request: Request, _ context: ControlPlaneRequestContext) async throws -> Response {
        let id = try RequestInput.contentId(context)
        let byURL = RequestInput.parameter("altCatalogId", in: try RequestInput.query(request)) != nil
        let swarm: ContentId
        do {
            swarm = try await resolve(request, context).contentId
        } catch let rejection as Rejection where rejection.status == .notFound && id.hashOfHashes != nil && !byURL {
            swarm = id
        }
        let base = publicBase.base(for: request)
        return try JSONReply.ok([DiscoveryEntry(collectiveArray: base + "/array/\(swarm)/")])
    }

    func piecesHashFile(_ request: Request, _ context: ControlPlaneRequestContext) async throws -> Response {
        let id = try RequestInput.contentId(context)
        guard let phf = try await withRegistry({ registry throws(RegistryError) in try await registry.piecesHashFile(id: id) }) else {
            throw Rejection.notFound("no pieces hash file is stored for content \(id)")
        }
        var response = JSONReply.raw(phf)
        response.headers[.cacheControl] = "public, max-age=86400"
        return response
    }

    /// The registered content the request names: by `altCatalogId` first, else by the path's ID.
    private func resolve(_ request: Request, _ context: ControlPlaneRequestContext) async throws -> RegisteredContent {
        let id = try RequestInput.contentId(context)
        let url = try RequestInput.altCatalogId(try RequestInput.query(request))
        let found = try await withRegistry { registry throws(RegistryError) in try await registry.lookup(id: id, url: url) }
        guard let found else {
            if let url {
                throw Rejection.notFound("no content is registered for URL \(url.prefix(300)) (nor under content ID \(id))")
            }
            throw Rejection.notFound("content \(id) is not registered")
        }
        return found
    }
}
