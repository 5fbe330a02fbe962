import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Swarm membership in PostgreSQL, shared by every instance of a fleet: a member joined through one
/// instance is handed out by all, and an instance's death loses no member.
///
/// ## Group commit
/// Joins are not written one by one: they queue for a `GroupCommit`, and the joins that arrive while
/// a batch is running leave together in the next (up to `maxBatch`; at most `concurrentBatches`
/// batches at once; a join that finds a free slot runs at once, alone). A batch is two prepared
/// statements, whatever its size (`SwarmBatchRead`, `SwarmBatchWrite`):
/// 1. one read: the bindings of the batch's peer ids and the live members of its swarms;
/// 2. the decisions, `SwarmRules`' (the same as the in-memory store's), taken in Swift one join after
///    the other in arrival order (`JoinBatch`), each join seeing the ones before it;
/// 3. one write: binds the peer ids, drops the evicted members and upserts the members. Its binding
///    step is conditional (`ON CONFLICT ... WHERE`): if another address took a peer id since the
///    read, nothing of that peer id's is written.
/// A join is answered only when its batch's write has committed: an answered join is in the table,
/// and every instance's next read sees it. There is no cache: handing out members joined through
/// other instances is as current as the last commit.
///
/// Two batches running at once (here or on another instance) that admit new members of one address
/// or one swarm may leave it one member over `maxMembersPerAddress` / `maxMembersPerContent` each
/// until its next join; that is the price of not locking a swarm for every join.
///
/// ## Limits
/// The join rate per address is counted by each instance in memory (`JoinRateLimiter`).
/// `maxMembersTotal` bounds the rows of `swarm_member`: each instance counts them (all rows, expired
/// ones too until they are deleted) every `totalRecountInterval`, in the background, and adds the new
/// members it admits itself meanwhile; at the limit, joins of new members are answered but not
/// recorded, as in the in-memory store. Another instance's admissions are seen at the next count, so
/// with N instances the table holds at most `maxMembersTotal + (N - 1) × A` rows, where A is the new
/// members one instance admits in `totalRecountInterval` (its join rate at most, about 50,000 at
/// 5,000 joins/s: 5% of the default limit per other instance). Before an instance's first count
/// completes it counts from zero.
///
/// Expired rows are ignored by every read and deleted by each instance every `sweepInterval`.
final class PostgresMembership: MembershipStore {
    private let database: PostgresDatabase
    private let limits: MembershipLimits
    private let rate: JoinRateLimiter
    private let batches: GroupCommit<PendingJoin, [SwarmMember]>
    private let housekeeping = Housekeeping()
    /// How often expired members and bindings are deleted, by each instance.
    static let sweepInterval: TimeInterval = 60
    /// How often each instance counts `swarm_member`'s rows for `maxMembersTotal`: a count of a million
    /// rows costs PostgreSQL tens of milliseconds, so 10 s is well under 1% of a core per instance.
    static let totalRecountInterval: TimeInterval = 10
    /// Joins in one batch at most. A batch's statements grow with it (a few hundred bytes a join);
    /// 256 is four times the joins a wrk run of 64 connections keeps in flight.
    static let maxBatch = 256
    /// Batches running at once, per instance. While one batch is between its read and its write,
    /// another can read; two or three keep PostgreSQL's backends and this instance busy without
    /// splitting the load into small batches. A reasoned choice, not yet tuned by measurement (1 and 2
    /// are worth a run on a quiet machine: bench/RESULTS.md, fleet).
    static let concurrentBatches = 3

    /// When the next sweep and recount are due, and the count of `swarm_member`'s rows.
    private final class Housekeeping: Sendable {
        private struct State {
            var nextSweep = Date.distantPast
            var nextRecount = Date.distantPast
            /// Rows of `swarm_member` as last counted, plus this instance's admissions since.
            var total = 0
            /// New members admitted since the running recount began (added to its result).
            var admittedSinceRecount = 0
        }

        private let state = Mutex(State())

        /// Which of the two are due at `now` (and marks them done).
        func due(_ now: Date) -> (sweep: Bool, recount: Bool) {
            state.withLock { state in
                let sweep = now >= state.nextSweep, recount = now >= state.nextRecount
                if sweep { state.nextSweep = now.addingTimeInterval(PostgresMembership.sweepInterval) }
                if recount {
                    state.nextRecount = now.addingTimeInterval(PostgresMembership.totalRecountInterval)
                    state.admittedSinceRecount = 0
                }
                return (sweep, recount)
            }
        }

