import Foundation
import PostgresNIO

// A batch of joins' statements (`PostgresMembership`: a read of the swarms it has no fresh view of,
// when there are any, and the write), prepared once per connection: PostgreSQL parses them once. Every value travels as an array,
// one element per row (`unnest`), so a batch of any size is the same two statements.

/// The bindings of some peer ids (one row of kind 0, if any is bound) and the live members of some
/// swarms (one row of kind 1 per swarm that has any, at most `limit` members), each row's values as
/// arrays. Peer ids are joined from `unnest`, not matched with `= ANY($1)`: for that, the generic plan of
/// the prepared statement scanned the whole `peer_binding` table (perf: PostgreSQL's hottest function).
/// Arrays, because postgres-nio decodes a row at a cost per row that a swarm's members in rows of their own
/// paid twenty times per join (a tenth of an instance's CPU, measured with perf).
struct SwarmBatchRead: PostgresPreparedStatement {
    static let name = "dofs_swarm_batch_read_v4"
    static let sql = """
        SELECT 0::smallint, ''::text, array_agg(b.peer_id), '{}'::text[], '{}'::int4[], array_agg(b.address),
               '{}'::int8[], '{}'::int8[], '{}'::text[], '{}'::int2[], array_agg(b.until), '{}'::float8[]
        FROM unnest($1::text[]) AS p(id) JOIN peer_binding b ON b.peer_id = p.id
        HAVING count(*) > 0
        UNION ALL
        \(swarmRows(contents: "$2", now: "$3", limit: "$4"))
        """
    static let bindingDataTypes: [PostgresDataType] = [.textArray, .textArray, .float8, .int8]
    typealias Row = (Int, String, [String], [String], [Int32], [String], [Int64], [Int64], [String], [Int16], [Double], [Double])

    /// The rows of kind 1 (one swarm each, its live members as arrays, at most `limit`), in the columns
    /// `swarms(_:)` decodes; both batch statements end with them. The arguments name the statement's
    /// parameters: the content ids, the time now and the limit.
    static func swarmRows(contents: String, now: String, limit: String) -> String {
        """
        SELECT 1::smallint, c.id, array_agg(m.peer_id), array_agg(m.ip), array_agg(m.port), array_agg(m.external_ip),
               array_agg(coalesce(m.subnet_network, -1)), array_agg(coalesce(m.subnet_mask, -1)), array_agg(m.group_id),
               array_agg(m.mode), array_agg(m.expires_at), array_agg(m.first_joined)
        FROM unnest(\(contents)::text[]) AS c(id)
        CROSS JOIN LATERAL (SELECT * FROM swarm_member s WHERE s.content_id = c.id AND s.expires_at > \(now) LIMIT \(limit)) m
        GROUP BY c.id
        """
    }

    let peerIds: [String]
    let contents: [String]
    let now: Double
    let limit: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(peerIds)
        bindings.append(contents)
        bindings.append(now)
        bindings.append(Int64(limit))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }

    /// The rows as a snapshot.
    static func snapshot(_ rows: some AsyncSequence<Row, any Error>) async throws -> SwarmSnapshot {
        var snapshot = SwarmSnapshot()
        let (own, swarmRows) = try await splitByKind(rows)
        for (_, _, peerIds, _, _, externals, _, _, _, _, expiries, _) in own {
            for (peerId, (address, until)) in zip(peerIds, zip(externals, expiries)) {
                snapshot.bindings[peerId] = PeerIdBinding(address: address, until: Date(timeIntervalSince1970: until))
            }
        }
        snapshot.swarms = try swarms(swarmRows)
        return snapshot
    }

    /// A batch statement's rows split by kind: 0, the statement's own row (bindings read, or the write's
    /// outcome), and 1, one swarm each.
    static func splitByKind(_ rows: some AsyncSequence<Row, any Error>) async throws -> (own: [Row], swarms: [Row]) {
        var own: [Row] = [], swarms: [Row] = []
        for try await row in rows {
            if row.0 == 0 { own.append(row) } else { swarms.append(row) }
        }
        return (own, swarms)
    }

    /// Rows of kind 1 (one swarm each) as members by swarm and peer id.
    static func swarms(_ rows: [Row]) throws -> [String: [String: SwarmMember]] {
        var swarms: [String: [String: SwarmMember]] = [:]
        for (_, content, peerIds, ips, ports, externals, networks, masks, groups, modes, expiries, joined) in rows {
            let count = peerIds.count
            guard [ips.count, ports.count, externals.count, networks.count, masks.count, groups.count, modes.count,
                   expiries.count, joined.count].allSatisfy({ $0 == count }) else {
                throw DatabaseFailure(description: "swarm \(content): the member columns differ in length")
            }
            var swarm: [String: SwarmMember] = [:]
            swarm.reserveCapacity(count)
            for i in 0..<count {
                var subnet: IPv4Subnet?
                if let n = UInt32(exactly: networks[i]), let m = UInt32(exactly: masks[i]) {
                    subnet = IPv4Subnet(address: n, mask: m)
                }
                swarm[peerIds[i]] = SwarmMember(
                    peerId: peerIds[i], ip: ips[i], port: Int(ports[i]), externalIp: externals[i], subnet: subnet,
                    groupId: groups[i], mode: PeeringMode(rawValue: Int(modes[i])) ?? .lan,
                    expiresAt: Date(timeIntervalSince1970: expiries[i]),
                    firstJoined: joined[i] > 0 ? Date(timeIntervalSince1970: joined[i]) : .distantPast)
            }
            swarms[content] = swarm
        }
        return swarms
    }
}

