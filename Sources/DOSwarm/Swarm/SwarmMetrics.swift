import Metrics

/// The swarm's metrics, through swift-metrics: whoever runs the process picks the backend (`dofs node
/// --metrics-listen` bootstraps Prometheus); without one they cost a call into a no-op handler.
///
/// Handles are made on first use, so the backend must be bootstrapped before any swarm exists (the node
/// does it before it builds anything). Each value is moved where the swarm's own state changes, never
/// counted twice: `peersConnected` follows the connected-peer table of every swarm of the process.
public enum SwarmMetrics {
    /// `dofs_peers_connected`: peer connections open now, over every content's swarm.
    static let peersConnected = Meter(label: "dofs_peers_connected")
    /// `dofs_bans_total{kind="peer"}`: peers (identities or whole addresses) banned for bad pieces.
    static let peerBans = Counter(label: "dofs_bans_total", dimensions: [("kind", "peer")])

    /// Creates every handle now, so a scrape lists each metric (at zero) before its first event.
    public static func declare() {
        _ = (peersConnected, peerBans)
    }
}
