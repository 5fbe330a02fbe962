/// One content's part in its swarm: the peer connections (`DOSwarm.Swarm`), the announcements that
/// find peers, and who fetches which piece from the CDN.
///
/// ## Ownership: the origin sends each piece about once
/// Peers that start reading the same content together would otherwise all miss the same pieces at the
/// same time and all fetch them from the CDN. Every peer ranks the swarm members it knows (itself
/// included) for each piece by a hash of (peer id, piece index) — rendezvous hashing — and only the
/// top-ranked member, the piece's *owner*, fetches it from the CDN at once. The others wait up to
/// `httpDelaySeconds` for a peer to announce the piece and take it from there; past the delay (the
/// owner died or is slow) they fetch it from the CDN themselves. Views of the membership differ for a
/// moment after a join, so a few pieces may come twice; none is ever waited on forever.
///
/// ## Announcing
/// The session joins through the content directory when it opens, and again every ReannounceSecs the
/// service asks for (bounded); a failed join is retried with back-off. Peers from the answer are
/// connected by `Swarm`, which also bans a peer after its third bad piece for this content.
import DOCore
import DOSwarm
import Foundation
import Logging
import Synchronization

public final class SessionSwarm: Sendable {
    let swarm: Swarm
    let contentId: ContentId
    let hashOfHashes: SHA256Digest
    let layout: PieceLayout
    /// The content's URL, sent as DO's `AltCatalogId`.
    let altCatalogId: String?
    /// The join's Scope: the mount's download mode, lowered by the content policy's when lower.
    let downloadMode: Int
    private let baseConfig: PeeringConfiguration
    /// The peering configuration, with the HTTP delay of the policy in force now (DO's
    /// DODelayForegroundDownloadFromHttp, or its Background twin inside a background fetch).
    var config: PeeringConfiguration {
        var c = baseConfig
        if let policy = c.policy {
            let p = policy.current
            c.httpDelaySeconds = Double(DownloadPriority.current == .background
                ? p.delayBackgroundDownloadFromHttpSeconds : p.delayForegroundDownloadFromHttpSeconds)
        }
        return c
    }
    private let directory: any ContentDirectory
    private let logger: Logger
    private let announcer = Mutex<Task<Void, Never>?>(nil)
    private let counters = Mutex(Counters())

    private let lastExtraJoin = Mutex<ContinuousClock.Instant?>(nil)
    /// Peers that joined us on our peer server, with when: members before the control plane says so.
    private let inbound = Mutex<[PeerId: ContinuousClock.Instant]>([:])
    private let firstJoin = Mutex<(at: ContinuousClock.Instant, listed: Int)?>(nil)

    struct Counters {
        var fromPeers = 0
        var fromCDN = 0
        var fromCacheHosts = 0
        var seq = 0
    }

    init(contentId: ContentId, hashOfHashes: SHA256Digest, layout: PieceLayout, config: PeeringConfiguration,
         altCatalogId: String? = nil, downloadMode: Int? = nil, directory: any ContentDirectory, logger: Logger) {
        self.downloadMode = downloadMode ?? config.downloadMode
        self.contentId = contentId
        self.hashOfHashes = hashOfHashes
        self.layout = layout
        self.altCatalogId = altCatalogId
        self.baseConfig = config
        self.directory = directory
        // The swarm's lines (peers joining, bans) name the content too.
        var logger = logger
        logger[metadataKey: "content"] = "\(contentId)"
        self.logger = logger
        var swarmConfiguration = SwarmConfiguration()
        swarmConfiguration.localAddress = config.localAddress
        swarm = Swarm(swarmHash: hashOfHashes.bytes, layout: layout, ourPeerId: config.peerId,
                      maxPeers: config.maxPeers, configuration: swarmConfiguration, logger: logger)
    }

    /// Starts announcing; `have` reports how many bytes of the content are stored (for Left).
    func start(have: @escaping @Sendable () -> Int) {
        let task = Task { [self] in
            var backoff = 1.0
            while !Task.isCancelled {
                let wait: Double
                do {
                    let answer = try await directory.announce(announcement(have: have()))
                    let peers = usablePeers(answer)
                    swarm.addPeers(peers)
                    firstJoin.withLock { $0 = $0 ?? (ContinuousClock.now, peers.count) }
                    logger.debug("\(contentId): joined its swarm, \(peers.count) peer(s) listed")
                    wait = Double(min(max(answer.reannounceSeconds, 1), config.maxReannounceSeconds))
                    backoff = 1
                } catch {
                    firstJoin.withLock { $0 = $0 ?? (ContinuousClock.now, 0) }
                    logger.warning("\(contentId): cannot join its swarm: \(error)")
                    wait = backoff
                    backoff = min(backoff * 2, 60)
                }
                try? await Task.sleep(for: .seconds(wait))
            }
        }
        announcer.withLock { $0 = task }
    }