        /// Takes room for up to `wanted` new members under `limit`; returns how many it took.
        func reserve(_ wanted: Int, limit: Int) -> Int {
            state.withLock { state in
                let room = min(wanted, max(0, limit - state.total))
                state.total += room
                state.admittedSinceRecount += room
                return room
            }
        }

        /// Gives back the room a batch took and did not use.
        func release(_ unused: Int) {
            state.withLock { state in
                state.total -= unused
                state.admittedSinceRecount -= unused
            }
        }

        func recounted(_ rows: Int) {
            state.withLock { state in state.total = rows + state.admittedSinceRecount }
        }
    }

    init(_ database: PostgresDatabase, limits: MembershipLimits) {
        self.database = database
        self.limits = limits
        rate = JoinRateLimiter(limits)
        let (client, logger) = (database.client, database.logger)
        let housekeeping = self.housekeeping
        batches = GroupCommit(maxBatch: Self.maxBatch, maxConcurrentBatches: Self.concurrentBatches) { joins in
            await Self.run(joins, client: client, logger: logger, limits: limits, housekeeping: housekeeping)
        }
    }

    func join(content: String, member: SwarmMember, wanted: Int, record: Bool, now: Date) async throws -> [SwarmMember] {
        try rate.admit(member.externalIp, now: now)
        housekeepIfDue(now)
        return try await batches.submit(PendingJoin(content: content, member: member, wanted: wanted, record: record, now: now))
    }

    func members(of content: String, now: Date) async throws -> [SwarmMember] {
        let statement = SwarmBatchRead(peerIds: [], contents: [content], now: now.timeIntervalSince1970,
                                       limit: limits.maxMembersPerContent)
        do {
            let snapshot = try await SwarmBatchRead.snapshot(try await database.client.execute(statement, logger: database.logger))
            return Array((snapshot.swarms[content] ?? [:]).values)
        } catch {
            throw MembershipStoreError(description: DatabaseFailure(error).description)
        }
    }

    func close() async {}

    // MARK: - A batch

    /// Reads, decides and writes one batch; every join's answer, in order.
    private static func run(_ joins: [PendingJoin], client: PostgresClient, logger: Logger, limits: MembershipLimits,
                            housekeeping: Housekeeping) async -> [Result<[SwarmMember], any Error>] {
        let earliest = joins.lazy.map(\.now).min() ?? Date()
        var peerIds = Set<String>(), contents = Set<String>()
        for join in joins {
            peerIds.insert(join.member.peerId)
            contents.insert(join.content)
        }
        // Room for new members, taken now so that batches running at once do not share it; what the
        // batch does not write is given back.
        let room = housekeeping.reserve(joins.count { $0.record }, limit: limits.maxMembersTotal)
        var written = 0
        defer { housekeeping.release(room - written) }
        do {
            let read = SwarmBatchRead(peerIds: Array(peerIds), contents: Array(contents),
                                      now: earliest.timeIntervalSince1970, limit: limits.maxMembersPerContent)
            let snapshot = try await SwarmBatchRead.snapshot(try await client.execute(read, logger: logger))
            let batch = JoinBatch(joins, snapshot: snapshot, limits: limits, roomForNew: room)
            if !batch.upserts.isEmpty || !batch.evictions.isEmpty {
                let write = SwarmBatchWrite(batch: batch, now: earliest.timeIntervalSince1970)
                var inserted = 0
                for try await new in try await client.execute(write, logger: logger) where new { inserted += 1 }
                written = min(room, inserted)
            }
            return batch.answers.map { answer in answer.mapError { $0 as any Error } }
        } catch {
            let failure = MembershipStoreError(description: DatabaseFailure(error).description)
            return joins.map { _ in .failure(failure) }
        }
    }

    // MARK: - Housekeeping

    /// In the background: deletes expired members and bindings once per `sweepInterval`, and counts
    /// the rows once per `totalRecountInterval`.
    private func housekeepIfDue(_ now: Date) {
        let (sweep, recount) = housekeeping.due(now)
        guard sweep || recount else { return }
        let (client, logger, at, housekeeping) = (database.client, database.logger, now.timeIntervalSince1970, self.housekeeping)
        Task {
            do {
                if sweep {
                    try await client.query("DELETE FROM swarm_member WHERE expires_at <= \(at)", logger: logger)
                    try await client.query("DELETE FROM peer_binding WHERE until <= \(at)", logger: logger)
                }
                if recount {
                    var rows = 0
                    for try await n in try await client.query("SELECT count(*) FROM swarm_member", logger: logger).decode(Int.self) {
                        rows = n
                    }
                    housekeeping.recounted(rows)
                }
            } catch {
                logger.warning("swarm membership housekeeping: \(DatabaseFailure(error))")
            }
        }
    }
}
