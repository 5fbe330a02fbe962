import DOControlPlane
import DOCore
import DOEngine

/// The engine's content directory on top of a control-plane client: a content policy becomes the
/// trusted metadata of a verified session.
///
/// With `trust` (publisher keys pinned), a policy counts only through a trusted publisher's signature
/// (`PublisherTrust`): anything else is `DirectoryError.Kind.untrusted`, and the content is fetched only
/// from URLs a trusted key signed. Without it, the control plane itself is believed.
struct ControlPlaneDirectory: ContentDirectory {
    let client: ControlPlaneClient
    let trust: PublisherTrust?
    /// Discovery answers, so that a re-join is one request (see `SwarmArrays`).
    let arrays = SwarmArrays()

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
        guard let trust else {
            let integrity = ContentIntegrity(hashOfHashes: hoh, piecesHashFileUrls: policy.piecesHashFileCdnUrls,
                                             recomputeHashOfHashes: policy.dofsHashOfHashes ?? false)
            return DirectoryAnswer(contentId: id, integrity: integrity, contentUrls: policy.contentCdnUrls,
                                   minFileSizeForPeering: policy.policies.minFileSizeForPeering,
                                   downloadMode: policy.policies.downloadMode)
        }
        let vouched: PublisherTrust.Vouched
        do {
            vouched = try trust.vouch(for: policy, askedContentId: contentId?.rawValue, askedURL: url)
        } catch {
            throw DirectoryError("\(error)", kind: .untrusted)
        }
        // A signed statement is about dofs's HashOfHashes: the PHF must recompute to it.
        let integrity = ContentIntegrity(hashOfHashes: hoh, piecesHashFileUrls: policy.piecesHashFileCdnUrls,
                                         recomputeHashOfHashes: true)
        return DirectoryAnswer(contentId: id, integrity: integrity, contentUrls: vouched.contentUrls,
                               minFileSizeForPeering: policy.policies.minFileSizeForPeering,
                               downloadMode: policy.policies.downloadMode, publisherKeyId: vouched.keyId)
    }

    func trusts(remembered answer: DirectoryAnswer) -> Bool {
        guard let trust else { return true }
        return answer.publisherKeyId.map { trust.keyring.key(id: $0) != nil } ?? false
    }
}

extension ControlPlaneDirectory {
    /// Discovery names the swarm's array service (remembered, see `SwarmArrays`); the join goes there,
    /// with DO's join body.
    func announce(_ a: SwarmAnnouncement) async throws(DirectoryError) -> SwarmAnnouncementAnswer {
        do {
            let array: String
            if let known = arrays.array(of: a.contentId) {
                array = known
            } else {
                guard let found = try await client.discovery(contentId: a.contentId, altCatalogId: nil).first?.collectiveArray else {
                    throw DirectoryError("discovery names no swarm for \(a.contentId)")
                }
                array = found
                arrays.remember(found, of: a.contentId)
            }
            let dialect = client.configuration.dialectVersion
            let uploads = a.port > 0
            let request = JoinRequest(
                contentId: a.contentId.rawValue, altCatalogId: a.altCatalogId, peerId: a.peerId, reportedIp: a.reportedIp,
                subnetMask: a.subnetMask, isBackground: a.isBackground ? "1" : "0",
                clientDialectVersionMajor: String(dialect.major), clientDialectVersionMinor: String(dialect.minor),
                clientDialectVersionBuild: String(dialect.build), clientDialectVersionRevision: String(dialect.revision),
                uploaded: String(a.uploaded), downloaded: String(a.downloaded), downloadedCdn: String(a.downloadedCdn),
                downloadedDoinc: String(a.downloadedCacheHost), left: String(a.left),
                joinRequestEvent: a.seq == 0 ? "1" : "0", restrictedUpload: uploads ? "0" : "1",
                peersWanted: String(a.peersWanted), groupId: a.groupId ?? "", scope: String(a.scope), profile: "768",
                seq: String(a.seq), port: uploads ? String(a.port) : nil)
            let answer: JoinResponse
            do {
                answer = try await client.join(collectiveArray: array, request: request)
            } catch {
                arrays.forget(a.contentId)
                throw error
            }
            return SwarmAnnouncementAnswer(
                peers: answer.peers.map { .init(peerId: $0.peerId, host: $0.ip, port: $0.port, joinedMs: $0.joinedMs) },
                reannounceSeconds: answer.reannounceSecs, joinedMs: answer.joinedMs)
        } catch let error as DirectoryError {
            throw error
        } catch {
            throw DirectoryError("\(error)")
        }
    }
}
