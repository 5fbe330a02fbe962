import Foundation

/// The swarm service's rules as pure functions of what a store holds, so every store (memory,
/// PostgreSQL) decides alike and a rule is changed here once:
/// - **scope** (who may be told about whom): `candidates`, through `PeeringMode.admits`;
/// - **peer-id binding**: `bindingRefusal`;
/// - **per-address and per-content limits**: `evictions`;
/// - **fair answers**: `fairSample`, address by address;
/// - **first joins**: `keepingFirstJoin`.
/// Stores only fetch the live members and the binding, and apply what these functions return.
enum SwarmRules {
    /// The members of `swarm` (live ones) that `member` may be told about: never itself, and only
    /// when both sides' modes allow it (a LAN-only peer is never handed to an Internet-mode stranger).
    static func candidates(for member: SwarmMember, in swarm: some Sequence<SwarmMember>) -> [SwarmMember] {
        swarm.filter { other in other.peerId != member.peerId && min(member.mode, other.mode).admits(member, other) }
    }

    /// Why `member` may not join with its peer id: the id is bound to another address until later than
    /// `now`. A peer id belongs to the address that first joined with it until its last membership expires.
    static func bindingRefusal(_ binding: PeerIdBinding?, for member: SwarmMember, now: Date) -> JoinRefusal? {
        guard let binding, binding.until > now, binding.address != member.externalIp else { return nil }
        return .peerIdBoundElsewhere(until: binding.until)
    }

    /// The peer ids to drop so a *new* `member` fits into `swarm` (its live members): first its own
    /// address's member closest to expiry when that address is at `maxMembersPerAddress` (a flood from
    /// one address only displaces itself), then the swarm's member closest to expiry when the swarm
    /// is at `maxMembersPerContent`.
    static func evictions(admitting member: SwarmMember, into swarm: [SwarmMember], limits: MembershipLimits) -> [String] {
        var dropped: [String] = []
        let sameAddress = swarm.filter { $0.externalIp == member.externalIp }
        if sameAddress.count >= limits.maxMembersPerAddress,
           let oldest = sameAddress.min(by: { $0.expiresAt < $1.expiresAt }) {
            dropped.append(oldest.peerId)
        }
        if swarm.count - dropped.count >= limits.maxMembersPerContent,
           let oldest = swarm.filter({ !dropped.contains($0.peerId) }).min(by: { $0.expiresAt < $1.expiresAt }) {
            dropped.append(oldest.peerId)
        }
        return dropped
    }

    /// `member` as it is recorded when it joins `swarm` (its live members): with the earlier of its own
    /// first-join time and the one its listed membership holds, so a re-join keeps when it first joined.
    static func keepingFirstJoin(_ member: SwarmMember, in swarm: [String: SwarmMember]) -> SwarmMember {
        guard let earlier = swarm[member.peerId]?.firstJoined else { return member }
        var kept = member
        kept.firstJoined = min(member.firstJoined, earlier)
        return kept
    }

    /// Up to `wanted` members, drawn address by address: each round takes one member of every
    /// address (in a random order of addresses), so no address fills an answer while others wait.
    static func fairSample(_ candidates: [SwarmMember], _ wanted: Int) -> [SwarmMember] {
        guard wanted > 0 else { return [] }
        var random = SampleRandom()
        var byAddress = Dictionary(grouping: candidates.shuffled(using: &random), by: \.externalIp).values.map { ArraySlice($0) }
        byAddress.shuffle(using: &random)
        var out: [SwarmMember] = []
        while out.count < wanted, !byAddress.isEmpty {
            var next: [ArraySlice<SwarmMember>] = []
            for var members in byAddress where out.count < wanted {
                out.append(members.removeFirst())
                if !members.isEmpty { next.append(members) }
            }
            byAddress = next
        }
        return out
    }
}

/// The address a peer id is bound to, and until when.
struct PeerIdBinding: Sendable, Equatable {
    var address: String
    var until: Date
}

/// The random draws of one `fairSample`: SplitMix64 seeded once from the system's generator. The
/// system's generator costs a `getrandom` system call per draw (two per candidate, tens per join);
/// this costs one per answer and stays unpredictable to a client, which is all fairness needs.
struct SampleRandom: RandomNumberGenerator {
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
