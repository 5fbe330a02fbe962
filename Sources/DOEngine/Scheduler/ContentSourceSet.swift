import DOCore
import DOSwarm
import Foundation
import Logging

/// The sources of one content, in the order and under the rules DO gives them, as the scheduler asks
/// for them: peers that announced the piece first (best scored first); then, once the piece's owner
/// had its chance, the cache hosts; then the CDN URLs (rotated by retry round).
///
/// ## The owner's chance
/// When other members rank above us for the piece (see `SessionSwarm`, `PieceOwnership`), HTTP sources
/// wait one owner wait per member above us: the owner's first backup goes after one, its second after
/// two, and so on, nobody later than `httpDelaySeconds` (and the scheduler's largest budget); one wait
/// more when the owner announced other pieces meanwhile (busy fetching, see `PieceOwnership.httpOpensAt`).
/// The owner wait is the CDN's budget (how long a piece from the CDN takes now; at least the initial budget).
/// Waits count from the piece's start, from when our view of the swarm was ready, or from when the owner's
/// may have been (its first join plus `SessionSwarm.viewSettlingSeconds`), whichever came last, and last
/// while one of our own HTTP fetches has been under way longer than an owner wait.
/// Only the owner and its first `timedBackups` backups go on the clock: a member ranked below them then
/// still takes the piece from peers while a connected peer has it or the swarm around it announces
/// pieces, up to `lateBackupMaxHoldSeconds` (`PieceOwnership.lateBackupHold`): in a large swarm on busy
/// cores, everyone past the longest wait otherwise fetched the piece from the origin at that instant.
/// Whoever may use HTTP sources, a peer sending the piece (its connection brought a block within the
/// last second) is hedged to other peers only, not to HTTP, until it stalls or fails. HTTP sources come
/// after the peers that announced the piece while the swarm moves, and before them, in a place of
/// their own (`EligibleSources.httpOvertakesPeers`), once it has announced nothing new for
/// `swarmStallSeconds`.
/// Meanwhile peers that announce the piece (news) are asked, and hedged to one another. An owner whose wait
/// ends with nobody having the piece is charged an owner miss, and one connected for a while announcing
/// nothing at all is charged at once; a few misses in a row and it owns nothing for a while, and an owner
/// announcing nothing owns nothing from its first miss until it announces a piece (`SessionSwarm.mayOwn`).
/// Before the swarm's first join is answered nobody is known to own anything: HTTP sources
/// wait for the answer (an event) up to `firstJoinWaitSeconds` from the first piece asked for, then
/// open one piece at a time until it comes; briefly after it (see `SessionSwarm.secondsUntilReady`)
/// ownership still waits for the listed peers to connect. Why HTTP sources were opened
/// is noted in the piece's progress (`whyHTTP`), and a piece from HTTP says it at debug level.
///
/// ## A member's HTTP fetches are capped
/// A content shared with a swarm has at most `maxHTTPFetchesInSwarm` pieces fetched from HTTP sources
/// at once (its own and those it serves ahead). While the cap is reached, other pieces are offered
/// peers only, and their owner's chance is decided when a place frees (an HTTP fetch ending is news),
/// on the membership of that moment: a member that joined first owns every piece until the others
/// are listed, and without the cap it would queue its whole readahead on the origin before they join.
/// If the swarm's first join is still unanswered when its budget ends, the cap is one piece: a fleet
/// that starts together behind a slow control plane would otherwise fetch every piece once per member
/// (measured with 100 peers: three quarters of the origin's bytes). Content without a swarm has no cap.
///
/// ## Cache hosts (DO's rules)
/// Hosts are tried in order, banned ones skipped (`CacheHosts`). The CDN is eligible when no host is
/// usable, or once a host failed or overran its budget for this piece — at once without a fallback
/// delay, after it with one, never with a negative one (within the give-up time).
struct ContentSourceSet: PieceSourceSet {
    let cdn: [HTTPSource]
    let cacheHosts: CacheHosts?
    let swarm: SessionSwarm?
    let table: SourceTable
    let logger: Logger
    /// Counts this content's HTTP fetches for the swarm's cap (`maxHTTPFetchesInSwarm`); `nil`: no cap.
    var httpGate: HTTPGate? = nil

