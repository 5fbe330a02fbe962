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
    /// When this peer id first joined this swarm; a re-join keeps it while the member stays listed.
    /// Answers carry it, so that every member knows which members are the swarm's eldest (readers
    /// draw piece owners from them: `PeeringConfiguration.ownersAmongEldest`).
    var firstJoined: Date = .distantPast
}

/// What a join gets from a membership store.
struct JoinAnswer: Sendable, Equatable {
    /// Up to `wanted` other members the joiner may peer with.
    var peers: [SwarmMember]
    /// When the joiner first joined the swarm (its own `SwarmMember.firstJoined` as recorded).
    var firstJoined: Date
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

/// Who is in which swarm: the array service's memory, keyed by content (the embedded default; a
/// fleet of instances shares `PostgresMembership` instead). The rules are `SwarmRules`'.
///
/// Guarantees:
/// - A member is listed until `expiresAt` (re-joining extends it), then forgotten; while it is listed it
///   keeps the time of its first join (`firstJoined`), which answers give.
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
    private let rate: JoinRateLimiter

    private struct State {
        var swarms: [String: [String: SwarmMember]] = [:]
        var total = 0
        /// Peer id -> the address it is bound to, and until when.
        var peerIds: [String: PeerIdBinding] = [:]
        var nextSweep = Date.distantPast
    }

    init(_ limits: MembershipLimits) {
        self.limits = limits
        rate = JoinRateLimiter(limits)
    }

    /// Records `member` in `content`'s swarm (when `record`) and returns up to `wanted` other members
    /// it may peer with.
    func join(content: String, member: SwarmMember, wanted: Int, record: Bool,
              now: Date = Date()) throws(JoinRefusal) -> [SwarmMember] {
        try admit(content: content, member: member, wanted: wanted, record: record, now: now).peers
    }

    /// `join`, with the joiner's first-join time (kept from its earlier joins while it stayed listed).
    func admit(content: String, member joining: SwarmMember, wanted: Int, record: Bool,
               now: Date = Date()) throws(JoinRefusal) -> JoinAnswer {
        try rate.admit(joining.externalIp, now: now)
        return try state.withLock { (state) throws(JoinRefusal) -> JoinAnswer in
            if now >= state.nextSweep {
                Self.sweep(&state, now: now)
                state.nextSweep = now.addingTimeInterval(60)
            }
            if let refusal = SwarmRules.bindingRefusal(state.peerIds[joining.peerId], for: joining, now: now) { throw refusal }
            let before = state.swarms[content] ?? [:]
            var swarm = before.filter { $0.value.expiresAt > now }
            let member = SwarmRules.keepingFirstJoin(joining, in: swarm)
            let candidates = SwarmRules.candidates(for: member, in: swarm.values)
            let isNew = swarm[member.peerId] == nil
            if record, !isNew || state.total - before.count + swarm.count < limits.maxMembersTotal {
                if isNew {
                    for gone in SwarmRules.evictions(admitting: member, into: Array(swarm.values), limits: limits) { swarm[gone] = nil }
                }
                swarm[member.peerId] = member
                let until = max(state.peerIds[member.peerId]?.until ?? .distantPast, member.expiresAt)
                state.peerIds[member.peerId] = PeerIdBinding(address: member.externalIp, until: until)
            }
            state.total += swarm.count - before.count
            state.swarms[content] = swarm.isEmpty ? nil : swarm
            return JoinAnswer(peers: SwarmRules.fairSample(candidates, wanted), firstJoined: member.firstJoined)
        }
    }

    /// Members of a content's swarm right now (for tests and status).
    func members(of content: String, now: Date = Date()) -> [SwarmMember] {
        state.withLock { state in (state.swarms[content] ?? [:]).values.filter { $0.expiresAt > now } }
    }

    // MARK: - Internals

    private static func sweep(_ state: inout State, now: Date) {
        var total = 0
        for (content, swarm) in state.swarms {
            let alive = swarm.filter { $0.value.expiresAt > now }
            state.swarms[content] = alive.isEmpty ? nil : alive
            total += alive.count
        }
        state.total = total
        state.peerIds = state.peerIds.filter { $0.value.until > now }
    }
}

/// The per-address join rate of `MembershipLimits`: one token bucket per address, in this process's
/// memory. Behind several instances each counts its own share (an address may join N times faster
/// through N instances); the limit is there to bound work per instance, which it still does.
final class JoinRateLimiter: Sendable {
    private let limits: MembershipLimits
    private let state = Mutex((buckets: [String: TokenBucket](), nextSweep: Date.distantPast))

    init(_ limits: MembershipLimits) {
        self.limits = limits
    }

    /// Charges one join to `address`'s bucket; refuses when it is empty, or when too many addresses
    /// are mid-burst to track another.
    func admit(_ address: String, now: Date) throws(JoinRefusal) {
        let rate = limits.joinsPerSecondPerAddress
        let taken = state.withLock { state -> Bool? in
            if now >= state.nextSweep {
                state.buckets = state.buckets.filter { !$0.value.isFull(rate: rate, now: now) }
                state.nextSweep = now.addingTimeInterval(60)
            }
            var bucket: TokenBucket
            if let existing = state.buckets[address] {
                bucket = existing
            } else {
                guard state.buckets.count < limits.maxTrackedAddresses else { return nil }
                bucket = TokenBucket(capacity: limits.joinBurstPerAddress, now: now)
            }
            let taken = bucket.take(rate: rate, now: now)
            state.buckets[address] = bucket
            return taken
        }
        switch taken {
        case .none: throw .rateLimited(retryAfterSeconds: 60)
        case .some(false): throw .rateLimited(retryAfterSeconds: max(1, Int((1 / max(rate, 0.001)).rounded(.up))))
        case .some(true): return
        }
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
