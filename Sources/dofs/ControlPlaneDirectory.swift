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

extension ControlPlaneDirectory {
    /// Discovery names the swarm's array service; the join goes there, with DO's join body.
    func announce(_ a: SwarmAnnouncement) async throws(DirectoryError) -> SwarmAnnouncementAnswer {
        do {
            guard let array = try await client.discovery(contentId: a.contentId, altCatalogId: nil).first?.collectiveArray else {
                throw DirectoryError("discovery names no swarm for \(a.contentId)")
            }
            let request = JoinRequest(
                contentId: a.contentId.rawValue, peerId: a.peerId, reportedIp: a.reportedIp,
                subnetMask: "255.255.255.0", isBackground: "0",
                clientDialectVersionMajor: "10", clientDialectVersionMinor: "1",
                clientDialectVersionBuild: "0", clientDialectVersionRevision: "12",
                uploaded: String(a.uploaded), downloaded: String(a.downloaded), downloadedCdn: String(a.downloadedCdn),
                left: String(a.left), joinRequestEvent: a.seq == 0 ? "1" : "0", peersWanted: String(a.peersWanted),
                groupId: a.groupId ?? "", scope: String(a.scope), profile: "768", seq: String(a.seq), port: String(a.port))
            let answer = try await client.join(collectiveArray: array, request: request)
            return SwarmAnnouncementAnswer(
                peers: answer.peers.map { .init(peerId: $0.peerId, host: $0.ip, port: $0.port) },
                reannounceSeconds: answer.reannounceSecs)
        } catch let error as DirectoryError {
            throw error
        } catch {
            throw DirectoryError("\(error)")
        }
    }
}