/// Writes a batch's decisions in one statement, and reads the swarms whose views are due for a refresh
/// in the same round trip:
/// 1. binds each peer id unless another address holds it unexpired; for the peer ids whose binding was
///    written, deletes the members they evicted and upserts their members;
/// 2. answers one row of kind 0: the refused peer ids with the address they were refused for and the
///    holder's expiry (the written peer ids the binding step skipped, and the checked peer ids of
///    joins that write no binding but are bound to another address), and in `ports` one element, the
///    number of members inserted (new rows);
/// 3. then one row of kind 1 per refreshed swarm that has live members, as `SwarmBatchRead` returns
///    them. PostgreSQL evaluates every part on the snapshot taken when the statement began, so these
///    views hold the swarm as it was *before* this batch; the caller applies the batch on top.
struct SwarmBatchWrite: PostgresPreparedStatement {
    static let name = "dofs_swarm_batch_write_v3"
    static let sql = """
        WITH bound AS (
            INSERT INTO peer_binding (peer_id, address, until)
            SELECT * FROM unnest($1::text[], $2::text[], $3::float8[])
            ON CONFLICT (peer_id) DO UPDATE SET address = excluded.address,
                until = CASE WHEN peer_binding.address = excluded.address
                             THEN greatest(peer_binding.until, excluded.until) ELSE excluded.until END
            WHERE peer_binding.address = excluded.address OR peer_binding.until <= $4
            RETURNING peer_id
        ), gone AS (
            DELETE FROM swarm_member m
            USING unnest($5::text[], $6::text[], $7::text[]) AS e(content_id, peer_id, owner)
            WHERE m.content_id = e.content_id AND m.peer_id = e.peer_id AND e.owner IN (SELECT peer_id FROM bound)
        ), written AS (
            INSERT INTO swarm_member (content_id, peer_id, ip, port, external_ip, subnet_network, subnet_mask, group_id, mode,
                                      expires_at, first_joined)
            SELECT t.content_id, t.peer_id, t.ip, t.port, t.external_ip, nullif(t.network, -1), nullif(t.mask, -1),
                   t.group_id, t.mode, t.expires_at, t.first_joined
            FROM unnest($8::text[], $9::text[], $10::text[], $11::int4[], $12::text[], $13::int8[], $14::int8[],
                        $15::text[], $16::int2[], $17::float8[], $22::float8[])
                 AS t(content_id, peer_id, ip, port, external_ip, network, mask, group_id, mode, expires_at, first_joined)
            WHERE t.peer_id IN (SELECT peer_id FROM bound)
            ON CONFLICT (content_id, peer_id) DO UPDATE SET ip = excluded.ip, port = excluded.port,
                external_ip = excluded.external_ip, subnet_network = excluded.subnet_network,
                subnet_mask = excluded.subnet_mask, group_id = excluded.group_id, mode = excluded.mode,
                expires_at = excluded.expires_at,
                first_joined = CASE WHEN swarm_member.first_joined > 0
                                    THEN least(swarm_member.first_joined, excluded.first_joined) ELSE excluded.first_joined END
            RETURNING (xmax = 0) AS new
        ), refused AS (
            SELECT w.id, w.address, coalesce(b.until, $4) AS until
            FROM unnest($1::text[], $2::text[]) AS w(id, address) LEFT JOIN peer_binding b ON b.peer_id = w.id
            WHERE w.id NOT IN (SELECT peer_id FROM bound)
            UNION ALL
            SELECT c.id, c.address, b.until
            FROM unnest($18::text[], $19::text[]) AS c(id, address) JOIN peer_binding b ON b.peer_id = c.id
            WHERE b.address <> c.address AND b.until > $4
        )
        SELECT 0::smallint, ''::text, coalesce(r.ids, '{}'), '{}'::text[],
               ARRAY[(SELECT count(*) FROM written WHERE new)::int4], coalesce(r.addresses, '{}'),
               '{}'::int8[], '{}'::int8[], '{}'::text[], '{}'::int2[], coalesce(r.untils, '{}'), '{}'::float8[]
        FROM (SELECT array_agg(id) AS ids, array_agg(address) AS addresses, array_agg(until) AS untils FROM refused) r
        UNION ALL
        \(SwarmBatchRead.swarmRows(contents: "$20", now: "$4", limit: "$21"))
        """
    static let bindingDataTypes: [PostgresDataType] = [
        .textArray, .textArray, .float8Array, .float8,
        .textArray, .textArray, .textArray,
        .textArray, .textArray, .textArray, .int4Array, .textArray, .int8Array, .int8Array, .textArray, .int2Array, .float8Array,
        .textArray, .textArray, .textArray, .int8, .float8Array,
    ]
    typealias Row = SwarmBatchRead.Row