    private static let httpOpen = "http-open"
    private static let ownerCharged = "owner-charged"
    private static let ownerAwaited = "owner-awaited"
    private static let joinAwaited = "join-awaited"
    private static let swarmAwaited = "swarm-awaited"
    private static let peerMoving = "peer-moving"
    private static let swarmStalled = "swarm-stalled"
    private static let claimAwaited = "claim-awaited"
    private static let claimantCharged = "claimant-charged"
    /// When pieces stop waiting for the first join answer (`PeeringConfiguration.firstJoinWaitSeconds`).
    let firstJoin = InstantSetOnce()
    /// When our view of the swarm was first seen ready: owner waits of pieces asked for before it count
    /// from it (see `ownerWait`).
    let viewReady = InstantSetOnce()
    /// When our first join was answered, on the scheduler's clock (pinned at the first look that knows
    /// it): where the service's first-join times of the members are placed (see `ownerViewSettles`).
    let firstJoinAnswered = InstantSetOnce()

    var newsGeneration: Int { swarm?.swarm.announceGeneration ?? 0 }

    /// Only peers bring news (announcements); cache hosts and the CDN never do.
    var mayBringNews: Bool { swarm != nil }

    func waitForNews(after generation: Int) async {
        await waitForNews(piece: nil, after: generation)
    }

    /// A `have` of another piece changes nothing `eligible` decides for this one: the peers listed are
    /// those that announced this piece, and the owner's chance ends at an instant (`reconsiderAt`).
    /// An owner's first announcement only makes it no longer empty (it owns again: HTTP waits longer,
    /// never shorter). Bitfields, join answers and HTTP places freeing still wake every piece.
    func waitForNews(about piece: Int, after generation: Int) async {
        await waitForNews(piece: piece, after: generation)
    }

    private func waitForNews(piece: Int?, after generation: Int) async {
        if let swarm {
            await swarm.swarm.waitForAnnouncement(of: piece, after: generation)
        } else {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        }
    }

    func eligible(piece: Int, progress: inout PieceProgress, now: Double) -> EligibleSources {
        var sources: [any PieceSource] = []
        var httpCap = 0
        if let swarm {
            let timeout = swarm.config.peerPieceTimeoutSeconds
            let peers = swarm.swarm.peers(withPiece: piece).enumerated()
                .map { (rank: $0.offset, source: PeerSource(swarm: swarm.swarm, peer: $0.element.peer, piece: piece, timeoutSeconds: timeout,
                                                            expectedSeconds: $0.element.expectedSeconds)) }
                .map { (score: table.score($0.source.name), rank: $0.rank, source: $0.source) }
                .sorted { ($0.score, $0.rank) < ($1.score, $1.rank) }
            sources = peers.map(\.source)
            // Before the first join is answered nobody knows who owns what: nothing from HTTP sources
            // until the answer (news) or the first-join budget, then one piece at a time, or a fleet
            // that starts together behind a slow control plane fetches everything N times.
            let unanswered = swarm.secondsUntilReady() == nil
            if unanswered {
                let end = firstJoin.deadline(now: now, seconds: swarm.config.firstJoinWaitSeconds)
                if now < end {
                    if progress.notes.insert(Self.joinAwaited).inserted {
                        logger.debug("piece \(piece): waiting up to \(Int((end - now) * 1000)) ms for the swarm's first join answer")
                    }
                    return EligibleSources(sources: sources, reconsiderAt: end, newsMayHelp: true)
                }
            }
            let cap = unanswered ? 1 : swarm.config.maxHTTPFetchesInSwarm
            httpCap = cap
            if let gate = httpGate, cap > 0, gate.inFlight >= cap {
                // No place for an HTTP fetch: peers only, and who owns the piece is decided when a
                // place frees (an HTTP fetch ending is news), on the membership of that moment.
                return EligibleSources(sources: sources, newsMayHelp: true)
            }
            if !progress.notes.contains(Self.httpOpen) {
                // A withholder announces every piece: what it says does not spare an owner its miss.
                let peersHaveIt = peers.contains { !table.distrusts($0.source.name) }
                progress.heldBy.formUnion(peers.lazy.map(\.source.name).filter(table.vouches))
                if let wait = ownerWait(piece, swarm: swarm, progress: &progress, now: now, peersHaveIt: peersHaveIt) {
                    return EligibleSources(sources: sources, reconsiderAt: wait, newsMayHelp: true)
                }
                if let hold = claimHold(piece, swarm: swarm, progress: &progress, now: now) {
                    return EligibleSources(sources: sources, reconsiderAt: hold, newsMayHelp: true)
                }
                progress.notes.insert(Self.httpOpen)
            }
            // A peer working on the piece whose connection brought a block within the last second is
            // slow, not stalled: its overrun hedges to other peers only. On cores that every member
            // starves alike a peer's piece took 5-25 s, past any budget, and owners hedged pieces the
            // swarm held to the origin (most of a 100-peer run's second copies once backups held off).
            // It stalls, or fails at `peerPieceTimeoutSeconds`, and HTTP sources are offered again.
            if peers.contains(where: { progress.inFlight.contains($0.source.name) && $0.source.isReceiving }) {
                if progress.notes.insert(Self.peerMoving).inserted {
                    logger.debug("piece \(piece): a peer is sending it; no HTTP source while its connection moves bytes")
                }
                return EligibleSources(sources: sources, reconsiderAt: now + PeerSource.receivingWithinSeconds, newsMayHelp: true)
            }
        }
        let (found, reconsider) = httpSources(progress: progress, now: now)
        let http = httpGate.map { gate in found.map { gate.wrap($0, piece: piece, cap: httpCap) } } ?? found
        guard let swarm, !http.isEmpty, !sources.isEmpty else {
            return EligibleSources(sources: sources + http, reconsiderAt: reconsider, newsMayHelp: swarm != nil)
        }
        // Peers first while the swarm moves: on starved cores slow peers deliver, and HTTP first for
        // every piece whose peers had overrun sent the origin four to five copies of a 100-peer run.
        // Once it has announced nothing new for `swarmStallSeconds`, HTTP overtakes them: sixteen
        // withholders that joined first (they announce once, then nothing) were otherwise asked, each
        // for its full timeout, before the CDN.
        noteSwarmNews(swarm, progress: &progress, now: now)
        let stallEnds = (progress.swarmHeard?.movedAt ?? progress.startedAt) + swarm.config.swarmStallSeconds
        guard now >= stallEnds else {
            return EligibleSources(sources: sources + http, reconsiderAt: min(reconsider ?? stallEnds, stallEnds), newsMayHelp: true)
        }
        if progress.notes.insert(Self.swarmStalled).inserted {
            logger.debug("piece \(piece): the swarm announced nothing new for \(Int(swarm.config.swarmStallSeconds)) s; HTTP before its peers")
        }
        return EligibleSources(sources: http + sources, reconsiderAt: reconsider, newsMayHelp: true, httpOvertakesPeers: true)
    }

