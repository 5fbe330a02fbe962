/// One content's part in its swarm: the peer connections (`DOSwarm.Swarm`), the announcements that
/// find peers, and who fetches which piece from the CDN.
///
/// ## Ownership: the origin sends each piece about once
/// Peers that start reading the same content together would otherwise all miss the same pieces at the
/// same time and all fetch them from the CDN. Every peer ranks the swarm members it knows (itself
/// included) for each piece by rendezvous hashing (`PieceOwnership`); only the top-ranked member, the
/// piece's *owner*, fetches it from the CDN at once. The others wait for a peer to announce the piece
/// (an event) and take it from there: the owner's k-th backup goes to the CDN itself after k owner
/// waits, the members below the first `timedBackups` only once the swarm stops moving (see
/// `ContentSourceSet`); an owner that lets that happen repeatedly stops counting as one for a while. Owners also fetch their pieces ahead of the swarm's
/// readers (`ServeAhead`, run by `ContentSession`), so a reader ahead of the others does not wait
/// for an owner that is behind.
///
/// A *member* is a peer that the control plane listed in one of our join answers (it joined through
/// the control plane; the id it last listed at that address), not banned, whose connection (if we
/// made one) has not failed. A peer that only
/// handshakes with our peer server is served, but owns nothing: ids are free to invent, and thirty
/// made-up ids must not take thirty shares of the content. Listed peers we are not connected to are
/// members too: in a swarm larger than `maxPeers` every member would otherwise rank over its own few
/// connections and most pieces would have several owners; over the control plane's lists, views
/// converge on the same set. Views still differ for a moment after a join, so a few pieces may come
/// twice; none is ever waited on for long. A fetch from HTTP is claimed to the peers as it starts
/// (`PeerMessage.fetching`), so a member whose view differs waits for that piece's `have` rather than
/// fetching it too (see `ContentSourceSet`). A listed peer that is gone owns pieces until its misses
/// (or its failed connection) take it out.
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
    private let beside = Mutex<[Task<Void, Never>]>([])
    /// The members ranked above us per piece (see `ranked(above:excluding:)`), and the first-join times
    /// that decide among whom.
    private let rankings = Mutex(Rankings())
    private let counters = Mutex(Counters())

    private let lastExtraJoin = Mutex<(last: ContinuousClock.Instant?, pending: Bool)>((nil, false))
    /// Peers the control plane listed in our join answers: the only ones that may own pieces.
    /// The peer id the control plane last listed at each endpoint (host:port): an address taken over
    /// by a new peer (a restarted node, a reused address) keeps only the new id.
    private let listed = Mutex<[String: PeerId]>([:])
    /// Until when ownership decisions wait for the join that a peer's arrival at our peer server set off
    /// (see `secondsUntilReady`).
    private let arrivalPending = Mutex<ContinuousClock.Instant?>(nil)
    /// When our first join was answered, and the peers it listed (the view `secondsUntilReady` waits on).
    private let firstJoin = Mutex<(at: ContinuousClock.Instant, listed: Set<PeerId>)?>(nil)
    /// The listed peers of the first join have told what they hold, or their wait is over.
    private let viewSettled = Mutex(false)
    /// The swarm's frontier when our view was first ready (`recordArrivalFrontier`): `nil` until then,
    /// `.some(nil)` when there was none (nobody listed, or no listed peer downloading).
    private let arrivalFrontier = Mutex<Int??>(nil)
    /// Pieces whose fetch from HTTP started and that are not stored yet (`piecesOnTheirWay`).
    private let onTheirWay = Mutex<Set<Int>>([])

    /// Who ranks above us, per piece, for one set of members and one state of the first-join times.
    private struct Rankings {
        /// When each listed peer, and we ourselves, first joined the swarm (ms, the service's clock; the
        /// earliest any answer gave): who the swarm's eldest are (`PeeringConfiguration.ownersAmongEldest`).
        var joinedMs: [PeerId: Int64] = [:]
        /// The members the rankings below are for, and whether `joinedMs` changed since.
        var members: Set<PeerId> = []
        var stale = true
        /// Whom pieces are ranked among (never us), and whether we rank below them all (we are not
        /// among the eldest).
        var pool: Set<PeerId> = []
        var outranked = false
        var byPiece: [Int: [PeerId]] = [:]
    }

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
            var lastWait: Double?
            while !Task.isCancelled {
                let wait: Double
                do {
                    let held = have()
                    let answer = try await directory.announce(announcement(have: held))
                    let (peers, newMembers) = admit(answer)
                    let first = firstJoin.withLock { joined in
                        let kept = joined ?? (ContinuousClock.now, Set(peers.compactMap(\.peerId)))
                        joined = kept
                        return kept
                    }
                    swarm.nudge()
                    logger.debug("\(contentId): joined its swarm, \(peers.count) peer(s) listed, \(newMembers) new")
                    let service = Double(min(max(answer.reannounceSeconds, 1), config.maxReannounceSeconds))
                    wait = config.rejoin.seconds(service: service, sinceFirstJoin: (ContinuousClock.now - first.at).seconds,
                                                 newMembers: newMembers, listed: peers.count, previous: lastWait,
                                                 downloading: held < layout.contentLength)
                    lastWait = wait
                    backoff = 1
                } catch {
                    firstJoin.withLock { $0 = $0 ?? (ContinuousClock.now, []) }
                    swarm.nudge()
                    logger.warning("\(contentId): cannot join its swarm: \(error)")
                    wait = backoff
                    backoff = min(backoff * 2, 60)
                }
                try? await Task.sleep(for: .seconds(wait))
            }
        }
        announcer.withLock { $0 = task }
    }

    /// The peers of a join answer: remembered as listed (members once connected), with the first-join
    /// times it gives, and connected. Returns the usable peers and how many of their ids were not listed before.
    @discardableResult
    private func admit(_ answer: SwarmAnnouncementAnswer) -> (peers: [PeerAddress], newMembers: Int) {
        recordJoinTimes(answer)
        let peers = usablePeers(answer)
        // An answer may list an endpoint twice (the old id not expired yet): the one connected there wins.
        let connected = swarm.connectedEndpoints
        var latest: [String: PeerId] = [:]
        for peer in peers {
            guard let id = peer.peerId else { continue }
            if let kept = latest[peer.endpoint], kept == connected[peer.endpoint] { continue }
            latest[peer.endpoint] = id
        }
        let newIds = listed.withLock { listed in
            let before = Set(listed.values)
            listed.merge(latest) { _, new in new }
            return Set(latest.values).subtracting(before).count
        }
        swarm.addPeers(peers)
        return (peers, newIds)
    }

    /// Keeps the first-join times an answer gives (ours and its peers'), the earliest seen for each: an
    /// instance behind the same address may answer from a view a moment old.
    private func recordJoinTimes(_ answer: SwarmAnnouncementAnswer) {
        let us = config.peerId
        rankings.withLock { r in
            func keep(_ id: PeerId, _ ms: Int64) {
                guard ms < r.joinedMs[id] ?? .max else { return }
                r.joinedMs[id] = ms
                r.stale = true
            }
            if let ours = answer.joinedMs { keep(us, ours) }
            for peer in answer.peers {
                if let ms = peer.joinedMs, let id = PeerId(hex: peer.peerId), id != us { keep(id, ms) }
            }
        }
    }

    /// A peer joined us on our peer server: re-join to learn its address (it becomes a member once the
    /// control plane lists it and it answers our own connection).
    func peerArrived(_ peer: PeerId) {
        guard peer != config.peerId else { return }
        // Right after our first join, a peer arriving is most likely a member starting with us: wait a
        // moment for the join answer that lists it, so that it gets its share from the first pieces.
        // Only then: a stranger connecting again and again cannot hold ownership decisions back.
        if !swarm.connectedPeers.contains(peer), let joined = firstJoin.withLock({ $0 }),
           ContinuousClock.now - joined.at < Self.arrivalWindow {
            arrivalPending.withLock { $0 = ContinuousClock.now + Self.arrivalWait }
        }
        announceSoon()
    }

    /// How long after our first join a peer's arrival holds ownership decisions, and for how long each.
    static let arrivalWindow = Duration.milliseconds(1500)
    static let arrivalWait = Duration.milliseconds(300)
    /// The longest a member's ownership decisions wait on peers arriving right after its first join
    /// (`arrivalWindow`, then `arrivalWait` after the last arrival): in a swarm that starts together,
    /// the latest its view is ready. Other members' owner waits for its pieces begin no sooner (see
    /// `ContentSourceSet`).
    static var viewSettlingSeconds: Double { (arrivalWindow + arrivalWait).seconds }

    /// Seconds since our first join was answered; `nil` while it is not.
    func secondsSinceFirstJoin() -> Double? {
        firstJoin.withLock { $0 }.map { (ContinuousClock.now - $0.at).seconds }
    }

    /// How much later than us `peer` first joined the swarm (negative: earlier), in seconds, by the
    /// service's first-join times; `nil` unless it gives both.
    func firstJoinOffset(of peer: PeerId) -> Double? {
        rankings.withLock { r in
            guard let theirs = r.joinedMs[peer], let ours = r.joinedMs[baseConfig.peerId] else { return nil }
            return Double(theirs - ours) / 1000
        }
    }

    /// Joins again soon (a peer we did not know connected to us: it is in the service's list, and it
    /// becomes a member once the answer lists it). At most one such join per `extraJoinInterval`; one
    /// asked for within it is made at its end, so a peer arriving just after another is not left out
    /// of our view of the swarm until the next re-announce.
    public func announceSoon() {
        let now = ContinuousClock.now
        let delay = lastExtraJoin.withLock { state -> Duration? in
            if state.pending { return nil }
            guard let last = state.last, now - last < Self.extraJoinInterval else {
                state.last = now
                return .zero
            }
            state.pending = true
            return Self.extraJoinInterval - (now - last)
        }
        guard let delay else { return }
        Task { [self] in
            if delay > .zero {
                try? await Task.sleep(for: delay)
                lastExtraJoin.withLock { $0 = (last: ContinuousClock.now, pending: false) }
            }
            if let answer = try? await directory.announce(announcement(have: 0)) {
                admit(answer)
                swarm.nudge()
            }
        }
    }

    /// The shortest time between two extra joins: ten a second at most per content, for a control
    /// plane on the LAN, while peers arriving together are all in our view within a tenth of a second.
    static let extraJoinInterval = Duration.milliseconds(100)

    /// Runs `work` beside the swarm until `stop` (serving ahead, see `ContentSession`).
    func runBeside(_ work: @escaping @Sendable () async -> Void) {
        let task = Task { await work() }
        beside.withLock { $0.append(task) }
    }

    func stop() async {
        announcer.withLock { $0?.cancel() }
        for task in beside.withLock({ $0 }) { task.cancel() }
        await swarm.close()
    }

    /// Seconds until the swarm's view is worth deciding ownership on: 0 when it is; `nil` while the
    /// first join is unanswered (its answer nudges the swarm's waiters). Deciding ownership on a view
    /// that lacks what the swarm holds sends first reads to the CDN:
    /// - after a join that listed none: `soloJoinGraceSeconds`, so that peers joining at the same
    ///   moment reach our peer server first;
    /// - after one that listed peers: until each of them has said what it holds (its bitfield) or its
    ///   connection failed. Half a second at most while no peer told us it holds a piece (a
    ///   swarm starting together; or listed peers that are gone, such as nodes stopped before their
    ///   listing expired, whose addresses may not even refuse: they must not hold every first piece
    ///   back). Once a peer told us it holds pieces, up to `runningSwarmViewWaitSeconds`: we
    ///   arrived in a running swarm, and the pieces we would rank first for were most likely fetched
    ///   by members that ranked first before we were listed. Only pieces nobody announced wait;
    ///   peers' go at once.
    func secondsUntilReady() -> Double? {
        let left = readiness()
        if left == 0 { recordArrivalFrontier() }
        return left
    }

    private func readiness() -> Double? {
        guard let joined = firstJoin.withLock({ $0 }) else { return nil }
        let since = ContinuousClock.now - joined.at
        // Asked on every look at a waiting piece: once nothing below can hold decisions back any more
        // (arrivals count only within `arrivalWindow` of the first join), the answer is 0 for good.
        let runningSwarmWait = joined.listed.isEmpty ? 0 : config.runningSwarmViewWaitSeconds
        if since >= Self.arrivalWindow + Self.arrivalWait, since >= .milliseconds(500), since >= .seconds(runningSwarmWait) {
            return 0
        }
        let elapsed = since.seconds
        if let pending = arrivalPending.withLock({ $0 }), pending > ContinuousClock.now {
            return (pending - ContinuousClock.now).seconds
        }
        if joined.listed.isEmpty { return max(0, config.soloJoinGraceSeconds - elapsed) }
        // Settled once is settled: a listed peer dropped later (a withholder, say) has told what it
        // held, and must not hold decisions back again.
        if viewSettled.withLock({ $0 }) { return 0 }
        // The first answer's peers, by id: a peer listed by a later join, or one that connected to us,
        // does not stand in for one of them. Counted, they did: a member whose first join listed four
        // heard four bitfields, one from a peer an extra join had listed, and decided without the one
        // listed peer that held the first pieces (fleet-bench: two extra origin copies).
        let told = swarm.holdingsHeard(from: joined.listed).told
        let settled = told + swarm.unreachablePeers.intersection(joined.listed).count
        let left: Double
        if settled >= min(joined.listed.count, config.maxPeers) {
            left = 0
        } else if elapsed < 0.5 {
            return 0.5 - elapsed
        } else if swarm.holdingsHeard.holding == 0 {
            left = 0
        } else {
            left = max(0, runningSwarmWait - elapsed)
        }
        if left == 0 { viewSettled.withLock { $0 = true } }
        return left
    }

    /// Where the swarm's readers were when our view was first ready, if our first join listed peers:
    /// the highest piece a connected peer that is still downloading had announced. Once, when
    /// `secondsUntilReady` first says 0.
    private func recordArrivalFrontier() {
        guard arrivalFrontier.withLock({ $0 == nil }) else { return }
        let listedAny = !(firstJoin.withLock { $0 }?.listed.isEmpty ?? true)
        let frontier = listedAny ? swarm.announcedFrontiers(excluding: { _ in false }).values.max() : nil
        arrivalFrontier.withLock { if $0 == nil { $0 = .some(frontier) } }
    }

    /// The lowest piece serving ahead may fetch (see `ServeAhead`): past the swarm's frontier when we
    /// arrived in a running swarm, 0 otherwise. The pieces the swarm's readers had passed before we
    /// were listed were fetched by the members of that time, which a member listed later does not
    /// see unless one of its connections holds them; serving them ahead fetched them from the origin
    /// again (fleet-bench, 100 peers: 11 of 44 extra copies were served ahead by late members, 6 of
    /// them below the frontier). Our own reader still fetches such a piece as its owner when it needs
    /// it and no connection announced it.
    var serveAheadFloor: Int {
        arrivalFrontier.withLock { $0 ?? nil }.map { $0 + 1 } ?? 0
    }

    /// The members that may own pieces now, ourselves not included: the peers the control plane listed
    /// in our join answers, less those banned, those whose connection failed and is not back, and those
    /// `excluded` says no to (peers that lately let their pieces wait in vain). Listed peers we are not
    /// connected to count (at most `maxPeers` of a large swarm are): every member then ranks over about
    /// the same set, the control plane's, instead of over its own few connections.
    func members(excluding excluded: (PeerId) -> Bool) -> [PeerId] {
        // Connected at a listed endpoint under another id: the listed one is gone from there
        // (`Swarm.listedMembers`, one look at the connections for the whole list).
        swarm.listedMembers(listed.withLock { $0 }).filter { !excluded($0) }
    }

    /// Members now (see `members(excluding:)`), ourselves not counted.
    var memberCount: Int { members(excluding: { _ in false }).count }

    /// The members now, as `ranked(above:members:excluding:)` takes them: one look for many pieces.
    var memberSet: Set<PeerId> { Set(members(excluding: { _ in false })) }

    /// The members ranked above us for piece `index` (the owner first, then its backups; see
    /// `PieceOwnership`); empty when we own it.
    func ranked(above index: Int, excluding excluded: (PeerId) -> Bool) -> [PeerId] {
        ranked(above: index, members: memberSet, excluding: excluded)
    }

    /// `ranked(above:excluding:)` among `members` (`memberSet`, taken once for pieces looked at together).
    ///
    /// Owners come from the swarm's eldest members when the service gives join times
    /// (`PeeringConfiguration.ownersAmongEldest`): a member that is not among them has all of them above it,
    /// unless `excluded` passes over every one of them.
    func ranked(above index: Int, members: Set<PeerId>, excluding excluded: (PeerId) -> Bool) -> [PeerId] {
        let us = baseConfig.peerId
        let eldestCount = config.ownersAmongEldest
        let (pool, outranked, cached) = rankings.withLock { r in
            if r.stale || r.members != members || r.byPiece.count >= Self.rankingsKept {
                let eldest = PieceOwnership.eldest(eldestCount, us: us, members: members, joined: r.joinedMs)
                (r.members, r.stale, r.byPiece) = (members, false, [:])
                r.pool = eldest.map { $0.subtracting([us]) } ?? members
                r.outranked = eldest.map { !$0.contains(us) } ?? false
            }
            return (r.pool, r.outranked, r.byPiece[index])
        }
        let order = cached ?? {
            let order = outranked ? PieceOwnership.ranked(piece: index, members: pool)
                : PieceOwnership.ranked(above: us, piece: index, members: pool)
            rankings.withLock { r in
                if r.pool == pool, r.outranked == outranked { r.byPiece[index] = order }
            }
            return order
        }()
        let above = order.filter { !excluded($0) }
        // When every one of the eldest is passed over (gone quiet, out for misses in a row), the pieces
        // still need owners: ranked among all members, as without first-join times (not cached: rare).
        guard outranked, above.isEmpty else { return above }
        return PieceOwnership.ranked(above: us, piece: index, members: members).filter { !excluded($0) }
    }

    /// Whether the last ranking drew owners from the swarm's eldest while other members are not among
    /// them (a swarm larger than `PeeringConfiguration.ownersAmongEldest`, with first-join times).
    /// Some member is left out of the pool ranked among: we are (`outranked`), or another member is.
    var ownersAreEldestOnly: Bool { rankings.withLock { $0.outranked || $0.pool != $0.members } }

    /// Rankings kept (`ranked(above:excluding:)`): a look at a waiting piece on every announcement
    /// would otherwise hash every member again. 4,096 pieces of 100 members are ~3 MiB at most.
    static let rankingsKept = 4096

    /// A piece is verified and stored: tell the peers now, those we download from too.
    func pieceStored(_ index: Int) {
        config.onVerifiedPiece?(hashOfHashes.bytes, index)
        swarm.holds(index)
        _ = onTheirWay.withLock { $0.remove(index) }
    }

    /// The fetch of piece `index` ended without it: no longer on its way.
    func pieceGivenUp(_ index: Int) {
        _ = onTheirWay.withLock { $0.remove(index) }
    }

    /// The pieces on their way to us from HTTP sources: fetching, or fetched and not stored yet (being
    /// verified, or written). A peer that connects hears them as claims (`SharedContent.fetching`) beside
    /// the bitfield of what we hold. Listed only while the fetch was under way, a piece being verified
    /// or written was in neither: a member that connected then, 46 ms after the fetch ended, took it for
    /// nobody's and fetched it from the origin again (fleet-bench, debug run).
    var piecesOnTheirWay: [Int] { onTheirWay.withLock { Array($0) } }

    /// We start fetching piece `index` from an HTTP source: claim it to the peers now (when we serve
    /// them: without a peer server, `--no-upload`, there is nobody to tell).
    func fetchingFromHTTP(_ index: Int) {
        _ = onTheirWay.withLock { $0.insert(index) }
        guard let claim = config.onFetchingFromHTTP else {
            logger.debug("piece \(index): fetching it from HTTP")
            return
        }
        logger.debug("piece \(index): fetching it from HTTP; claimed to the peers")
        claim(hashOfHashes.bytes, index)
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
}
