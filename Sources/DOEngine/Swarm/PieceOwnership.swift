import DOCore
import DOSwarm

/// Who fetches a piece from the CDN, and when everybody else may: rendezvous hashing over the
/// members, with backups one owner wait apart.
///
/// Every member ranks the members it knows (itself included) for each piece by a hash of (peer id,
/// piece index). The top-ranked member, the piece's *owner*, fetches it from the CDN at once; the
/// member ranked k-th below it (its k-th backup) may go to the CDN only `k` owner waits after it
/// began waiting for the piece, and never later than the longest wait. Members that share a view of
/// the membership agree on the order, so when the owner is behind or gone, its first backup fetches the
/// piece and the others take it from a peer: the origin sends the piece twice, not once per member.
///
/// In a swarm larger than `PeeringConfiguration.ownersAmongEldest`, only its eldest members are ranked
/// (`eldest`): every other member has all of them above it.
///
/// Pure: no clock, no swarm; `ContentSourceSet` feeds it the members and the times.
struct PieceOwnership: Sendable {
    /// Rendezvous score of a member for a piece: the first 8 bytes of SHA-256(peer id ‖ index).
    static func rank(_ peer: PeerId, _ index: Int) -> UInt64 {
        var bytes = peer.bytes
        withUnsafeBytes(of: UInt64(index).bigEndian) { bytes += $0 }
        return SHA256.hash(bytes).bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A member and its rank for one piece.
    private typealias Ranked = (peer: PeerId, rank: UInt64)

    /// The one order of members for a piece: higher rank first, a tie (never seen: 64 bits of SHA-256)
    /// to the lower peer id.
    private static func precedes(_ a: Ranked, _ b: Ranked) -> Bool {
        a.rank > b.rank || (a.rank == b.rank && a.peer.bytes.lexicographicallyPrecedes(b.peer.bytes))
    }

    /// The members ranked above `us` for piece `index`, best first: the owner first, then its backups.
    /// Empty when we own the piece. `us` in `members` is ignored.
    static func ranked(above us: PeerId, piece index: Int, members: some Sequence<PeerId>) -> [PeerId] {
        let mine: Ranked = (us, rank(us, index))
        return members.filter { $0 != us }
            .map { (peer: $0, rank: rank($0, index)) }
            .filter { precedes($0, mine) }
            .sorted(by: precedes)
            .map(\.peer)
    }

    /// All of `members`, best ranked first for piece `index`: the order in which they own it, for a
    /// member that is not among them (see `eldest`).
    static func ranked(piece index: Int, members: some Sequence<PeerId>) -> [PeerId] {
        members.map { (peer: $0, rank: rank($0, index)) }.sorted(by: precedes).map(\.peer)
    }

    /// The `count` members that first joined the swarm, `us` included when we are one, by the service's
    /// first-join times (`joined`, in ms; ties by peer id): among them, and only them, pieces have owners
    /// (`PeeringConfiguration.ownersAmongEldest`). `nil` when everyone may own: `count` is 0, or a time is
    /// missing (ours or a member's: a service that does not give them, or a member it listed before).
    static func eldest(_ count: Int, us: PeerId, members: some Sequence<PeerId>, joined: [PeerId: Int64]) -> Set<PeerId>? {
        guard count > 0 else { return nil }
        var all: [(peer: PeerId, at: Int64)] = []
        for peer in [us] + Array(members) {
            guard let at = joined[peer] else { return nil }
            all.append((peer, at))
        }
        guard all.count > count else { return Set(all.map(\.peer)) }
        all.sort { $0.at < $1.at || ($0.at == $1.at && $0.peer.bytes.lexicographicallyPrecedes($1.peer.bytes)) }
        return Set(all.prefix(count).map(\.peer))
    }

    /// Whether `peer` owns piece `index` among `members` (itself included or not).
    static func owns(_ peer: PeerId, piece index: Int, members: some Sequence<PeerId>) -> Bool {
        let mine: Ranked = (peer, rank(peer, index))
        return !members.contains { other in other != peer && precedes((other, rank(other, index)), mine) }
    }

    /// When a member with `above` members ranked above it may fetch the piece from HTTP sources:
    /// `startedAt` plus one `wait` per member above it, at most `maxWait`. The owner (`above` 0) at once.
    ///
    /// An owner that is busy (it announced other pieces while we waited: it is fetching its share
    /// behind the same origin link as we are) gets one wait more, still within `maxWait`. The owner
    /// wait is about one CDN piece's time, and an owner that starts the piece a moment after we began
    /// waiting announces it a moment after that wait: measured at N = 8 behind a 200 Mbit/s origin,
    /// most pieces the origin sent twice were announced by their owner 0.1-0.2 s after a backup's
    /// wait ran out. An owner that announces nothing gains nothing from this.
    static func httpOpensAt(above: Int, startedAt: Double, wait: Double, maxWait: Double, ownerBusy: Bool = false) -> Double {
        guard above > 0 else { return startedAt }
        return startedAt + min(Double(above + (ownerBusy ? 1 : 0)) * wait, maxWait)
    }

    /// For a member ranked below the timed backups (`above` > `timedBackups`) whose timed wait is
    /// over: the instant to look again while it still keeps off HTTP sources, `nil` once they may go.
    ///
    /// The timed members (the owner and its first `timedBackups` backups) fetch the piece from the CDN
    /// on the clock, so the swarm gets it although its owner is late or gone. Everyone below them takes
    /// it from a peer as long as the swarm around it moves: a trusted connected peer announced the piece
    /// (`peersHaveIt`: it is asked, and hedged to other peers that have it), or the connected peers
    /// announced any pieces within the last `stallSeconds` (`swarmMovedAt`: when that was last seen).
    /// Only a swarm that stopped announcing for `stallSeconds`, or `maxHoldSeconds` from the piece's
    /// start, opens HTTP to them.
    ///
    /// Why: on the clock alone, every member ranked past the longest wait opened HTTP at that same
    /// instant. 100 peers on two cores are all slow alike (a piece took ~25 s from a peer in flight),
    /// the pieces had not reached most members' 16 connections by then, and up to 95 members fetched
    /// each piece from the origin (822 of 1,187 CDN pieces in one run). A slow swarm is not a stuck one:
    /// what a CPU-starved member lacks is CPU, and the origin's copies do not bring it any.
    static func lateBackupHold(above: Int, timedBackups: Int, now: Double, startedAt: Double, peersHaveIt: Bool,
                               swarmMovedAt: Double, stallSeconds: Double, maxHoldSeconds: Double) -> Double? {
        guard above > max(0, timedBackups) else { return nil }
        let holdEnds = startedAt + maxHoldSeconds
        guard now < holdEnds else { return nil }
        if peersHaveIt { return holdEnds }
        let stalledAt = swarmMovedAt + stallSeconds
        guard now < stalledAt else { return nil }
        return min(stalledAt, holdEnds)
    }
}

/// Which pieces a member fetches for the swarm before its own reader needs them ("serving ahead").
///
/// Ownership alone is demand-driven: an owner fetches its piece only when its own reader reaches it,
/// so a reader ahead of the others waits for owners that are behind, and after the owner waits the
/// CDN sends the piece again. Serving ahead follows the swarm's demand instead: the frontier is the
/// highest piece announced by a connected peer that is still downloading (a sequential reader
/// announces what it has read and wants the pieces after it); the pieces within `window` of it, on
/// both sides, that we own, that nobody announced and that we neither hold nor fetch, are fetched now,
/// lowest first, at most `limit` at a time. A member then fetches about its share of what the swarm
/// reads, whether or not it reads it itself, and owners are not behind the readers.
///
/// The frontier leaps: a piece served ahead is announced by its owner, and it becomes the frontier.
/// An owner busy with `limit` pieces when the frontier leaps past its other pieces would leave them
/// behind the window, unfetched until a reader needs one and waits for its owner in vain (measured
/// at N = 8: pieces waited 1.1-1.9 s for an owner that had let them fall out of the window, then came
/// from the origin a second time). So the window reaches back to the lowest piece a downloading peer
/// still lacks (`lowestMissing`: a sequential reader's position), at most `lookBehind` pieces below
/// the frontier; lowest first, those holes go before the pieces ahead.
enum ServeAhead {
    /// The pieces to start now. `wanted(i)`: nobody has piece `i` and we do not hold or fetch it;
    /// `owned(i)`: we own it (checked only for wanted pieces, since it hashes). `lowestMissing`: the
    /// lowest piece a downloading peer lacks (`nil`: none known). `floor`: none below it
    /// (`SessionSwarm.serveAheadFloor`).
    static func pieces(frontier: Int?, lowestMissing: Int? = nil, window: Int, lookBehind: Int = 0, floor: Int = 0,
                       pieceCount: Int, limit: Int, wanted: (Int) -> Bool, owned: (Int) -> Bool) -> [Int] {
        guard let frontier, limit > 0, window > 0, pieceCount > 0 else { return [] }
        var lo = max(0, frontier - window)
        if let lowestMissing, lowestMissing < lo { lo = max(0, lowestMissing, frontier - max(lookBehind, window)) }
        lo = max(lo, floor)
        let hi = min(pieceCount, frontier + window + 1)
        guard lo < hi else { return [] }
        var out: [Int] = []
        for i in lo..<hi where out.count < limit && wanted(i) && owned(i) { out.append(i) }
        return out
    }
}
