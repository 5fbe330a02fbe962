import Foundation

/// One join waiting for its batch (`PostgresMembership`).
struct PendingJoin: Sendable {
    let content: String
    let member: SwarmMember
    let wanted: Int
    let record: Bool
    let now: Date
}

/// What the database held for a batch when it was read: the bindings of its peer ids and the
/// members of its swarms (expired ones included or not: each join filters by its own `now`).
struct SwarmSnapshot: Sendable {
    var bindings: [String: PeerIdBinding] = [:]
    var swarms: [String: [String: SwarmMember]] = [:]
}

/// A batch's decisions: `SwarmRules` applied to the joins one after the other, in arrival order, as
/// the in-memory store would apply them, each join seeing what the ones before it in the batch
/// did. Pure (no database), so it is tested like the rules themselves.
struct JoinBatch {
    /// One answer per join, in order: the members handed out, or the refusal.
    private(set) var answers: [Result<[SwarmMember], JoinRefusal>] = []
    /// Peer id -> the binding to write (address, and the latest expiry of its recorded joins).
    private(set) var bindings: [String: PeerIdBinding] = [:]
    /// The members to upsert, one per (content, peer id): a peer's last join in the batch wins.
    private(set) var upserts: [SwarmKey: SwarmMember] = [:]
    /// The members to delete, each with the peer id whose admission evicted it: the deletion is
    /// written only if that peer id's binding is (see `PostgresMembership`).
    private(set) var evictions: [SwarmKey: String] = [:]
    /// Joins that added a member the snapshot did not hold (what `maxMembersTotal` counts).
    private(set) var admittedNew = 0

    struct SwarmKey: Hashable, Sendable, Comparable {
        let content: String
        let peerId: String

        static func < (a: SwarmKey, b: SwarmKey) -> Bool { (a.content, a.peerId) < (b.content, b.peerId) }
    }

    /// Decides `joins` against `snapshot`; at most `roomForNew` of them may add a member that was
    /// not there (beyond it, as in the in-memory store, a join is answered but not recorded).
    init(_ joins: [PendingJoin], snapshot: SwarmSnapshot, limits: MembershipLimits, roomForNew: Int) {
        var state = snapshot
        answers.reserveCapacity(joins.count)
        for join in joins {
            let member = join.member
            if let refusal = SwarmRules.bindingRefusal(state.bindings[member.peerId], for: member, now: join.now) {
                answers.append(.failure(refusal))
                continue
            }
            var swarm = (state.swarms[join.content] ?? [:]).filter { $0.value.expiresAt > join.now }
            let candidates = SwarmRules.candidates(for: member, in: swarm.values)
            let isNew = swarm[member.peerId] == nil
            if join.record, !isNew || admittedNew < roomForNew {
                if isNew {
                    for gone in SwarmRules.evictions(admitting: member, into: Array(swarm.values), limits: limits) {
                        swarm[gone] = nil
                        let key = SwarmKey(content: join.content, peerId: gone)
                        upserts[key] = nil
                        evictions[key] = member.peerId
                    }
                    admittedNew += 1
                }
                swarm[member.peerId] = member
                let key = SwarmKey(content: join.content, peerId: member.peerId)
                upserts[key] = member
                evictions[key] = nil
                let held = state.bindings[member.peerId]
                let until = held.map { $0.address == member.externalIp ? max($0.until, member.expiresAt) : member.expiresAt }
                    ?? member.expiresAt
                state.bindings[member.peerId] = PeerIdBinding(address: member.externalIp, until: until)
                let written = bindings[member.peerId]?.until ?? .distantPast
                bindings[member.peerId] = PeerIdBinding(address: member.externalIp, until: max(written, member.expiresAt))
            }
            state.swarms[join.content] = swarm
            answers.append(.success(SwarmRules.fairSample(candidates, join.wanted)))
        }
    }
}
