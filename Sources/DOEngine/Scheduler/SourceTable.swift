import Synchronization

/// The scored source table of one content: per source (peer, cache host, CDN URL) what it delivered,
/// how fast, and how often it failed, timed out or lied; used to order sources, to give each request
/// its budget, and to drop peers that keep timing out.
///
/// ## Score
/// A source's score is its expected piece time (the p50 of its last `latencySamples` pieces, or the
/// initial budget before it has delivered) multiplied by 1 + its trouble in a row (failures and
/// timeouts since its last good piece, each bad piece counting three). Lower is better.
///
/// ## Dropping
/// `dropAfterTimeouts` timeouts in a row drop a peer for `dropSeconds`: it gets no request and owns no
/// piece. A good piece ends the streak, and a timeout of a request made before the source's last good
/// piece does not extend it (the source is busy with a queue, not silent). Only peers are dropped: cache hosts have DO's bans, and the
/// CDN is the source of last resort. A drop whose every timeout waited unsent behind the peer's choke
/// (`busyQueueSeconds`) is a busy drop: the peer gets no request, but keeps its connection, its pieces
/// to own and its word (see `Drop`).
///
/// Every update is O(samples) under one short lock; reading the table copies it.
public final class SourceTable: Sendable {
    struct Entry {
        var kind: SourceKind
        var bytes = 0
        var pieces = 0
        var failures = 0
        var timeouts = 0
        /// Timeouts of requests the source had been sent, or had kept queued longer than
        /// `busyQueueSeconds` (see `mayBelieve`).
        var silentTimeouts = 0
        var badPieces = 0
        /// Failures and timeouts since the last good piece.
        var troubleInARow = 0
        var timeoutsInARow = 0
        /// Timeouts in the streak that were not queued behind a busy peer's choke (see `silentTimeouts`).
        var silentTimeoutsInARow = 0
        var samples: [Double] = []
        var nextSample = 0
        var droppedUntil: Double?
        /// The drop (`droppedUntil`) was a busy one (see `Drop.busy`).
        var droppedBusy = false
        var lastSuccessAt: Double?
        var ownerMisses = 0
        var ownerMissesInARow = 0
        var notOwnerUntil: Double?

        /// See `SourceTable.mayBelieve`.
        var believable: Bool { badPieces == 0 && (pieces > 0 || silentTimeouts == 0) }

        /// Dropped now, busy or silent (see `Drop`).
        func dropped(now: Double) -> Bool { droppedUntil.map { now < $0 } ?? false }

        /// Dropped now for silence: not a busy drop (see `Drop`).
        func droppedSilent(now: Double) -> Bool { !droppedBusy && dropped(now: now) }

        /// Owning nothing now (see `recordOwnerMiss`).
        func notOwner(now: Double) -> Bool { notOwnerUntil.map { now < $0 } ?? false }

        func percentile(_ p: Double) -> Double? {
            guard !samples.isEmpty else { return nil }
            let sorted = samples.sorted()
            let rank = Int((p * Double(sorted.count - 1)).rounded(.up))
            return sorted[min(max(rank, 0), sorted.count - 1)]
        }
    }

    public let configuration: SchedulerConfiguration
    let clock: any SchedulerClock
    private let entries = Mutex<[String: Entry]>([:])

    public init(configuration: SchedulerConfiguration = .init(), clock: any SchedulerClock = SystemSchedulerClock()) {
        self.configuration = configuration
        self.clock = clock
    }

    private func update<R>(_ name: String, _ kind: SourceKind, _ body: (inout Entry) -> R) -> R {
        entries.withLock { e in
            var entry = e[name] ?? Entry(kind: kind)
            let result = body(&entry)
            e[name] = entry
            return result
        }
    }

    /// A verified piece of `bytes` from `name` that took `seconds`.
    func recordSuccess(_ name: String, kind: SourceKind, bytes: Int, seconds: Double) {
        let keep = max(1, configuration.latencySamples)
        let now = clock.now
        update(name, kind) { e in
            e.lastSuccessAt = now
            e.bytes += bytes
            e.pieces += 1
            e.troubleInARow = 0
            e.timeoutsInARow = 0
            e.silentTimeoutsInARow = 0
            e.droppedUntil = nil
            e.ownerMissesInARow = 0
            if e.samples.count < keep {
                e.samples.append(seconds)
            } else {
                e.samples[e.nextSample % keep] = seconds
            }
            e.nextSample += 1
        }
    }

