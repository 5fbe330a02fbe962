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

    @discardableResult
    private func psql(_ url: String, _ sql: String) throws -> String {
        let process = Process(), output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]
        process.standardOutput = output
        try process.run()
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
        XCTAssertEqual(PostgresDatabase.schemaVersion, 2)
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
}
