/// Budgets and limits of the piece scheduler, with the reason for each default.
///
/// A request's budget is how long the scheduler lets one source work on a piece before it starts the
/// next source in parallel (a hedge). It comes from what that source delivered lately: its p95 piece
/// time times `budgetFactor`, kept within `minBudgetSeconds`...`maxBudgetSeconds`.
public struct SchedulerConfiguration: Sendable {
    /// Budget of a source that has delivered nothing yet. One second is ~100 pieces' worth of a LAN
    /// peer and ~10 of a 100 Mbit/s CDN link, so an honest source is almost never hedged before it is
    /// measured, while a silent one costs one second at most.
    public var initialBudgetSeconds = 1.0
    /// A source's budget is its recent p95 times this: twice the usual slow answer is a real stall,
    /// not jitter.
    public var budgetFactor = 2.0
    /// No budget is shorter: below a quarter second, scheduling noise on a busy host would hedge
    /// healthy sources and double the bytes they send.
    public var minBudgetSeconds = 0.25
    /// No budget is longer: a foreground read never waits on one source longer than this before a
    /// second one is asked. Five seconds is DO's own DelayForegroundDownloadFromHttp.
    public var maxBudgetSeconds = 5.0
    /// Sources working on one piece at once (the first plus hedges). Three lets a withholding peer and
    /// a slow one both be overtaken without turning every piece into a race of every source. When the
    /// source set says so (a stalled swarm), an HTTP source gets one place more beside peers that
    /// fill them (see `PieceScheduler`).
    public var maxParallelSources = 3
    /// Piece times remembered per source for its percentiles.
    public var latencySamples = 32
    /// Timeouts in a row (budgets expired with nothing delivered, owner waits in vain) after which a
    /// peer is dropped: no more requests, no ownership. It is not banned: it never sent a bad byte.
    public var dropAfterTimeouts = 3
    /// How long a dropped peer stays out before it gets another chance.
    public var dropSeconds = 120.0
    /// A peer that has choked us for at most this long is busy: a request that overran its budget
    /// unsent in its queue still lets us believe what it announced (`SourceTable.mayBelieve`). With 100
    /// members queued for 8 upload slots, the eldest members kept most of the others waiting in a
    /// swarm's first seconds, and a backup that stopped believing them fetched from the origin pieces
    /// they held. No longer than the longest budget: a withholder that chokes everyone holds each
    /// member off the origin for at most this long, once.
    public var busyQueueSeconds = 5.0

    public init() {}

    /// The budget for a source whose p95 piece time is `p95` (`nil`: not measured yet).
    func budget(p95: Double?) -> Double {
        guard let p95 else { return initialBudgetSeconds }
        return min(max(p95 * budgetFactor, minBudgetSeconds), maxBudgetSeconds)
    }
}