    func recordFailure(_ name: String, kind: SourceKind) {
        update(name, kind) { e in
            e.failures += 1
            e.troubleInARow += 1
        }
    }

    func recordBadPiece(_ name: String, kind: SourceKind) {
        update(name, kind) { e in
            e.badPieces += 1
            e.troubleInARow += 3
        }
    }

    /// What a drop (`dropAfterTimeouts` timeouts in a row) says of a peer.
    enum Drop: Equatable {
        /// A request was sent and not answered, or waited behind a choke older than `busyQueueSeconds`:
        /// the peer gets no request, owns no piece and vouches for nothing until the drop ends, and the
        /// swarm disconnects it.
        case silent
        /// Every timeout of the streak waited unsent behind the peer's choke, at most `busyQueueSeconds`
        /// old: the peer serves others first. It gets no request until that choke is `busyQueueSeconds`
        /// old, but keeps its connection, its word and the pieces it owns. An eldest member busy with its
        /// upload slots in a swarm's first seconds was dropped by a dozen members each; they then owned its
        /// pieces in their views, and two fetched from the origin a piece it was bringing (fleet-bench,
        /// 100 peers).
        case busy
    }

    /// A request made at `requestedAt` overtaken after its budget. Returns the drop when this drops
    /// the source (a peer at its `dropAfterTimeouts`-th timeout in a row). A source that delivered a
    /// piece since the request was made, or that is still sending, is busy, not silent: the timeout is
    /// counted, but not in the streak. `queuedSeconds`: how long the source had kept the request in its
    /// queue, unsent, when its budget ran out (`PieceSource.queuedSeconds`); up to `busyQueueSeconds`,
    /// the timeout leaves what the source announced believable (see `mayBelieve`), and a streak of only
    /// such makes a busy drop.
    @discardableResult
    func recordTimeout(_ name: String, kind: SourceKind, requestedAt: Double, stillSending: Bool = false,
                       queuedSeconds: Double? = nil) -> Drop? {
        let now = clock.now
        let silent = !(queuedSeconds.map { $0 <= configuration.busyQueueSeconds } ?? false)
        return update(name, kind) { e in
            e.timeouts += 1
            if silent { e.silentTimeouts += 1 }
            if stillSending { return nil }
            if let delivered = e.lastSuccessAt, delivered >= requestedAt { return nil }
            e.troubleInARow += 1
            e.timeoutsInARow += 1
            if silent { e.silentTimeoutsInARow += 1 }
            guard kind == .peer, e.timeoutsInARow >= configuration.dropAfterTimeouts,
                  !e.dropped(now: now) else { return nil }
            e.droppedBusy = e.silentTimeoutsInARow == 0
            // A busy drop lasts until the choke is a busy queue old: a request that waits on it after that
            // is a silent one, so a withholder that chokes everyone still loses its word at that timeout.
            let busyFor = configuration.busyQueueSeconds - (queuedSeconds ?? 0)
            e.droppedUntil = now + (e.droppedBusy ? busyFor : configuration.dropSeconds)
            e.timeoutsInARow = 0
            e.silentTimeoutsInARow = 0
            return e.droppedBusy ? .busy : .silent
        }
    }

    /// A peer owned a piece and did not announce it within the owner wait that began at `waitingSince`.
    /// Returns true when this takes its ownership away (at its `dropAfterTimeouts`-th miss in a row)
    /// for `dropSeconds`. An owner that delivered us a piece since the wait began is behind, not
    /// empty: the miss is counted, but not in the streak.
    @discardableResult
    func recordOwnerMiss(_ name: String, waitingSince: Double) -> Bool {
        let now = clock.now
        return update(name, .peer) { e in
            e.ownerMisses += 1
            if let delivered = e.lastSuccessAt, delivered >= waitingSince { return false }
            e.ownerMissesInARow += 1
            guard e.ownerMissesInARow >= configuration.dropAfterTimeouts else { return false }
            e.notOwnerUntil = now + configuration.dropSeconds
            e.ownerMissesInARow = 0
            return true
        }
    }

    /// Whether the peer `name` may own pieces now (see `recordOwnerMiss`); peers dropped for silence may
    /// not either (a busy drop leaves them their pieces, see `Drop`).
    func mayOwn(_ name: String) -> Bool {
        let now = clock.now
        return entries.withLock { e in
            guard let entry = e[name] else { return true }
            return !entry.notOwner(now: now) && !entry.droppedSilent(now: now)
        }
    }