    /// When HTTP sources must still wait for the owner: the instant to look again; `nil` when they may go.
    private func ownerWait(_ piece: Int, swarm: SessionSwarm, progress: inout PieceProgress, now: Double,
                           peersHaveIt: Bool) -> Double? {
        guard let ready = swarm.secondsUntilReady() else {
            // The first join is still unanswered and its budget is spent (see `eligible`).
            progress.notes.insert("why: the first join was unanswered for \(swarm.config.firstJoinWaitSeconds) s")
            return nil
        }
        if ready > 0 { return now + ready }
        noteSwarmNews(swarm, progress: &progress, now: now)
        let above = swarm.ranked(above: piece, excluding: { !swarm.mayOwn($0, table: table) })
        let config = swarm.config
        /// The late-backup hold (see below) for a member `above` members down.
        func lateHold(above: Int) -> Double? {
            PieceOwnership.lateBackupHold(above: above, timedBackups: config.timedBackups, now: now,
                                          startedAt: progress.startedAt,
                                          peersHaveIt: peersHaveIt && !progress.troubled(.peer),
                                          swarmMovedAt: progress.swarmHeard?.movedAt ?? progress.startedAt,
                                          stallSeconds: config.swarmStallSeconds,
                                          maxHoldSeconds: config.lateBackupMaxHoldSeconds)
        }
        // In a swarm larger than its eldest, the eldest fetch every piece's first copy for everyone. A
        // piece that connected peers announced is in the swarm already: its owner and timed backup take
        // it from them as every other member does, while the swarm moves. On starved cores such a
        // piece's peers overran their budgets and timed out, and the eldest sent 17 of a run's 25 extra
        // origin copies 13-28 s in, for pieces the first members had fetched in its first 3 s. Once
        // seen held (`heldBy`), it stays so for this fetch while a holder may be believed: in a later
        // run the holders' overruns had made them doubtful, or got them dropped, and owners went to the
        // origin all the same. A withholder's word ends at its first timeout.
        let heldInSwarm = progress.heldBy.contains(where: table.mayBelieve)
        let inSwarm = heldInSwarm && swarm.ownersAreEldestOnly
        guard let owner = above.first else {
            if inSwarm, let hold = lateHold(above: .max) {
                if progress.notes.insert(Self.swarmAwaited).inserted {
                    logger.debug("piece \(piece): we own it and peers have it; taking it from peers while the swarm moves")
                }
                return min(hold, now + table.ownerWaitSeconds)
            }
            let heard = swarm.swarm.holdingsHeard
            progress.notes.insert("why: we own it among \(swarm.memberCount) member(s); \(heard.holding) of \(heard.told) connected peer(s) heard hold pieces\(heldInSwarm ? "; seen held in the swarm" : "")")
            return nil
        }
        // One owner wait per member ranked above us: the owner's first backup goes after one, the
        // others take it from a peer. The waits begin when the piece did, or when our view was ready if
        // that came later: the owner learns that the piece is its own from a view of the same moment.
        // Counted from the piece's start, a backup's first wait had mostly gone by in its own wait for
        // the view, and it fetched pieces whose owners were still bringing them.
        //
        // Nor before the owner's own view may be ready: a member that joined a moment after us holds its
        // decisions while peers arrive (`SessionSwarm.viewSettlingSeconds`). Counted from our view alone,
        // a backup whose view was ready first fetched pieces its owner began 20-100 ms later (debug
        // fleet runs, 100 peers: the extra copies of the first seconds).
        let wait = table.ownerWaitSeconds
        let waitingSince = max(progress.startedAt, viewReady.deadline(now: now),
                               ownerViewSettles(owner, swarm: swarm, now: now) ?? -.infinity)
        var end = PieceOwnership.httpOpensAt(above: above.count, startedAt: waitingSince, wait: wait,
                                             maxWait: swarm.longestOwnerWait(table), ownerBusy: ownerBusy(owner, swarm: swarm, progress: &progress))
        if ownHTTPIsSlow(now: now) {
            // Until that fetch ends (news: the gate's place frees) or the longest owner wait.
            end = max(end, waitingSince + swarm.longestOwnerWait(table))
        }
        // The owner's own chance ends one wait in, whatever our rank. An owner that is empty (see
        // `SessionSwarm.isEmptyOwner`: connected two waits, announcing nothing) has had its chance
        // already, and is charged at once by every waiter, not only its first backup: the others take
        // the piece from that backup, often before their own wait for it would run out (a reader
        // trailing the backup always does), and a backup fetching the piece does not excuse it.
        let ownersChanceEnds = waitingSince + wait
        if swarm.isEmptyOwner(owner, ownerWait: wait) {
            chargeOwner(owner, progress: &progress)
        }
        if now < end {
            if progress.notes.insert(Self.ownerAwaited).inserted {
                logger.debug("piece \(piece): waiting up to \(Int((end - now) * 1000)) ms for its owner to announce it (\(above.count) member(s) ranked above us)",
                             metadata: ["peer": "\(owner)"])
            }
            return now < ownersChanceEnds ? ownersChanceEnds : end
        }
        // Peers having the piece excuse an owner that is behind: a backup fetched it.
        if !peersHaveIt { chargeOwner(owner, progress: &progress) }
        // A peer that announced the piece holds HTTP back until a peer stalls on it (overran its budget
        // or failed); after that only a swarm that moves does.
        if let hold = lateHold(above: inSwarm ? .max : above.count) {
            if progress.notes.insert(Self.swarmAwaited).inserted {
                logger.debug("piece \(piece): \(above.count) member(s) ranked above us and the swarm moves; taking it from peers")
            }
            // Looked at again every owner wait too: an owner or backup found empty, dropped or gone
            // meanwhile makes us a timed backup, and nothing else wakes the piece for that.
            return min(hold, now + wait)
        }
        let held = progress.notes.contains(Self.swarmAwaited) ? ", then the swarm stalled or \(Int(config.lateBackupMaxHoldSeconds)) s passed" : ""
        progress.notes.insert("why: owner \(owner) and \(above.count - 1) backup(s) let \(Int((now - progress.startedAt) * 1000)) ms pass among \(swarm.memberCount) member(s)\(peersHaveIt ? ", peers have it" : heldInSwarm ? ", seen held in the swarm" : "")\(held)")
        return nil
    }

