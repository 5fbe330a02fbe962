import DOSwarm
import Metrics

/// The engine's metrics, through swift-metrics (the process picks the backend: `dofs node
/// --metrics-listen` bootstraps Prometheus; without one each event costs a call into a no-op handler).
///
/// Handles are made on first use, so the backend must be bootstrapped before the engine exists (the
/// node does it before it builds anything). Every value is moved at the one place where the engine's
/// own count or state changes (bytes where `Traffic` is added to, evictions where the index evicts,
/// cache size where the index changes), so nothing here is a second bookkeeping to keep in step.
public enum EngineMetrics {
    /// `dofs_bytes_total{source}`: bytes of pieces fetched per source kind, and of reads answered
    /// from the piece cache (`local`); the node-wide sum of every session's `Traffic`.
    static let bytes = bySource { Counter(label: "dofs_bytes_total", dimensions: [("source", $0.rawValue)]) }
    /// `dofs_pieces_verified_total{source}`: pieces whose SHA-256 matched, by where they came from.
    static let piecesVerified = bySource(fetched) {
        Counter(label: "dofs_pieces_verified_total", dimensions: [("source", $0.rawValue)])
    }
    /// `dofs_pieces_failed_verification_total{source}`: pieces discarded because their SHA-256 did not match.
    static let piecesFailedVerification = bySource(fetched) {
        Counter(label: "dofs_pieces_failed_verification_total", dimensions: [("source", $0.rawValue)])
    }
    /// `dofs_bans_total{kind="cache_host"}`: cache hosts banned (for every origin or for one).
    static let cacheHostBans = Counter(label: "dofs_bans_total", dimensions: [("kind", "cache_host")])
    /// `dofs_cache_bytes` / `dofs_cache_pieces`: what the piece cache holds now.
    static let cacheBytes = Gauge(label: "dofs_cache_bytes")
    static let cachePieces = Gauge(label: "dofs_cache_pieces")
    /// `dofs_recent_piece_bytes`: bytes of committed pieces held in memory for the readers ahead of
    /// whom they were fetched (`RecentPieces`); back to zero once every such piece was read.
    static let recentPieceBytes = Gauge(label: "dofs_recent_piece_bytes")
    /// `dofs_cache_hits_total`: reads answered from the piece cache alone, without waiting.
    static let cacheHits = Counter(label: "dofs_cache_hits_total")
    /// `dofs_cache_misses_total`: reads that had to wait for at least one piece to be fetched.
    static let cacheMisses = Counter(label: "dofs_cache_misses_total")
    /// `dofs_cache_evictions_total`: pieces evicted to keep the cache under its size cap.
    static let cacheEvictions = Counter(label: "dofs_cache_evictions_total")
    /// `dofs_fetches_in_flight`: pieces being fetched now, over every open content.
    static let fetchesInFlight = Meter(label: "dofs_fetches_in_flight")

    /// `dofs_hedged_requests_total`: piece requests whose budget expired, so that the next source was
    /// started beside them (see `PieceScheduler`).
    static let hedges = Counter(label: "dofs_hedged_requests_total")
    /// `dofs_sources_dropped_total`: peers dropped by the source table after timeouts in a row.
    static let sourcesDropped = Counter(label: "dofs_sources_dropped_total")

    /// Creates every handle now, so a scrape lists each metric (at zero) before its first event.
    public static func declare() {
        _ = (bytes, piecesVerified, piecesFailedVerification, cacheHostBans, cacheBytes, cachePieces)
        _ = (cacheHits, cacheMisses, cacheEvictions, fetchesInFlight, hedges, sourcesDropped, recentPieceBytes)
        SwarmMetrics.declare()
    }

    /// The kinds pieces are fetched from (`local` answers reads, it never delivers a piece).
    private static let fetched: [SourceKind] = [.cdn, .cache, .peer]

    /// One counter per source kind, indexed by kind.
    private static func bySource(_ kinds: [SourceKind] = SourceKind.allCases,
                                 _ make: (SourceKind) -> Counter) -> [SourceKind: Counter] {
        Dictionary(uniqueKeysWithValues: kinds.map { ($0, make($0)) })
    }
}