    /// Owner misses charged to `name` so far (see `recordOwnerMiss`).
    func ownerMisses(_ name: String) -> Int { entries.withLock { $0[name]?.ownerMisses ?? 0 } }

    /// Whether `name`'s announcements are doubtful now: it is dropped for silence or owns nothing, or its
    /// last request timed out with nothing delivered since. Serving ahead ignores what such a peer
    /// announces (a withholder announces every piece and sends none). A failure alone (a choke, a
    /// busy peer) does not count: the pieces it announced are there, and fetching them from the CDN
    /// instead would cost the origin.
    func distrusts(_ name: String) -> Bool {
        let now = clock.now
        return entries.withLock { e in
            guard let entry = e[name] else { return false }
            return entry.timeoutsInARow > 0 || entry.droppedSilent(now: now) || entry.notOwner(now: now)
        }
    }

    /// Whether `name`'s announcements show what the swarm holds, for a member choosing between the swarm
    /// and the origin (`ContentSourceSet`'s eldest hold): it is not dropped for silence, and we may believe
    /// it (`mayBelieve`). Looser than `distrusts`, on purpose: with 100 members on two cores every peer
    /// overran budgets, each overrun made it doubtful, and owners fetched from the origin pieces their
    /// connections held (25 extra copies in one run).
    func vouches(_ name: String) -> Bool {
        let now = clock.now
        return entries.withLock { e in
            guard let entry = e[name] else { return true }
            return !entry.droppedSilent(now: now) && entry.believable
        }
    }

    /// Whether what `name` announced may be believed, dropped or not: it never sent a bad piece, and it
    /// delivered us a verified piece or no request to it ever timed out. A withholder announces every
    /// piece and delivers none: its first timeout ends its word for good, a drop (which restarts its
    /// streak) included. A starved peer that delivered before is slow, and what it announced is there.
    /// An owner that missed its pieces (`mayOwn`) is behind or empty, not lying. A request that timed
    /// out unsent in the queue of a peer that had choked us for at most `busyQueueSeconds` does not
    /// count: the peer serves others first (an eldest member, in a swarm's first seconds), as a choke
    /// that voids a request is not a lie either. A withholder that chokes everyone loses its word once
    /// it has done so that long.
    func mayBelieve(_ name: String) -> Bool {
        entries.withLock { $0[name]?.believable ?? true }
    }

    /// Whether `name` is dropped now.
    func isDropped(_ name: String) -> Bool {
        let now = clock.now
        return entries.withLock { $0[name]?.dropped(now: now) ?? false }
    }

    /// The budget of the next request to `name`.
    func budget(_ name: String) -> Double {
        configuration.budget(p95: entries.withLock { $0[name]?.percentile(0.95) })
    }

    /// The largest budget among sources of `kind` (the initial budget when none is measured): how long
    /// a piece from that kind may take now.
    func budget(ofKind kind: SourceKind) -> Double {
        let p95s = entries.withLock { e in e.values.filter { $0.kind == kind }.compactMap { $0.percentile(0.95) } }
        return configuration.budget(p95: p95s.max())
    }

    /// Lower is better (see "Score").
    func score(_ name: String) -> Double {
        entries.withLock { e in e[name].map(scoreOf) ?? configuration.initialBudgetSeconds }
    }

    private func scoreOf(_ e: Entry) -> Double {
        (e.percentile(0.5) ?? configuration.initialBudgetSeconds) * Double(1 + e.troubleInARow)
    }

    /// Every source seen, best first.
    public var scores: [SourceScore] {
        let now = clock.now
        let all = entries.withLock { $0 }
        return all.map { name, e in
            var row = SourceScore(source: name, kind: e.kind, budgetSeconds: configuration.budget(p95: e.percentile(0.95)),
                                  score: scoreOf(e))
            row.bytes = e.bytes
            row.pieces = e.pieces
            row.failures = e.failures
            row.timeouts = e.timeouts
            row.badPieces = e.badPieces
            row.p50Seconds = e.percentile(0.5)
            row.p95Seconds = e.percentile(0.95)
            row.ownerMisses = e.ownerMisses
            row.droppedSeconds = e.droppedUntil.flatMap { $0 > now ? $0 - now : nil }
            return row
        }.sorted { ($0.score, $0.source) < ($1.score, $1.source) }
    }
}