    /// When `owner`'s view of the swarm is ready at the latest, in a swarm that starts together: its first
    /// join plus `SessionSwarm.viewSettlingSeconds`, on the scheduler's clock. `nil` without first-join times.
    private func ownerViewSettles(_ owner: PeerId, swarm: SessionSwarm, now: Double) -> Double? {
        guard let offset = swarm.firstJoinOffset(of: owner), let since = swarm.secondsSinceFirstJoin() else { return nil }
        return firstJoinAnswered.pin(now - since) + offset + SessionSwarm.viewSettlingSeconds
    }

    /// Notes when the swarm was last seen to announce something new (`PieceProgress.swarmHeard`).
    private func noteSwarmNews(_ swarm: SessionSwarm, progress: inout PieceProgress, now: Double) {
        let heard = swarm.swarm.announcementsHeard
        if progress.swarmHeard?.count != heard { progress.swarmHeard = (heard, now) }
    }

    /// Whether one of our own HTTP fetches of this content has been under way longer than an owner
    /// wait: then the owners' wait lasts until it ends, up to the longest owner wait. An owner fetches
    /// over the same origin link as we do and cannot bring a piece sooner than our own fetches come:
    /// with 100 peers behind 200 Mbit/s a piece took 2-3 s in the first seconds, while budgets measured
    /// on nothing yet still said 1 s, and timed backups fetched again pieces that their owners were
    /// bringing.
    private func ownHTTPIsSlow(now: Double) -> Bool {
        (httpGate?.longestInFlightSeconds(now: now) ?? 0) > table.ownerWaitSeconds
    }

