/// When a session joins its swarm again: sooner than the service asks while the swarm grows around it.
///
/// Ownership ranks over the members a session was listed (`SessionSwarm`). A member whose view lacks
/// members that joined after its last answer ranks itself first for pieces that one of them owns in
/// its own, fuller view, and both fetch those pieces from the origin. At the service's interval
/// (`ReannounceSecs`: 5 min in DO, 10 s in fleet-bench) views of a swarm starting together lag by
/// that long; only members that reach our peer server make us join at once (`announceSoon`), and with
/// 24 connections in a swarm of 100 most members never do.
///
/// So, while the content is still downloading and within `windowSeconds` of the first join:
/// - an answer that listed a member we did not know means the swarm is growing: join again after
///   `growingSeconds`;
/// - an answer that listed nobody new doubles the last wait (the swarm has settled), up to the
///   service's interval.
/// The fast interval is never shorter than one join per `maxSwarmJoinsPerSecond` over the swarm: every
/// member of a growing swarm does the same, so a swarm of n members makes at most that many joins a
/// second whatever n is. A finished member owns nothing any more (it fetches nothing), so its view
/// does not matter: it keeps the service's interval.
struct RejoinSchedule: Sendable {
    /// The wait after an answer that listed new members (1 s: a view lags a growing swarm by a
    /// second, against a piece's ~1-2 s in a busy swarm).
    var growingSeconds = 1.0
    /// How long after the first join the schedule may be faster than the service's: a swarm started
    /// together is listed in full within seconds; one minute covers 100 peers started over 16 s on two
    /// busy cores with room to spare, and bounds the extra joins of a session.
    var windowSeconds = 60.0
    /// Joins per second a growing swarm makes at most (see above): a control plane on the LAN serves
    /// thousands a second; a swarm of 10,000 re-joins every 100 s, not every second.
    var maxSwarmJoinsPerSecond = 100.0

    /// Seconds until the next join. `service`: the answer's interval (already bounded);
    /// `sinceFirstJoin`: seconds since the first answer; `newMembers`: members listed now that the
    /// previous answer had not; `listed`: members listed now; `previous`: the last wait (`nil` after
    /// the first join); `downloading`: the content still lacks pieces.
    func seconds(service: Double, sinceFirstJoin: Double, newMembers: Int, listed: Int, previous: Double?,
                 downloading: Bool) -> Double {
        guard downloading, sinceFirstJoin < windowSeconds else { return service }
        let fastest = max(growingSeconds, Double(listed + 1) / maxSwarmJoinsPerSecond)
        let wait = newMembers > 0 ? fastest : max(fastest, (previous ?? fastest) * 2)
        return min(service, wait)
    }
}
