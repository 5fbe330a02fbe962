import Foundation

/// One join waiting for its batch (`PostgresMembership`).
struct PendingJoin: Sendable {
    let content: String
    let member: SwarmMember
    let wanted: Int
    let record: Bool
    let now: Date
}

/// What a batch decides from: the bindings of its peer ids and the members of its swarms (expired
/// ones included or not: each join filters by its own `now`). `PostgresMembership` fills only the
/// swarms (from its `SwarmViewCache`); the bindings are checked by the batch's write statement.
struct SwarmSnapshot: Sendable {
    var bindings: [String: PeerIdBinding] = [:]
    var swarms: [String: [String: SwarmMember]] = [:]
}

/// A batch's decisions: `SwarmRules` applied to the joins one after the other, in arrival order, as
/// the in-memory store would apply them, each join seeing what the ones before it in the batch
/// did. Pure (no database), so it is tested like the rules themselves.
///
/// The answers wait for the write: the database may refuse a peer id that another address holds
/// (`answers(refused:)`); such a join is refused, and its member is handed to no other join.
struct JoinBatch {
    /// One decision per join, in order: whom it may be handed (sampled once the write said which
    /// peer ids were refused), or the refusal.
    private var decisions: [Result<Decision, JoinRefusal>] = []
    /// Peer id -> the binding to write (address, and the latest expiry of its recorded joins).
    private(set) var bindings: [String: PeerIdBinding] = [:]
    /// The members to upsert, one per (content, peer id): a peer's last join in the batch wins.
    private(set) var upserts: [SwarmKey: SwarmMember] = [:]
    /// The members to delete, each with the peer id whose admission evicted it: the deletion is
    /// written only if that peer id's binding is (see `PostgresMembership`).
    private(set) var evictions: [SwarmKey: String] = [:]
    /// Joins that added a member the snapshot did not hold (what `maxMembersTotal` counts).
    private(set) var admittedNew = 0
    /// The joins whose binding is not written (not recorded): their peer id must still not be bound to
    /// another address, which the write checks. Peer id and the joiner's address.
    private(set) var checks: [(peerId: String, address: String)] = []

    private struct Decision {
        let member: SwarmMember
        let candidates: [SwarmMember]
        let wanted: Int
    }

    /// A peer id the database refused for an address (bound to another one until `until`).
    struct Refused: Hashable, Sendable {
        let peerId: String
        let address: String
    }

    struct SwarmKey: Hashable, Sendable, Comparable {
        let content: String
        let peerId: String

        static func < (a: SwarmKey, b: SwarmKey) -> Bool { (a.content, a.peerId) < (b.content, b.peerId) }
    }

    /// Decides `joins` against `snapshot`; at most `roomForNew` of them may add a member that was
    /// not there (beyond it, as in the in-memory store, a join is answered but not recorded).
    init(_ joins: [PendingJoin], snapshot: SwarmSnapshot, limits: MembershipLimits, roomForNew: Int) {
        var state = snapshot
        decisions.reserveCapacity(joins.count)
        var unwritten: [(peerId: String, address: String)] = []
        for join in joins {
            var member = join.member
            if let refusal = SwarmRules.bindingRefusal(state.bindings[member.peerId], for: member, now: join.now) {
                decisions.append(.failure(refusal))
                continue
            }
            // Taken out of `state` (put back below) so that it is changed in place; filtered only when a
            // member has expired (a filter builds a new dictionary, once per join).
            var swarm = state.swarms.removeValue(forKey: join.content) ?? [:]
            if swarm.values.contains(where: { $0.expiresAt <= join.now }) { swarm = swarm.filter { $0.value.expiresAt > join.now } }
            let candidates = SwarmRules.candidates(for: member, in: swarm.values)
            member = SwarmRules.keepingFirstJoin(member, in: swarm)
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
            } else {
                unwritten.append((member.peerId, member.externalIp))
            }
            state.swarms[join.content] = swarm
            decisions.append(.success(Decision(member: member, candidates: candidates, wanted: join.wanted)))
        }
        let bound = bindings
        checks = unwritten.filter { bound[$0.peerId] == nil }
    }

    /// One answer per join, in order, when the database refused no peer id.
    var answers: [Result<JoinAnswer, JoinRefusal>] { answers(refused: [:]) }

    /// One answer per join, in order: the members handed out, or the refusal. `refused` (from the
    /// write) maps each refused peer id and address to the binding's expiry.
    func answers(refused: [Refused: Date]) -> [Result<JoinAnswer, JoinRefusal>] {
        decisions.map { decision in
            decision.flatMap { decided -> Result<JoinAnswer, JoinRefusal> in
                let joined = decided.member.firstJoined
                guard !refused.isEmpty else {
                    return .success(JoinAnswer(peers: SwarmRules.fairSample(decided.candidates, decided.wanted), firstJoined: joined))
                }
                if let until = refused[Refused(peerId: decided.member.peerId, address: decided.member.externalIp)] {
                    return .failure(.peerIdBoundElsewhere(until: until))
                }
                let allowed = decided.candidates.filter { refused[Refused(peerId: $0.peerId, address: $0.externalIp)] == nil }
                return .success(JoinAnswer(peers: SwarmRules.fairSample(allowed, decided.wanted), firstJoined: joined))
            }
        }
    }

    /// The members written (those of peer ids the database did not refuse), with their swarm.
    func written(refused: [Refused: Date]) -> [(content: String, member: SwarmMember)] {
        var written: [(content: String, member: SwarmMember)] = []
        for (key, member) in upserts where refused[Refused(peerId: member.peerId, address: member.externalIp)] == nil {
            written.append((content: key.content, member: member))
        }
        return written
    }

    /// The members deleted (those whose evicting peer id the database did not refuse).
    func deleted(refused: [Refused: Date]) -> [(content: String, peerId: String)] {
        var deleted: [(content: String, peerId: String)] = []
        for (key, owner) in evictions {
            guard let address = bindings[owner]?.address, refused[Refused(peerId: owner, address: address)] == nil else { continue }
            deleted.append((content: key.content, peerId: key.peerId))
        }
        return deleted
    }
}
