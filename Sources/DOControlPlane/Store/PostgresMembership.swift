import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Swarm membership in PostgreSQL, shared by every instance of a fleet: a member joined through one
/// instance is handed out by all (within `SwarmViewCache.Freshness.maxStaleness`, 2 s), and an
/// instance's death loses no member.
///
/// ## Group commit
/// Joins are not written one by one: they queue for a `GroupCommit`, and the joins that arrive while
/// a batch is running leave together in the next (up to `maxBatch`; at most `concurrentBatches`
/// batches at once, started at least `minBatchInterval` apart; a join that finds a free slot after
/// that interval runs at once, alone). A batch is one prepared
/// statement, whatever its size, plus a read when it touches a swarm this instance has no fresh
/// view of:
/// 1. the swarms' members come from this instance's `SwarmViewCache`; the swarms it has no view of
///    younger than `Freshness.maxStaleness` are read first (`SwarmBatchRead`, one statement for all);
/// 2. the decisions, `SwarmRules`' (the same as the in-memory store's), taken in Swift one join after
///    the other in arrival order (`JoinBatch`), each join seeing the ones before it;
/// 3. one write (`SwarmBatchWrite`): binds the peer ids, drops the evicted members, upserts the
///    members, and reads again the swarms whose views are older than `Freshness.refreshAfter`. Its
///    binding step is conditional (`ON CONFLICT ... WHERE`): a peer id another address holds is not
///    bound, nothing of its is written, and its joins are refused (409) when the write returns; a
///    join that writes no binding has its peer id checked by the same statement.
/// A join is answered only when its batch's write has committed: an answered join is in the table,
/// and killing an instance loses no answered join.
///
/// **How stale an answer may be**: it is decided from a view that misses at most the members written
/// by other instances (or by batches of this one running at the same time) in the last
/// `Freshness.maxStaleness` (2 s): a member joined through one instance is handed out by every
/// instance within 2 s of its answer, and at once by an instance that had not seen its swarm for
/// 2 s. `SwarmViewCache` has the details.
///
/// Two batches deciding at once (here or on another instance) that admit new members of one address
/// or one swarm may leave it over `maxMembersPerAddress` / `maxMembersPerContent` by the members
/// admitted elsewhere within `maxStaleness`, until its next join; that is the price of not locking a
/// swarm for every join.
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
    private let batches: GroupCommit<PendingJoin, JoinAnswer>
    private let housekeeping = Housekeeping()
    /// How often expired members and bindings are deleted, by each instance.
    static let sweepInterval: TimeInterval = 60
    /// How often each instance counts `swarm_member`'s rows for `maxMembersTotal`: a count of a million
    /// rows costs PostgreSQL tens of milliseconds, so 10 s is well under 1% of a core per instance.
    static let totalRecountInterval: TimeInterval = 10
    /// Joins in one batch at most. A batch's statements grow with it (a few hundred bytes a join);
    /// 256 is four times the joins a wrk run of 64 connections keeps in flight.
    static let maxBatch = 256
    /// Batches running at once, per instance. While one batch waits for PostgreSQL, the next decides
    /// and sends; two keep this instance and a PostgreSQL backend busy without splitting the load into
    /// small batches (bench/RESULTS.md, fleet: 3 before the views, when a batch had two round trips).
    static let concurrentBatches = 2
    /// A batch starts at least this long after the previous one (`GroupCommit`): each costs PostgreSQL
    /// hundreds of microseconds whatever its size (executor start, commit), and without it two
    /// instances' batches held 9 joins at 5,000 joins/s (13 with it; one instance 15 -> 21, bench/RESULTS.md).
    /// 2 ms makes a batch at least 10 joins at 5,000 joins/s and adds at most 2 ms to a join under
    /// load (the target is a p99 under 50 ms); at low load, joins further apart wait for nothing.
    static let minBatchInterval: Duration = .milliseconds(2)

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

    init(_ database: PostgresDatabase, limits: MembershipLimits, freshness: SwarmViewCache.Freshness = .init()) {
        self.database = database
        self.limits = limits
        rate = JoinRateLimiter(limits)
        let (client, logger) = (database.client, database.logger)
        let housekeeping = self.housekeeping
        let views = SwarmViewCache(freshness)
        batches = GroupCommit(maxBatch: Self.maxBatch, maxConcurrentBatches: Self.concurrentBatches,
                              minInterval: Self.minBatchInterval) { joins in
            await Self.run(joins, client: client, logger: logger, limits: limits, housekeeping: housekeeping, views: views)
        }
    }

    func admit(content: String, member: SwarmMember, wanted: Int, record: Bool, now: Date) async throws -> JoinAnswer {
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

    /// Reads (what has no fresh view), decides and writes one batch; every join's answer, in order.
    private static func run(_ joins: [PendingJoin], client: PostgresClient, logger: Logger, limits: MembershipLimits,
                            housekeeping: Housekeeping, views: SwarmViewCache) async -> [Result<JoinAnswer, any Error>] {
        let earliest = (joins.lazy.map(\.now).min() ?? Date()).timeIntervalSince1970
        var contents: [String] = [], seen = Set<String>()
        for join in joins {
            if seen.insert(join.content).inserted { contents.append(join.content) }
        }
        // Room for new members, taken now so that batches running at once do not share it; what the
        // batch does not write is given back.
        let room = housekeeping.reserve(joins.count { $0.record }, limit: limits.maxMembersTotal)
        var written = 0
        defer { housekeeping.release(room - written) }
        do {
            var plan = views.plan(contents)
            if !plan.cold.isEmpty {
                let readAt = views.now
                let read = SwarmBatchRead(peerIds: [], contents: plan.cold, now: earliest, limit: limits.maxMembersPerContent)
                let snapshot = try await SwarmBatchRead.snapshot(try await client.execute(read, logger: logger))
                views.store(snapshot.swarms, asked: plan.cold, readAt: readAt)
                for content in plan.cold { plan.views[content] = snapshot.swarms[content] ?? [:] }
            }
            let batch = JoinBatch(joins, snapshot: SwarmSnapshot(swarms: plan.views), limits: limits, roomForNew: room)
            // Let go of the views: `views.apply` below then updates them in place instead of copying
            // every swarm this batch touched (1-2% of an instance's CPU, perf).
            plan.views = [:]
            guard !batch.upserts.isEmpty || !batch.evictions.isEmpty || !batch.checks.isEmpty || !plan.refresh.isEmpty else {
                return batch.answers.map { answer in answer.mapError { $0 as any Error } }
            }
            let writeAt = views.now
            let write = SwarmBatchWrite(batch: batch, now: earliest, refresh: plan.refresh, limit: limits.maxMembersPerContent)
            let outcome = try await SwarmBatchWrite.outcome(try await client.execute(write, logger: logger))
            written = min(room, outcome.inserted)
            views.store(outcome.swarms, asked: plan.refresh, readAt: writeAt)
            views.apply(upserts: batch.written(refused: outcome.refused), evictions: batch.deleted(refused: outcome.refused))
            return batch.answers(refused: outcome.refused).map { answer in answer.mapError { $0 as any Error } }
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
                // Both read whole tables, for which a sequential scan is the plan; the sessions turn
                // those off for the joins' statements (`PostgresDatabase.sessionSettings`). The count
                // goes first and alone, at once: admissions are counted from when it was due, and
                // every round trip before it widens the window in which a batch's rows are counted
                // twice or not at all. `TABLESAMPLE SYSTEM (100)` reads every page of the table like
                // a sequential scan, which enable_seqscan does not govern.
                if recount {
                    var rows = 0
                    for try await n in try await client.query("SELECT count(*) FROM swarm_member TABLESAMPLE SYSTEM (100)",
                                                              logger: logger).decode(Int.self) {
                        rows = n
                    }
                    housekeeping.recounted(rows)
                }
                if sweep {
                    try await client.withTransaction(logger: logger) { connection in
                        try await connection.query("SET LOCAL enable_seqscan = on", logger: logger)
                        try await connection.query("DELETE FROM swarm_member WHERE expires_at <= \(at)", logger: logger)
                        try await connection.query("DELETE FROM peer_binding WHERE until <= \(at)", logger: logger)
                    }
                }
            } catch {
                logger.warning("swarm membership housekeeping: \(DatabaseFailure(error))")
            }
        }
    }
}