    let batch: JoinBatch
    let now: Double
    /// The swarms to read again (their views are due for a refresh).
    let refresh: [String]
    /// `MembershipLimits.maxMembersPerContent`: members read per swarm at most.
    let limit: Int

    /// What the write answered.
    struct Outcome: Sendable {
        var refused: [JoinBatch.Refused: Date] = [:]
        var inserted = 0
        /// The refreshed swarms as they were before the batch.
        var swarms: [String: [String: SwarmMember]] = [:]
    }

    /// Rows go in key order: two batches writing the same rows at once (a peer re-joining through
    /// two instances) then lock them in the same order and cannot deadlock.
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 22)
        let bound = batch.bindings.sorted { $0.key < $1.key }
        bindings.append(bound.map(\.key))
        bindings.append(bound.map(\.value.address))
        bindings.append(bound.map(\.value.until.timeIntervalSince1970))
        bindings.append(now)
        let evictions = batch.evictions.sorted { $0.key < $1.key }
        bindings.append(evictions.map(\.key.content))
        bindings.append(evictions.map(\.key.peerId))
        bindings.append(evictions.map(\.value))
        let sortedUpserts = batch.upserts.sorted { $0.key < $1.key }
        let upserts = sortedUpserts.map(\.value)
        bindings.append(sortedUpserts.map(\.key.content))
        bindings.append(upserts.map(\.peerId))
        bindings.append(upserts.map(\.ip))
        bindings.append(upserts.map { Int32($0.port) })
        bindings.append(upserts.map(\.externalIp))
        bindings.append(upserts.map { $0.subnet.map { Int64($0.network) } ?? -1 })
        bindings.append(upserts.map { $0.subnet.map { Int64($0.mask) } ?? -1 })
        bindings.append(upserts.map(\.groupId))
        bindings.append(upserts.map { Int16($0.mode.rawValue) })
        bindings.append(upserts.map(\.expiresAt.timeIntervalSince1970))
        bindings.append(batch.checks.map(\.peerId))
        bindings.append(batch.checks.map(\.address))
        bindings.append(refresh)
        bindings.append(Int64(limit))
        bindings.append(upserts.map { $0.firstJoined.timeIntervalSince1970 > 0 ? $0.firstJoined.timeIntervalSince1970 : 0 })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }

    /// The rows as an outcome.
    static func outcome(_ rows: some AsyncSequence<Row, any Error>) async throws -> Outcome {
        var outcome = Outcome()
        let (own, swarmRows) = try await SwarmBatchRead.splitByKind(rows)
        for (_, _, peerIds, _, counts, addresses, _, _, _, _, untils, _) in own {
            guard addresses.count == peerIds.count, untils.count == peerIds.count else {
                throw DatabaseFailure(description: "the refused peer ids' columns differ in length")
            }
            for i in peerIds.indices {
                outcome.refused[JoinBatch.Refused(peerId: peerIds[i], address: addresses[i])] = Date(timeIntervalSince1970: untils[i])
            }
            outcome.inserted = Int(counts.first ?? 0)
        }
        outcome.swarms = try SwarmBatchRead.swarms(swarmRows)
        return outcome
    }
}
