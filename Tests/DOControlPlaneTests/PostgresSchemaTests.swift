@testable import DOControlPlane
import Foundation
import XCTest

/// A fleet's database is upgraded in place: an instance of a newer dofs applies the migrations it
/// knows to a database an older one made, and the members and bindings already there stay. Needs
/// `DOFS_TEST_POSTGRES_URL` (scripts/test.sh starts one); skipped without it, failed under CI.
final class PostgresSchemaTests: XCTestCase {
    private var closers: [() async -> Void] = []

    override func tearDown() async throws {
        for close in closers { await close() }
        closers.removeAll()
    }

    /// A fresh, empty database on the test server; nil without one.
    private func freshDatabase() throws -> String? {
        guard let server = ProcessInfo.processInfo.environment["DOFS_TEST_POSTGRES_URL"], !server.isEmpty else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("DOFS_TEST_POSTGRES_URL is not set under CI") }
            return nil
        }
        let name = "dofs_schema_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try psql(server, "CREATE DATABASE \(name)")
        closers.append { [self] in _ = try? self.psql(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        return String(server[..<server.lastIndex(of: "/")!]) + "/" + name
    }

    /// Runs `sql` (one or more statements, in one session) and returns what it printed.
    @discardableResult
    private func psql(_ url: String, _ sql: String) throws -> String {
        let process = Process(), input = Pipe(), output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url, "-v", "ON_ERROR_STOP=1", "-qAt", "-f", "-"]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data((sql + ";\n").utf8))
        try input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw MembershipStoreError(description: "psql \(sql) failed") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testADatabaseAtSchemaVersionOneIsUpgradedKeepingItsMembersAndBindingsAndItsUpdatesNeedNoExpiryIndex() async throws {
        guard let url = try freshDatabase() else { return }
        // The database as dofs with schema version 1 left it, with one member and its binding.
        for statement in PostgresDatabase.migrations[0] { try psql(url, statement) }
        try psql(url, "CREATE TABLE dofs_schema (version integer NOT NULL); INSERT INTO dofs_schema VALUES (1)")
        let expires = Date().addingTimeInterval(600).timeIntervalSince1970
        let peerId = String(repeating: "ab", count: 20)
        try psql(url, """
            INSERT INTO swarm_member VALUES ('c', '\(peerId)', '192.0.2.1', 7680, '192.0.2.1', NULL, NULL, '', 1, \(expires));
            INSERT INTO peer_binding VALUES ('\(peerId)', '192.0.2.1', \(expires))
            """)

        let database = try await PostgresDatabase.open(try PostgresTarget(url), maxConnections: 2, logger: TestSupport.logger)
        closers.insert({ await database.close() }, at: 0)
        XCTAssertEqual(try psql(url, "SELECT version FROM dofs_schema"), "\(PostgresDatabase.schemaVersion)")
        XCTAssertEqual(PostgresDatabase.schemaVersion, 3)
        // Only the primary keys are left: no update of a member or a binding changes an indexed column.
        XCTAssertEqual(try psql(url, """
            SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename IN ('swarm_member', 'peer_binding')
            """), "peer_binding_pkey,swarm_member_pkey")
        XCTAssertEqual(try psql(url, """
            SELECT string_agg(relname || ':' || array_to_string(reloptions, ','), ' ' ORDER BY relname) FROM pg_class
            WHERE relname IN ('swarm_member', 'peer_binding')
            """), "peer_binding:fillfactor=85 swarm_member:fillfactor=85")

        let store = PostgresMembership(database, limits: MembershipLimits())
        let now = Date()
        let members = try await store.members(of: "c", now: now)
        XCTAssertEqual(members.map(\.peerId), [peerId], "the member survived the upgrade")
        let impostor = SwarmMember(peerId: peerId, ip: "192.0.2.2", port: 7680, externalIp: "192.0.2.2", subnet: nil, groupId: "",
                                   mode: .internet, expiresAt: now.addingTimeInterval(600))
        do {
            _ = try await store.join(content: "d", member: impostor, wanted: 0, record: true, now: now)
            XCTFail("the binding survived the upgrade: another address is refused the peer id")
        } catch let refusal as JoinRefusal {
            guard case .peerIdBoundElsewhere = refusal else { return XCTFail("\(refusal)") }
        }

        // A second instance opening the upgraded database finds nothing to do.
        let again = try await PostgresDatabase.open(try PostgresTarget(url), maxConnections: 1, logger: TestSupport.logger)
        closers.insert({ await again.close() }, at: 0)
        XCTAssertEqual(try psql(url, "SELECT count(*) FROM dofs_schema"), "1")
    }

    /// The batch statements are planned once per connection (`PostgresDatabase.sessionSettings`), often
    /// on the nearly empty tables of an instance's first joins: that plan must still find rows through
    /// the keys when the tables are full, never by scanning them or hashing all their rows.
    func testGenericPlansMadeOnEmptyTablesFindRowsThroughTheKeysOnceTheTablesAreFull() async throws {
        guard let url = try freshDatabase() else { return }
        let database = try await PostgresDatabase.open(try PostgresTarget(url), maxConnections: 1, logger: TestSupport.logger)
        await database.close()
        let settings = PostgresDatabase.sessionSettings.map { "SET \($0.0) = \($0.1)" }.joined(separator: ";\n")
        let prepare = """
            \(settings);
            PREPARE batch_read AS \(SwarmBatchRead.sql);
            PREPARE batch_write AS \(SwarmBatchWrite.sql);
            EXPLAIN EXECUTE batch_read('{a}', '{c}', 0, 10);
            EXPLAIN EXECUTE batch_write(\((["'{a}'", "'{a}'", "'{1}'", "0"] + Array(repeating: "'{}'", count: 16) + ["10", "'{}'"]).joined(separator: ", ")));
            """
        let fill = """
            INSERT INTO swarm_member SELECT 'c' || (n % 1000), lpad(to_hex(n), 40, '0'), '192.0.2.1', 7680, '192.0.2.1', NULL, NULL,
                '', 1, 1e10 FROM generate_series(1, 50000) n;
            INSERT INTO peer_binding SELECT lpad(to_hex(n), 40, '0'), '192.0.2.1', 1e10 FROM generate_series(1, 50000) n;
            ANALYZE swarm_member;
            ANALYZE peer_binding
            """
        // Planned while empty (the first EXPLAIN makes and caches the generic plan), then the tables
        // fill up and the same session explains the cached plans again.
        let plans = try psql(url, prepare + fill + ";\n" + prepare.split(separator: "\n").suffix(2).joined(separator: "\n"))
        let lines = plans.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.contains("Index Scan using swarm_member_pkey") }, plans)
        XCTAssertTrue(lines.contains { $0.contains("Index Scan using peer_binding_pkey") }, plans)
        for bad in ["Seq Scan on swarm_member", "Seq Scan on peer_binding", "Hash Join", "Merge Join"] {
            XCTAssertFalse(lines.contains { $0.contains(bad) }, "\(bad) in\n\(plans)")
        }
    }
}