    /// When HTTP sources must still wait for a connected member that claims to be fetching the piece
    /// from HTTP now (`PeerMessage.fetching`): the instant to look again; `nil` when none does.
    ///
    /// Ownership alone cannot see a piece on its way: members that decide at the same moment on
    /// different views of a growing swarm (one listed 4 members, the next 45) each own it, and each
    /// fetched it from the origin (fleet-bench, 100 peers: 17 of 22 extra copies came in the first 7 s,
    /// while the swarm grew from 1 to 60). A claim is a promise, trusted as far as an owner's: only
    /// from a member that may own pieces (`mayOwn`), for at most the longest owner wait from when we
    /// heard it (an older claim holds nothing), and never longer in all for one piece, whoever else
    /// claims it meanwhile. The
    /// claimant's `have` is news that ends the wait; a claim that runs out charges its claimant an
    /// owner miss, so a peer that claims and never brings loses its claims with its ownership.
    private func claimHold(_ piece: Int, swarm: SessionSwarm, progress: inout PieceProgress, now: Double) -> Double? {
        let lifetime = swarm.longestOwnerWait(table)
        let claims = swarm.swarm.claims(of: piece).filter { claim in
            !table.distrusts(PeerSource.name(of: claim.peer)) && swarm.mayOwn(claim.peer, table: table)
        }
        let youngest = claims.map(\.ageSeconds).min().flatMap { $0 < lifetime ? $0 : nil }
        guard let heldSince = progress.claimHeldSince ?? youngest.map({ _ in now }) else { return nil }
        progress.claimHeldSince = heldSince
        let end = min(youngest.map { now + lifetime - $0 } ?? now, heldSince + lifetime)
        if now < end {
            if progress.notes.insert(Self.claimAwaited).inserted {
                logger.debug("piece \(piece): waiting up to \(Int((end - now) * 1000)) ms for \(claims.count) peer(s) fetching it from HTTP")
            }
            return end
        }
        // The wait ran out: the claimants that still have not announced it are charged, once.
        if progress.notes.insert(Self.claimantCharged).inserted {
            for claim in claims { table.recordOwnerMiss(PeerSource.name(of: claim.peer), waitingSince: progress.startedAt) }
            progress.notes.insert("why: \(claims.count) peer(s) claimed it and did not announce it within \(Int(lifetime * 1000)) ms")
        }
        return nil
    }

