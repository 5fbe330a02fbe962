import Foundation
import PostgresNIO
import Synchronization

/// Swarm membership in PostgreSQL, shared by every instance of a fleet: a member joined through one
/// instance is handed out by all, and an instance's death loses no member.
///
/// A join is at most two (prepared) statements. The first reads the peer id's binding and the swarm's live
/// members; the decisions are `SwarmRules`' (the same as the in-memory store's); the second, when the
/// join is recorded, binds the peer id, drops the evicted members and upserts the member, all in one
/// statement whose binding step is conditional (`ON CONFLICT ... WHERE`): if another address took
/// the peer id between the two statements, nothing is written. Two instances admitting new members
/// of one address at the same instant may leave it one member over `maxMembersPerAddress` until
/// its next join; that is the price of not locking the swarm for every join.
///
/// Expired rows are ignored by every read and deleted by each instance once a minute. The join rate
/// per address is counted by each instance in memory (`JoinRateLimiter`). `maxMembersTotal` is not
/// enforced here: rows cost disk, not the instance's memory, and the rate limit bounds how fast one
/// address can add them.
final class PostgresMembership: MembershipStore {
    private let database: PostgresDatabase
    private let limits: MembershipLimits
    private let rate: JoinRateLimiter
    private let nextSweep = Mutex(Date.distantPast)
    /// How often expired members and bindings are deleted, by each instance.
    static let sweepInterval: TimeInterval = 60

    init(_ database: PostgresDatabase, limits: MembershipLimits) {
        self.database = database
        self.limits = limits
        rate = JoinRateLimiter(limits)
    }

    func join(content: String, member: SwarmMember, wanted: Int, record: Bool, now: Date) async throws -> [SwarmMember] {
        try rate.admit(member.externalIp, now: now)
        sweepIfDue(now)
        let (binding, swarm) = try await read(content: content, peerId: member.peerId, now: now)
        if let refusal = SwarmRules.bindingRefusal(binding, for: member, now: now) { throw refusal }
        let candidates = SwarmRules.candidates(for: member, in: swarm)
        if record {
            let isNew = !swarm.contains { $0.peerId == member.peerId }
            let evicted = isNew ? SwarmRules.evictions(admitting: member, into: swarm, limits: limits) : []
            try await write(content: content, member: member, evicting: evicted, now: now)
        }
        return SwarmRules.fairSample(candidates, wanted)
    }

    func members(of content: String, now: Date) async throws -> [SwarmMember] {
        try await read(content: content, peerId: "", now: now).swarm
    }

    func close() async {}

    // MARK: - Statements

    /// The peer id's binding and the swarm's live members (at most `maxMembersPerContent`), in one round trip.
    private func read(content: String, peerId: String, now: Date) async throws -> (binding: PeerIdBinding?, swarm: [SwarmMember]) {
        let statement = SwarmRead(peerId: peerId, content: content, now: now.timeIntervalSince1970, limit: limits.maxMembersPerContent)
        var binding: PeerIdBinding?
        var swarm: [SwarmMember] = []
        do {
            for try await (kind, id, ip, port, external, network, mask, group, mode, expires) in
                try await database.client.execute(statement, logger: database.logger) {
                if kind == 0 {
                    binding = PeerIdBinding(address: id, until: Date(timeIntervalSince1970: expires))
                    continue
                }
                var subnet: IPv4Subnet?
                if let network, let mask, let n = UInt32(exactly: network), let m = UInt32(exactly: mask) {
                    subnet = IPv4Subnet(address: n, mask: m)
                }
                swarm.append(SwarmMember(peerId: id, ip: ip, port: port, externalIp: external, subnet: subnet, groupId: group,
                                         mode: PeeringMode(rawValue: mode) ?? .lan,
                                         expiresAt: Date(timeIntervalSince1970: expires)))
            }
        } catch {
            throw MembershipStoreError(description: DatabaseFailure(error).description)
        }
        return (binding, swarm)
    }

    /// Binds the peer id (unless another address holds it), drops `evicting` and upserts `member`.
    private func write(content: String, member: SwarmMember, evicting: [String], now: Date) async throws {
        let statement = SwarmWrite(content: content, member: member, evicting: evicting, now: now.timeIntervalSince1970)
        do {
            for try await _ in try await database.client.execute(statement, logger: database.logger) {}
        } catch {
            throw MembershipStoreError(description: DatabaseFailure(error).description)
        }
    }

