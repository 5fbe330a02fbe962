import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// One instance's connection pool to the fleet's PostgreSQL database, with the schema in place.
///
/// `open` connects, then applies the migrations this dofs knows inside one transaction that first
/// takes a transaction-level advisory lock: instances starting at the same moment apply them one
/// after the other (the second finds them done), and a failed migration leaves the schema as it was.
/// A database whose schema is newer than this dofs knows is refused.
///
/// Tables: the registry (`content`, `content_url`, `content_phf_url`, as in the SQLite file) is
/// logged, so a registration is durable when its transaction commits. Swarm membership
/// (`swarm_member`, `peer_binding`) is UNLOGGED: it is soft state, rebuilt by re-announces within one
/// interval, so it is not worth a WAL write per join; PostgreSQL empties it after a crash of its own.
final class PostgresDatabase: Sendable {
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>

    /// The schema this code writes (`dofs_schema.version`).
    static let schemaVersion = 3
    /// Every connection's settings. A prepared statement is planned once per connection (a generic
    /// plan), not at every execution: planning the batch write cost PostgreSQL 450-1,050 us a batch, as
    /// much as executing it (bench/RESULTS.md, fleet, CPU per join). A generic plan is made without the
    /// parameters and kept, so it must be good whatever the tables held when it was made: one made
    /// while the membership tables were nearly empty (an instance's first joins) once scanned them
    /// whole for every batch after they held thousands of rows. With sequential scans, hash and merge
    /// joins off, every statement of this code finds its rows through a primary key or an index
    /// (nested loops over the batch's arrays), which is the right plan at any table size: the planner
    /// still falls back to a scan where there is no index to use (the sweep and the recount, which
    /// turn scans back on for themselves, `PostgresMembership`).
    static let sessionSettings: [(String, String)] = [
        ("plan_cache_mode", "force_generic_plan"),
        ("enable_seqscan", "off"),
        ("enable_hashjoin", "off"),
        ("enable_mergejoin", "off"),
    ]

    /// The advisory lock migrations hold (any constant; "dofs" in ASCII).
    static let migrationLock: Int64 = 0x646F_6673

    private init(client: PostgresClient, logger: Logger, runner: Task<Void, Never>) {
        self.client = client
        self.logger = logger
        self.runner = runner
    }