    /// Whether `owner` announced pieces since this piece began waiting for it (the first look at an
    /// owner counts what it had announced then; a new owner starts the count again).
    private func ownerBusy(_ owner: PeerId, swarm: SessionSwarm, progress: inout PieceProgress) -> Bool {
        let announced = swarm.swarm.piecesAnnounced(by: owner) ?? 0
        let name = PeerSource.name(of: owner)
        guard let before = progress.ownerAtWait, before.owner == name else {
            progress.ownerAtWait = (name, announced)
            return false
        }
        return announced > before.announced
    }

    /// Charges `owner` an owner miss for this piece, once.
    private func chargeOwner(_ owner: PeerId, progress: inout PieceProgress) {
        guard progress.notes.insert(Self.ownerCharged).inserted else { return }
        table.recordOwnerMiss(PeerSource.name(of: owner), waitingSince: progress.startedAt)
    }

    /// Why HTTP sources were opened for a piece, from its notes (for the debug line of a piece from HTTP).
    static func whyHTTP(_ notes: Set<String>) -> String {
        notes.filter { $0.hasPrefix("why: ") }.map { String($0.dropFirst(5)) }.sorted().joined(separator: "; ")
    }


    /// Cache hosts and CDN URLs for this round, and when the CDN becomes eligible if it is not yet.
    private func httpSources(progress: PieceProgress, now: Double) -> ([any PieceSource], Double?) {
        guard !cdn.isEmpty else { return ([], nil) }
        let first = progress.round % cdn.count
        let urls = Array(cdn[first...] + cdn[..<first])
        guard let cacheHosts, let origin = CacheHostURL.origin(of: urls[0].url) else { return (urls, nil) }
        let hosts: [any PieceSource] = cacheHosts.available(forOrigin: origin).compactMap { host in
            guard let (http, origin) = urls[0].viaCacheHost(host, client: cacheHosts.http) else { return nil }
            return CacheHostSource(host: host, origin: origin, http: http, hosts: cacheHosts)
        }
        guard !hosts.isEmpty else { return (urls, nil) }
        guard let troubleAt = progress.firstTrouble[.cache] else { return (hosts, nil) }
        let delay = cacheHosts.configuration.fallbackDelaySeconds
        if delay < 0 { return (hosts, nil) }
        if now >= troubleAt + delay { return (hosts + urls, nil) }
        return (hosts, troubleAt + delay)
    }
}

extension SessionSwarm {
    /// Owner waits a member must have been connected, announcing nothing at all, to count as empty: an
    /// honest member fetches the pieces it owns as soon as it is listed and announces each, so after two
    /// waits it has announced one, while a member that merely started late is spared.
    static let emptyOwnerAfterWaits = 2.0

    /// The longest a piece waits for its owner, or for a claimant (`--http-delay`, within the
    /// scheduler's largest budget).
    func longestOwnerWait(_ table: SourceTable) -> Double {
        min(config.httpDelaySeconds, table.configuration.maxBudgetSeconds)
    }

    /// Whether `peer` is an empty owner: connected for `emptyOwnerAfterWaits` owner waits and announcing
    /// nothing at all. It fetches nothing for the swarm.
    func isEmptyOwner(_ peer: PeerId, ownerWait: Double) -> Bool {
        swarm.announcedNothing(peer, connectedFor: Self.emptyOwnerAfterWaits * ownerWait)
    }

    /// Whether `peer` may own pieces now: the source table lets it (it is not dropped, nor out for
    /// misses in a row), and it is not an empty owner that missed a wait. Leaving an empty member its
    /// pieces until three waits in a row run out costs every reader those waits, while taking them from
    /// it at once lets its backups fetch them ahead (`ServeAhead`). It owns again as soon as it announces
    /// a piece.
    func mayOwn(_ peer: PeerId, table: SourceTable) -> Bool {
        let name = PeerSource.name(of: peer)
        guard table.mayOwn(name) else { return false }
        return table.ownerMisses(name) == 0 || !isEmptyOwner(peer, ownerWait: table.ownerWaitSeconds)
    }
}

extension SourceTable {
    /// How long a member waits for a piece's owner to announce it: how long a piece from the CDN takes
    /// now (the owner must fetch it too), but never less than the budget of a source not measured yet:
    /// on a fast link the CDN's own budget is a fraction of the time an owner needs to reach the piece
    /// in its readahead.
    var ownerWaitSeconds: Double { max(budget(ofKind: .cdn), configuration.initialBudgetSeconds) }
}

extension PeerSource {
    /// The source-table name of a peer.
    static func name(of peer: PeerId) -> String { "peer \(peer)" }
}
