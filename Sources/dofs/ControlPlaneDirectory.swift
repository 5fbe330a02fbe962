import DOControlPlane
import DOCore
import DOEngine

/// The engine's content directory on top of a control-plane client: a content policy becomes the
/// trusted metadata of a verified session.
struct ControlPlaneDirectory: ContentDirectory {
    let client: ControlPlaneClient

    func lookup(contentId: ContentId?, url: String?) async throws(DirectoryError) -> DirectoryAnswer? {
        let policy: ContentPolicy?
        do {
            policy = try await client.contentPolicy(contentId: contentId, altCatalogId: url)
        } catch {
            throw DirectoryError("\(error)")
        }
        guard let policy else { return nil }
        guard let id = try? ContentId(policy.contentId), let hoh = SHA256Digest(base64: policy.hashOfHashes) else {
            throw DirectoryError("content policy for \(contentId?.rawValue ?? url ?? "?") has a malformed ContentId or HashOfHashes")
        }
        let integrity = ContentIntegrity(hashOfHashes: hoh, piecesHashFileUrls: policy.piecesHashFileCdnUrls,
                                         recomputeHashOfHashes: policy.dofsHashOfHashes ?? false)
        return DirectoryAnswer(contentId: id, integrity: integrity, contentUrls: policy.contentCdnUrls,
                               minFileSizeForPeering: policy.policies.minFileSizeForPeering)
    }
}