    static func open(_ target: PostgresTarget, maxConnections: Int, logger: Logger) async throws -> PostgresDatabase {
        let tls: PostgresClient.Configuration.TLS
        switch target.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: target.host, port: target.port, username: target.user,
                                                         password: target.password, database: target.database, tls: tls)
        configuration.options.maximumConnections = max(1, maxConnections)
        configuration.options.minimumConnections = min(2, max(1, maxConnections))
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = Self.sessionSettings
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        let client = PostgresClient(configuration: configuration, backgroundLogger: quiet)
        let runner = Task { await client.run() }
        let database = PostgresDatabase(client: client, logger: quiet, runner: runner)
        do {
            try await database.migrate()
        } catch {
            await database.close()
            throw DatabaseFailure(error)
        }
        return database
    }

    func close() async {
        runner.cancel()
        _ = await runner.value
    }

    // MARK: - Migrations

    private func migrate() async throws {
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS dofs_schema (version integer NOT NULL)", logger: logger)
            var version = 0
            for try await v in try await connection.query("SELECT version FROM dofs_schema", logger: logger).decode(Int.self) {
                version = max(version, v)
            }
            guard version <= Self.schemaVersion else {
                throw DatabaseFailure(description: "the database has dofs schema version \(version), newer than this dofs understands (\(Self.schemaVersion))")
            }
            guard version < Self.schemaVersion else { return }
            for step in Self.migrations.dropFirst(version) {
                for statement in step { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            }
            try await connection.query("DELETE FROM dofs_schema", logger: logger)
            try await connection.query("INSERT INTO dofs_schema (version) VALUES (\(Self.schemaVersion))", logger: logger)
            logger.notice("database schema migrated from version \(version) to \(Self.schemaVersion)")
        }
    }

    /// Migration N (index N-1) takes the schema from version N-1 to N; one statement per string.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE content (
                content_id     text PRIMARY KEY,
                hash_of_hashes text NOT NULL,
                content_length bigint NOT NULL,
                piece_size     bigint NOT NULL,
                phf            bytea,
                registered_at  bigint NOT NULL
            )
            """,
            """
            CREATE TABLE content_url (
                url              text PRIMARY KEY,
                content_id       text NOT NULL REFERENCES content(content_id) ON DELETE CASCADE,
                added_at         bigint NOT NULL,
                publisher_key_id text,
                signature        text
            )
            """,
            "CREATE INDEX content_url_by_content ON content_url(content_id)",
            """
            CREATE TABLE content_phf_url (
                content_id text NOT NULL REFERENCES content(content_id) ON DELETE CASCADE,
                url        text NOT NULL,
                added_at   bigint NOT NULL,
                PRIMARY KEY (content_id, url)
            )
            """,
            """
            CREATE UNLOGGED TABLE swarm_member (
                content_id     text NOT NULL,
                peer_id        text NOT NULL,
                ip             text NOT NULL,
                port           integer NOT NULL,
                external_ip    text NOT NULL,
                subnet_network bigint,
                subnet_mask    bigint,
                group_id       text NOT NULL,
                mode           smallint NOT NULL,
                expires_at     double precision NOT NULL,
                PRIMARY KEY (content_id, peer_id)
            )
            """,
            "CREATE INDEX swarm_member_by_expiry ON swarm_member(expires_at)",
            """
            CREATE UNLOGGED TABLE peer_binding (
                peer_id text PRIMARY KEY,
                address text NOT NULL,
                until   double precision NOT NULL
            )
            """,
            "CREATE INDEX peer_binding_by_expiry ON peer_binding(until)",
        ],
        // 2: every re-join rewrites its member and its binding with a later expiry. With the expiry
        // columns indexed no such update was HOT (heap-only): each wrote a new entry in every index of
        // the table, and a join cost two index-maintaining updates (bench/RESULTS.md, fleet, CPU per
        // join). Only the sweep used those indexes, once a minute per instance; it now scans the table
        // (about 100 ms at `maxMembersTotal`, a million rows: well under 1% of a core). Pages are left
        // 15% free so that the new version of a row finds room on its own page.
        [
            "DROP INDEX swarm_member_by_expiry",
            "DROP INDEX peer_binding_by_expiry",
            "ALTER TABLE swarm_member SET (fillfactor = 85)",
            "ALTER TABLE peer_binding SET (fillfactor = 85)",
        ],
        // 3: when each member first joined its swarm (seconds since the epoch; 0 for rows written before),
        // kept across re-joins: answers name the swarm's eldest members, among whom readers draw owners.
        [
            "ALTER TABLE swarm_member ADD COLUMN first_joined double precision NOT NULL DEFAULT 0",
        ],
    ]
}

/// A database call failed: PostgreSQL's own message when there is one (postgres-nio's errors hide it
/// from `description` by default, to keep queries out of logs).
struct DatabaseFailure: Error, CustomStringConvertible {
    let description: String

    init(description: String) {
        self.description = description
    }

    init(_ error: any Error) {
        description = Self.message(error)
    }

    private static func message(_ error: any Error) -> String {
        if let failure = error as? DatabaseFailure { return failure.description }
        if let transaction = error as? PostgresTransactionError,
           let cause = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
            return message(cause)
        }
        if let psql = error as? PSQLError {
            var text = "\(psql.code)"
            if let server = psql.serverInfo?[.message] { text += ": " + server }
            if let underlying = psql.underlying { text += " (\(underlying))" }
            return text
        }
        return "\(error)"
    }
}
