/// What one piece's fetch has seen so far; the source set reads it to decide who may be asked next.
public struct PieceProgress: Sendable {
    /// When the fetch of the piece began (`SchedulerClock` seconds).
    public var startedAt: Double
    /// Retry rounds so far: a round ends when every eligible source failed, and the next one begins
    /// after a back-off with every source eligible again.
    public var round = 0
    /// When sources of each kind first failed, or overran their budget, for this piece.
    public var firstTrouble: [SourceKind: Double] = [:]
    /// Sources working on the piece now.
    public var inFlight: Set<String> = []
    /// Sources that failed this round; not asked again before the next round.
    public var spent: Set<String> = []
    /// Notes a source set keeps for this piece (such as "the owner was charged once").
    public var notes: Set<String> = []
    /// The piece's owner when the wait for it began, and how many pieces it had announced then: an
    /// owner that announces more while we wait is busy, not empty (`PieceOwnership.httpOpensAt`).
    public var ownerAtWait: (owner: String, announced: Int)? = nil
    /// The swarm's `announcementsHeard` at the last look at this piece, and when it was last seen to
    /// move (`PieceOwnership.lateBackupHold`; HTTP overtaking peers in `ContentSourceSet`).
    public var swarmHeard: (count: Int, movedAt: Double)? = nil
    /// The connected peers that announced the piece while they vouched for their word
    /// (`SourceTable.vouches`), since its fetch began: the piece is in the swarm while any of them may
    /// still be believed (`SourceTable.mayBelieve`), even once starved holders were dropped or backed
    /// off (`ContentSourceSet`'s eldest hold).
    public var heldBy: Set<String> = []
    /// When HTTP sources first waited for a peer that claimed the piece (`ContentSourceSet`'s claims).
    public var claimHeldSince: Double? = nil

    public init(startedAt: Double) { self.startedAt = startedAt }

    /// Whether sources of `kind` have failed or overrun a budget for this piece.
    public func troubled(_ kind: SourceKind) -> Bool { firstTrouble[kind] != nil }
}

/// The sources that may be asked for a piece now, best first, and when that may change on its own.
public struct EligibleSources: Sendable {
    public var sources: [any PieceSource]
    /// When the answer may change without news (an owner wait or a cache-host fallback delay ends).
    public var reconsiderAt: Double?
    /// Whether news (a peer announcing the piece) could make a source eligible.
    public var newsMayHelp: Bool
    /// Whether the HTTP sources listed may start beside peers that overran their budgets and fill every
    /// place (`PieceScheduler`'s `maxParallelSources`): peers alone then hold no place from them.
    public var httpOvertakesPeers: Bool

    public init(sources: [any PieceSource], reconsiderAt: Double? = nil, newsMayHelp: Bool = false,
                httpOvertakesPeers: Bool = false) {
        self.sources = sources
        self.reconsiderAt = reconsiderAt
        self.newsMayHelp = newsMayHelp
        self.httpOvertakesPeers = httpOvertakesPeers
    }
}

/// Where a content's pieces may come from: the scheduler asks it which sources are eligible for a piece
/// (peers that announced it, then cache hosts and the CDN once the piece's owner had its chance), and
/// waits on it for news instead of polling.
public protocol PieceSourceSet: Sendable {
    /// The sources that may be asked for `piece` now, best first. The scheduler skips those in flight,
    /// spent this round or dropped. May note things in `progress.notes`.
    func eligible(piece: Int, progress: inout PieceProgress, now: Double) -> EligibleSources
    /// A counter that moves whenever a source may newly be able to deliver a piece (a peer announced one).
    var newsGeneration: Int { get }
    /// Returns once `newsGeneration` is past `generation` (at once when it already is), or when the
    /// calling task is cancelled.
    func waitForNews(after generation: Int) async
    /// Like `waitForNews(after:)`, for news that can concern `piece`: a set may leave news about other
    /// pieces out (it must not leave out any that can make a source eligible for this one).
    func waitForNews(about piece: Int, after generation: Int) async
    /// False when `waitForNews` can never return before cancellation (no swarm): the scheduler then
    /// spares the task (and its timer) that would wait for news, one per piece.
    var mayBringNews: Bool { get }
}

extension PieceSourceSet {
    public var newsGeneration: Int { 0 }
    public var mayBringNews: Bool { true }
    /// All news concerns every piece.
    public func waitForNews(about piece: Int, after generation: Int) async {
        await waitForNews(after: generation)
    }
    /// No news ever: waits until cancelled.
    public func waitForNews(after generation: Int) async {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }
}
