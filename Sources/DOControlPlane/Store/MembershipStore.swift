import Foundation

/// Where swarm membership lives: this process's memory (`SwarmMembership`, the embedded default) or
/// a PostgreSQL database that every instance of a fleet shares (`PostgresMembership`), so members
/// joined through one instance are handed out by all and an instance's death loses none.
///
/// Both apply `SwarmRules` (scope, peer-id binding, per-address and per-content limits, fair sample)
/// and `MembershipLimits`; see `SwarmMembership` for the guarantees.
protocol MembershipStore: Sendable {
    /// Records `member` in `content`'s swarm (when `record`) and returns up to `wanted` other members
    /// it may peer with, and the member's first-join time (`SwarmMember.firstJoined`: kept from its
    /// earlier joins). Throws `JoinRefusal` when the join is refused, `MembershipStoreError` when
    /// the store cannot be reached.
    func admit(content: String, member: SwarmMember, wanted: Int, record: Bool, now: Date) async throws -> JoinAnswer
    /// Live members of a content's swarm.
    func members(of content: String, now: Date) async throws -> [SwarmMember]
    func close() async
}

extension MembershipStore {
    /// `admit`'s peers only.
    func join(content: String, member: SwarmMember, wanted: Int, record: Bool, now: Date) async throws -> [SwarmMember] {
        try await admit(content: content, member: member, wanted: wanted, record: record, now: now).peers
    }
}

/// The membership store failed (the database is unreachable, a query failed): answered 503.
struct MembershipStoreError: Error, CustomStringConvertible {
    let description: String
}

/// The in-memory store's synchronous `join` and `members` are its witnesses.
extension SwarmMembership: MembershipStore {
    func close() async {}
}