    /// A peer joined us on our peer server: count it as a member now (so ownership shifts to it at
    /// once) and re-join to learn its address.
    func peerArrived(_ peer: PeerId) {
        guard peer != config.peerId else { return }
        inbound.withLock { $0[peer] = ContinuousClock.now }
        announceSoon()
    }

    /// Joins again now (a peer we did not know connected to us: it is in the service's list).
    /// At most one such extra join per second.
    public func announceSoon() {
        let now = ContinuousClock.now
        let due = lastExtraJoin.withLock { last -> Bool in
            if let last, now - last < .seconds(1) { return false }
            last = now
            return true
        }
        guard due else { return }
        Task { [self] in
            if let answer = try? await directory.announce(announcement(have: 0)) {
                swarm.addPeers(usablePeers(answer))
            }
        }
    }

    func stop() async {
        announcer.withLock { $0?.cancel() }
        await swarm.close()
    }

    /// Waits (until `deadline` at most) for the first join to be answered; then, when it listed peers,
    /// for them to be connected (half a second at most), and when it listed none, for
    /// `soloJoinGraceSeconds`, so that peers joining at the same moment reach our peer server first.
    /// Deciding ownership on an empty view of the swarm would send every first read to the CDN.
    func waitUntilReady(deadline: ContinuousClock.Instant) async {
        while ContinuousClock.now < deadline {
            if let joined = firstJoin.withLock({ $0 }) {
                let since = ContinuousClock.now - joined.at
                if joined.listed == 0 {
                    if since >= .seconds(config.soloJoinGraceSeconds) { return }
                } else if since > .milliseconds(500) || swarm.connectedPeers.count >= min(joined.listed, config.maxPeers) {
                    return
                }
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// True when this peer should fetch piece `index` from the CDN without waiting for others.
    func owns(piece index: Int) -> Bool {
        // Inbound members count for a moment without an outbound connection: long enough to re-join
        // and connect back (~0.1–0.4 s measured), short enough that a peer we cannot reach (one that
        // does not upload) costs little.
        let now = ContinuousClock.now
        let recentInbound = inbound.withLock { peers -> [PeerId] in
            peers = peers.filter { now - $0.value < .seconds(3) }
            return peers.keys.filter { !swarm.isBanned($0) }
        }
        let members = Set(swarm.connectedPeers + recentInbound + [config.peerId])
        guard members.count > 1 else { return true }
        let mine = Self.rank(config.peerId, index)
        return members.allSatisfy { $0 == config.peerId || Self.rank($0, index) < mine }
    }

    /// A piece is verified and stored: tell the peers now.
    func pieceStored(_ index: Int) {
        config.onVerifiedPiece?(hashOfHashes.bytes, index)
    }

    func recordDownload(from kind: SourceKind, bytes: Int) {
        counters.withLock { c in
            switch kind {
            case .peer: c.fromPeers += bytes
            case .cache: c.fromCacheHosts += bytes
            case .cdn: c.fromCDN += bytes
            case .local: break
            }
        }
    }

    /// The peers of an answer to connect to: never ourselves, and with `DORestrictPeerSelectionBy` 1
    /// only those on our own subnet (the service's LAN is the public address; the policy narrows it).
    func usablePeers(_ answer: SwarmAnnouncementAnswer) -> [PeerAddress] {
        let c = config
        let subnetOnly = c.policy?.current.restrictPeerSelectionBy == AdminPolicy.RestrictPeerSelection.subnet
        return answer.peers.compactMap { p -> PeerAddress? in
            guard let id = PeerId(hex: p.peerId), id != c.peerId else { return nil }
            if subnetOnly, !IPAddress.sameSubnet(p.host, c.reportedIp, mask: c.subnetMask) { return nil }
            return PeerAddress(host: p.host, port: p.port, peerId: id)
        }
    }

    private func announcement(have: Int) -> SwarmAnnouncement {
        let c = counters.withLock { c -> Counters in
            let now = c
            c.seq += 1
            return now
        }
        let config = self.config
        return SwarmAnnouncement(contentId: contentId, altCatalogId: altCatalogId, peerId: config.peerId.hex,
                                 reportedIp: config.reportedIp, subnetMask: config.subnetMask, port: config.port,
                                 downloaded: c.fromPeers + c.fromCDN + c.fromCacheHosts, downloadedCdn: c.fromCDN,
                                 downloadedCacheHost: c.fromCacheHosts,
                                 uploaded: config.uploadedBytes?(hashOfHashes.bytes) ?? 0,
                                 left: max(layout.contentLength - have, 0), isBackground: DownloadPriority.current == .background,
                                 scope: downloadMode, groupId: config.groupId, peersWanted: config.peersWanted, seq: c.seq)
    }

    /// Rendezvous score of a member for a piece: the first 8 bytes of SHA-256(peer id ‖ index).
    static func rank(_ peer: PeerId, _ index: Int) -> UInt64 {
        var bytes = peer.bytes
        withUnsafeBytes(of: UInt64(index).bigEndian) { bytes += $0 }
        return SHA256.hash(bytes).bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
