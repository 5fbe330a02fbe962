import DOCore
import Foundation
import Synchronization

/// One peer's latest join of one content.
struct SwarmMember: Sendable, Equatable {
    var peerId: String
    /// Where others should connect: the address the join came from (or, through a trusted proxy, the
    /// address the join reported).
    var ip: String
    var port: Int
    /// The address the join came from (the peer's public address behind a NAT): the address limits,
    /// peer-id binding and LAN matching use, which no join body can change.
    var externalIp: String
    /// The reported IPv4 address and mask, when both were given: the peer's subnet.
    var subnet: IPv4Subnet?
    var groupId: String
    var mode: PeeringMode
    var expiresAt: Date
}

/// An IPv4 network: address & mask, with the mask.
struct IPv4Subnet: Sendable, Equatable {
    let network: UInt32
    let mask: UInt32

    init(address: UInt32, mask: UInt32) {
        self.network = address & mask
        self.mask = mask
    }
}

/// The peering a join asks for: DO's download modes that involve peers, widest last.
enum PeeringMode: Int, Sendable, Comparable {
    /// Scope 1: peers behind the same public address (DO's LAN mode: the same NAT).
    case lan = 1
    /// Scope 2: LAN peers plus every peer with the same non-empty GroupId.
    case group = 2
    /// Scope 3: any peer of the content.
    case internet = 3

    static func < (a: PeeringMode, b: PeeringMode) -> Bool { a.rawValue < b.rawValue }

    /// True when two members may be told about each other at this mode: the one rule of scope.
    ///
    /// LAN is DO's NAT rule, the same public address, and nothing wider: two homes that both use
    /// 192.168.1.0/24 behind different public addresses are not each other's LAN. A member whose join
    /// reaches the control plane from a private, loopback or link-local address crossed no NAT: it is
    /// on the control plane's own network, and every such member counts as behind one address (a
    /// control plane inside a site serves that site's LAN). Narrowing to a subnet
    /// (`DORestrictPeerSelectionBy` 1) is the client's policy, applied to the answer it gets.
    func admits(_ a: SwarmMember, _ b: SwarmMember) -> Bool {
        switch self {
        case .internet:
            return true
        case .group:
            return Self.lan.admits(a, b) || (!a.groupId.isEmpty && a.groupId == b.groupId)
        case .lan:
            return Self.site(a.externalIp) == Self.site(b.externalIp)
        }
    }

    /// The public address a member is behind; one shared name for every non-public address.
    static func site(_ externalIp: String) -> String {
        IPAddress.isPublic(externalIp) ? externalIp : "(the control plane's own network)"
    }
}

/// Why a join was refused.
enum JoinRefusal: Error, Equatable {
    /// The peer id is bound to another address until `until`.
    case peerIdBoundElsewhere(until: Date)
    /// The address joins faster than its limit; retry after this many seconds.
    case rateLimited(retryAfterSeconds: Int)
}

/// Who is in which swarm: the array service's memory, keyed by content.
///
/// Guarantees:
/// - A member is listed until `expiresAt` (re-joining extends it), then forgotten.
/// - **A peer id belongs to the address that first joined with it** until its last membership
///   expires; a join that reuses it from another address is refused, so nobody can make readers
///   charge (and ban) an honest peer for an impostor's pieces.
/// - **One address cannot flood a swarm**: it has at most `maxMembersPerAddress` members per content
///   (its own oldest makes room), joins at most `joinsPerSecondPerAddress` (429 beyond), and answers
///   are a fair sample *by address*: addresses are drawn at random, one member each in turn, so a
///   thousand members at one address weigh as much as one member anywhere else.
/// - A content holds at most `maxMembersPerContent` members (the one closest to expiry goes first), all
///   swarms together at most `maxMembersTotal` (beyond it new members are answered but not recorded).
/// - An answer never lists the requester, lists at most `wanted` peers, and lists a peer only when
///   *both* sides' modes allow it (a LAN-only peer is never handed to an Internet-mode stranger).
/// Memory only: a restart empties the swarms, and every member is back within one re-announce interval.
final class SwarmMembership: Sendable {
    private let state = Mutex(State())
    private let limits: MembershipLimits

    private struct State {
        var swarms: [String: [String: SwarmMember]] = [:]
        var total = 0
        /// Peer id -> the address it is bound to, and until when.
        var peerIds: [String: (address: String, until: Date)] = [:]
        var joinBuckets: [String: TokenBucket] = [:]
        var nextSweep = Date.distantPast
    }

    init(_ limits: MembershipLimits) {
        self.limits = limits
    }