    /// Deletes expired members and bindings, in the background, once per `sweepInterval`.
    private func sweepIfDue(_ now: Date) {
        let due = nextSweep.withLock { next -> Bool in
            guard now >= next else { return false }
            next = now.addingTimeInterval(Self.sweepInterval)
            return true
        }
        guard due else { return }
        let (client, logger, at) = (database.client, database.logger, now.timeIntervalSince1970)
        Task {
            do {
                try await client.query("DELETE FROM swarm_member WHERE expires_at <= \(at)", logger: logger)
                try await client.query("DELETE FROM peer_binding WHERE until <= \(at)", logger: logger)
            } catch {
                logger.warning("sweeping expired swarm members: \(DatabaseFailure(error))")
            }
        }
    }
}

// The join's two statements, prepared once per connection: a join then costs PostgreSQL no parse
// and no plan, only the execution.

/// The peer id's binding (a row of kind 0) and the swarm's live members (kind 1).
private struct SwarmRead: PostgresPreparedStatement {
    static let name = "dofs_swarm_read_v1"
    static let sql = """
        SELECT 0, b.address, '', 0, '', NULL::bigint, NULL::bigint, '', 0::smallint, b.until
        FROM peer_binding b WHERE b.peer_id = $1
        UNION ALL
        (SELECT 1, m.peer_id, m.ip, m.port, m.external_ip, m.subnet_network, m.subnet_mask, m.group_id, m.mode, m.expires_at
         FROM swarm_member m WHERE m.content_id = $2 AND m.expires_at > $3 LIMIT $4)
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .float8, .int8]
    typealias Row = (Int, String, String, Int, String, Int64?, Int64?, String, Int, Double)

    let peerId: String
    let content: String
    let now: Double
    let limit: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(peerId)
        bindings.append(content)
        bindings.append(now)
        bindings.append(Int64(limit))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// Binds the peer id unless another address holds it unexpired; only then drops the evicted members
/// and upserts the member (all or nothing: one statement).
private struct SwarmWrite: PostgresPreparedStatement {
    static let name = "dofs_swarm_write_v1"
    static let sql = """
        WITH bound AS (
            INSERT INTO peer_binding (peer_id, address, until) VALUES ($1, $2, $3)
            ON CONFLICT (peer_id) DO UPDATE SET address = excluded.address,
                until = CASE WHEN peer_binding.address = excluded.address
                             THEN greatest(peer_binding.until, excluded.until) ELSE excluded.until END
            WHERE peer_binding.address = excluded.address OR peer_binding.until <= $4
            RETURNING 1
        ), gone AS (
            DELETE FROM swarm_member
            WHERE content_id = $5 AND peer_id = ANY($6) AND EXISTS (SELECT 1 FROM bound)
        )
        INSERT INTO swarm_member (content_id, peer_id, ip, port, external_ip, subnet_network, subnet_mask, group_id, mode, expires_at)
        SELECT $5, $1, $7, $8, $2, $9, $10, $11, $12, $3
        WHERE EXISTS (SELECT 1 FROM bound)
        ON CONFLICT (content_id, peer_id) DO UPDATE SET ip = excluded.ip, port = excluded.port,
            external_ip = excluded.external_ip, subnet_network = excluded.subnet_network,
            subnet_mask = excluded.subnet_mask, group_id = excluded.group_id, mode = excluded.mode,
            expires_at = excluded.expires_at
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .float8, .float8, .text, .textArray, .text, .int4,
                                                       .int8, .int8, .text, .int2]
    typealias Row = Void

    let content: String
    let member: SwarmMember
    let evicting: [String]
    let now: Double

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 12)
        bindings.append(member.peerId)
        bindings.append(member.externalIp)
        bindings.append(member.expiresAt.timeIntervalSince1970)
        bindings.append(now)
        bindings.append(content)
        bindings.append(evicting)
        bindings.append(member.ip)
        bindings.append(Int32(member.port))
        bindings.append(member.subnet.map { Int64($0.network) })
        bindings.append(member.subnet.map { Int64($0.mask) })
        bindings.append(member.groupId)
        bindings.append(Int16(member.mode.rawValue))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}
