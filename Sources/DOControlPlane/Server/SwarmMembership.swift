import Foundation
import Synchronization

/// One peer's latest join of one content.
struct SwarmMember: Sendable, Equatable {
    var peerId: String
    /// Where others should connect: the reported address, else the address it joined from.
    var ip: String
    var port: Int
    /// The address the join came from (the peer's public address behind a NAT).
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
    /// Scope 1: peers on the same subnet or behind the same public address.
    case lan = 1
    /// Scope 2: LAN peers plus every peer with the same non-empty GroupId.
    case group = 2
    /// Scope 3: any peer of the content.
    case internet = 3

    static func < (a: PeeringMode, b: PeeringMode) -> Bool { a.rawValue < b.rawValue }

    /// True when two members may be told about each other at this mode.
    func admits(_ a: SwarmMember, _ b: SwarmMember) -> Bool {
        switch self {
        case .internet:
            return true
        case .group:
            return Self.lan.admits(a, b) || (!a.groupId.isEmpty && a.groupId == b.groupId)
        case .lan:
            if a.externalIp == b.externalIp { return true }
            if let sa = a.subnet, let sb = b.subnet { return sa == sb }
            return false
        }
    }
}

/// Who is in which swarm: the array service's memory, keyed by content.
///
/// Guarantees: a member is listed until `expiresAt` (re-joining extends it), then forgotten; a content
/// holds at most `maxMembersPerContent` members (the one closest to expiry goes first), and all swarms
/// together at most `maxMembersTotal` (beyond it new members are answered but not recorded, so
/// joins for made-up content IDs cannot grow memory without bound); an answer never
/// lists the requester, lists at most `wanted` peers, and lists a peer only when *both* sides' modes
/// allow it (a LAN-only peer is never handed to an Internet-mode stranger). Memory only: a restart
/// empties the swarms, and every member is back within one re-announce interval.
final class SwarmMembership: Sendable {
    private let state = Mutex(State())
    private let maxMembersPerContent: Int
    private let maxMembersTotal: Int

    private struct State {
        var swarms: [String: [String: SwarmMember]] = [:]
        var total = 0
        var nextSweep = Date.distantPast
    }

    init(maxMembersPerContent: Int, maxMembersTotal: Int = 1_000_000) {
        self.maxMembersPerContent = maxMembersPerContent
        self.maxMembersTotal = maxMembersTotal
    }

    /// Records `member` in `content`'s swarm (when `record`) and returns up to `wanted` other members
    /// it may peer with, in random order.
    func join(content: String, member: SwarmMember, wanted: Int, record: Bool, now: Date = Date()) -> [SwarmMember] {
        state.withLock { state in
            if now >= state.nextSweep {
                Self.sweep(&state, now: now)
                state.nextSweep = now.addingTimeInterval(60)
            }
            let before = state.swarms[content] ?? [:]
            var swarm = before.filter { $0.value.expiresAt > now }
            let candidates = swarm.values.filter { other in
                other.peerId != member.peerId && min(member.mode, other.mode).admits(member, other)
            }
            let isNew = swarm[member.peerId] == nil
            if record, !isNew || state.total - before.count + swarm.count < maxMembersTotal {
                if isNew, swarm.count >= maxMembersPerContent,
                   let oldest = swarm.values.min(by: { $0.expiresAt < $1.expiresAt }) {
                    swarm[oldest.peerId] = nil
                }
                swarm[member.peerId] = member
            }
            state.total += swarm.count - before.count
            state.swarms[content] = swarm.isEmpty ? nil : swarm
            guard wanted > 0 else { return [] }
            return Array(candidates.shuffled().prefix(wanted))
        }
    }

    /// Members of a content's swarm right now (for tests and status).
    func members(of content: String, now: Date = Date()) -> [SwarmMember] {
        state.withLock { state in (state.swarms[content] ?? [:]).values.filter { $0.expiresAt > now } }
    }

    private static func sweep(_ state: inout State, now: Date) {
        var total = 0
        for (content, swarm) in state.swarms {
            let alive = swarm.filter { $0.value.expiresAt > now }
            state.swarms[content] = alive.isEmpty ? nil : alive
            total += alive.count
        }
        state.total = total
    }
}