    /// Records `member` in `content`'s swarm (when `record`) and returns up to `wanted` other members
    /// it may peer with.
    func join(content: String, member: SwarmMember, wanted: Int, record: Bool,
              now: Date = Date()) throws(JoinRefusal) -> [SwarmMember] {
        try state.withLock { (state) throws(JoinRefusal) -> [SwarmMember] in
            if now >= state.nextSweep {
                Self.sweep(&state, joinRate: limits.joinsPerSecondPerAddress, now: now)
                state.nextSweep = now.addingTimeInterval(60)
            }
            try admit(&state, address: member.externalIp, now: now)
            if let bound = state.peerIds[member.peerId], bound.until > now, bound.address != member.externalIp {
                throw .peerIdBoundElsewhere(until: bound.until)
            }
            let before = state.swarms[content] ?? [:]
            var swarm = before.filter { $0.value.expiresAt > now }
            let candidates = swarm.values.filter { other in
                other.peerId != member.peerId && min(member.mode, other.mode).admits(member, other)
            }
            let isNew = swarm[member.peerId] == nil
            if record, !isNew || state.total - before.count + swarm.count < limits.maxMembersTotal {
                if isNew { makeRoom(in: &swarm, for: member) }
                swarm[member.peerId] = member
                let until = max(state.peerIds[member.peerId]?.until ?? .distantPast, member.expiresAt)
                state.peerIds[member.peerId] = (member.externalIp, until)
            }
            state.total += swarm.count - before.count
            state.swarms[content] = swarm.isEmpty ? nil : swarm
            guard wanted > 0 else { return [] }
            return Self.fairSample(candidates, wanted)
        }
    }

    /// Members of a content's swarm right now (for tests and status).
    func members(of content: String, now: Date = Date()) -> [SwarmMember] {
        state.withLock { state in (state.swarms[content] ?? [:]).values.filter { $0.expiresAt > now } }
    }

    // MARK: - Internals

    /// Charges one join to `address`'s bucket.
    private func admit(_ state: inout State, address: String, now: Date) throws(JoinRefusal) {
        var bucket: TokenBucket
        if let existing = state.joinBuckets[address] {
            bucket = existing
        } else {
            guard state.joinBuckets.count < limits.maxTrackedAddresses else { throw .rateLimited(retryAfterSeconds: 60) }
            bucket = TokenBucket(capacity: limits.joinBurstPerAddress, now: now)
        }
        let taken = bucket.take(rate: limits.joinsPerSecondPerAddress, now: now)
        state.joinBuckets[address] = bucket
        guard taken else {
            throw .rateLimited(retryAfterSeconds: max(1, Int((1 / max(limits.joinsPerSecondPerAddress, 0.001)).rounded(.up))))
        }
    }

    /// Frees a place for a new member: first among its own address's members, then in the swarm.
    private func makeRoom(in swarm: inout [String: SwarmMember], for member: SwarmMember) {
        let sameAddress = swarm.values.filter { $0.externalIp == member.externalIp }
        if sameAddress.count >= limits.maxMembersPerAddress,
           let oldest = sameAddress.min(by: { $0.expiresAt < $1.expiresAt }) {
            swarm[oldest.peerId] = nil
        }
        if swarm.count >= limits.maxMembersPerContent, let oldest = swarm.values.min(by: { $0.expiresAt < $1.expiresAt }) {
            swarm[oldest.peerId] = nil
        }
    }

    /// Up to `wanted` members, drawn address by address: each round takes one member of every
    /// address (in a random order of addresses), so no address fills an answer while others wait.
    static func fairSample(_ candidates: [SwarmMember], _ wanted: Int) -> [SwarmMember] {
        var byAddress = Dictionary(grouping: candidates.shuffled(), by: \.externalIp).values.map { ArraySlice($0) }
        byAddress.shuffle()
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

    private static func sweep(_ state: inout State, joinRate: Double, now: Date) {
        var total = 0
        for (content, swarm) in state.swarms {
            let alive = swarm.filter { $0.value.expiresAt > now }
            state.swarms[content] = alive.isEmpty ? nil : alive
            total += alive.count
        }
        state.total = total
        state.peerIds = state.peerIds.filter { $0.value.until > now }
        state.joinBuckets = state.joinBuckets.filter { !$0.value.isFull(rate: joinRate, now: now) }
    }
}

/// A token bucket: `capacity` tokens, refilled continuously at a rate given on each call.
struct TokenBucket {
    private(set) var tokens: Double
    let capacity: Double
    private var updated: Date

    init(capacity: Double, now: Date) {
        self.capacity = capacity
        tokens = capacity
        updated = now
    }

    /// Takes one token if there is one.
    mutating func take(rate: Double, now: Date) -> Bool {
        tokens = min(capacity, tokens + max(0, now.timeIntervalSince(updated)) * rate)
        updated = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// True when the bucket has refilled completely: forgetting it then changes nothing for its address.
    func isFull(rate: Double, now: Date) -> Bool { tokens + max(0, now.timeIntervalSince(updated)) * rate >= capacity }
}
