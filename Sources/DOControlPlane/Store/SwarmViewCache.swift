import Foundation
import Synchronization

/// One instance's view of the swarms it decides joins for (`PostgresMembership`): each swarm's members
/// as PostgreSQL last returned them, plus what this instance's own committed batches changed since.
/// A batch decides from these views instead of reading every swarm it touches, so a swarm that is
/// joined many times a second costs the database one read per `refreshAfter`, not one per join.
///
/// ## Contract
/// - A view is used only while it is younger than `maxStaleness` (its age counts from the start of
///   the statement that read it); an older one, or none, is read before the batch decides (a *cold*
///   read). So a join is answered from a view that misses at most the members other instances (or
///   batches of this one running at the same time) wrote in the last `maxStaleness`: a member joined
///   through one instance is handed out by every instance at most `maxStaleness` after its join was
///   answered. A swarm an instance has not seen within `maxStaleness` is always read first.
/// - A view older than `refreshAfter` is used, and read again by the batch's write statement (in the
///   same round trip), so a busy swarm never goes cold.
/// - After a batch commits, its own upserts and evictions are applied to the views it touched: a
///   member this instance answered is in this instance's view at once (unless a read that began
///   before the commit replaces the view: then it is back within `maxStaleness`).
/// - Memory: at most `maxMembers` members over all views; beyond, views older than `maxStaleness`
///   are dropped, and if that is not enough, all.
final class SwarmViewCache: Sendable {
    /// How fresh views are kept; each default says why.
    struct Freshness: Sendable {
        /// Age after which a view is refreshed by the next write that touches its swarm. At 1 s a swarm
        /// joined 5,000 times a second costs the database one read of it a second per instance.
        var refreshAfter: Duration = .seconds(1)
        /// Age after which a view is not used: the swarm is read before deciding. How late a member
        /// joined through another instance may be handed out; 2 s is well under any re-announce
        /// interval (a member missed now is in the answer to the requester's next join).
        var maxStaleness: Duration = .seconds(2)
        /// Members kept over all views (about 300 bytes each: 60 MB).
        var maxMembers = 200_000

        init() {}

        init(refreshAfter: Duration, maxStaleness: Duration) {
            self.refreshAfter = refreshAfter
            self.maxStaleness = max(refreshAfter, maxStaleness)
        }
    }

    /// What a batch works from: the views it may use, and the swarms to read before or while writing.
    struct Plan: Sendable {
        var views: [String: [String: SwarmMember]] = [:]
        /// Swarms without a usable view: read before deciding.
        var cold: [String] = []
        /// Swarms whose view is used but due for a refresh: read by the write statement.
        var refresh: [String] = []
    }

    private struct Entry {
        var members: [String: SwarmMember]
        var readAt: ContinuousClock.Instant
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var members = 0
    }

    let freshness: Freshness
    private let state = Mutex(State())
    private let clock = ContinuousClock()

    init(_ freshness: Freshness = Freshness()) {
        self.freshness = freshness
    }

    var now: ContinuousClock.Instant { clock.now }

    /// Sorts `contents` into usable views, cold swarms and views due for a refresh.
    func plan(_ contents: some Sequence<String>) -> Plan {
        let now = clock.now
        return state.withLock { state in
            var plan = Plan()
            for content in contents {
                guard let entry = state.entries[content], now - entry.readAt < freshness.maxStaleness else {
                    plan.cold.append(content)
                    continue
                }
                plan.views[content] = entry.members
                if now - entry.readAt >= freshness.refreshAfter { plan.refresh.append(content) }
            }
            return plan
        }
    }

    /// Keeps the swarms read by a statement that began at `readAt` (a swarm absent from `swarms` but
    /// listed in `asked` had no live member). A view read later than this one is kept instead.
    func store(_ swarms: [String: [String: SwarmMember]], asked: [String], readAt: ContinuousClock.Instant) {
        state.withLock { state in
            for content in asked {
                if let held = state.entries[content], held.readAt > readAt { continue }
                let members = swarms[content] ?? [:]
                state.members += members.count - (state.entries[content]?.members.count ?? 0)
                state.entries[content] = Entry(members: members, readAt: readAt)
            }
            trim(&state)
        }
    }

    /// Applies a committed batch to the views it touched: `upserts` are in their swarms, `evictions` gone.
    func apply(upserts: some Sequence<(content: String, member: SwarmMember)>,
               evictions: some Sequence<(content: String, peerId: String)>) {
        state.withLock { state in
            for (content, peerId) in evictions {
                if state.entries[content]?.members.removeValue(forKey: peerId) != nil { state.members -= 1 }
            }
            for (content, member) in upserts where state.entries[content] != nil {
                if state.entries[content]?.members.updateValue(member, forKey: member.peerId) == nil { state.members += 1 }
            }
            trim(&state)
        }
    }

    private func trim(_ state: inout State) {
        guard state.members > freshness.maxMembers else { return }
        let now = clock.now
        state.entries = state.entries.filter { now - $0.value.readAt < freshness.maxStaleness }
        state.members = state.entries.values.reduce(0) { $0 + $1.members.count }
        if state.members > freshness.maxMembers {
            state.entries.removeAll()
            state.members = 0
        }
    }
}
