/// One row of the scored source table, as `dofs status` and tests see it.
public struct SourceScore: Codable, Sendable, Equatable {
    /// The source's name (a CDN URL, `cache host h:p`, `peer <id>`).
    public var source: String
    public var kind: SourceKind
    /// Bytes and pieces it delivered that passed verification.
    public var bytes = 0
    public var pieces = 0
    /// Requests that failed (an error, a refused or broken answer).
    public var failures = 0
    /// Requests overtaken by another source after their budget, owner waits in vain.
    public var timeouts = 0
    /// Pieces it owned (a peer) that it did not announce within the owner wait.
    public var ownerMisses = 0
    /// Pieces that failed SHA-256.
    public var badPieces = 0
    /// Recent piece times (seconds), when measured.
    public var p50Seconds: Double?
    public var p95Seconds: Double?
    /// The budget its next request gets.
    public var budgetSeconds: Double
    /// Lower is better: the expected seconds of a piece from it, with its recent trouble added.
    public var score: Double
    /// Seconds left of a drop (repeated timeouts); `nil` when it is in use.
    public var droppedSeconds: Double?

    public init(source: String, kind: SourceKind, budgetSeconds: Double, score: Double) {
        self.source = source
        self.kind = kind
        self.budgetSeconds = budgetSeconds
        self.score = score
    }
}
