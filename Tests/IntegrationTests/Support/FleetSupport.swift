import Foundation
import XCTest

/// The PostgreSQL the tests share (`DOFS_TEST_POSTGRES_URL`, started by scripts/test.sh and .ci/run):
/// each test gets a database of its own, dropped when the test ends.
enum TestPostgres {
    /// A fresh, empty database's URL. Skips the test when no PostgreSQL is configured, except under CI
    /// (`CI=true`), where its absence fails the test: CI must never pass by skipping these.
    static func freshDatabase(scratchLogs: String, cleanup: (@escaping () -> Void) -> Void) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        guard let server = environment["DOFS_TEST_POSTGRES_URL"], !server.isEmpty else {
            let why = "DOFS_TEST_POSTGRES_URL is not set: run through scripts/test.sh (it starts a PostgreSQL), or point it at one"
            if environment["CI"] == "true" {
                XCTFail(why)
                throw ChildProcess.Failure(description: why)
            }
            throw XCTSkip(why)
        }
        let name = "dofs_test_\(UUID().uuidString.prefix(8).lowercased())"
        try psql(server, "CREATE DATABASE \(name)", logs: scratchLogs)
        cleanup { _ = try? psql(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)", logs: scratchLogs) }
        guard let slash = server.lastIndex(of: "/") else { throw ChildProcess.Failure(description: "no database in \(server)") }
        return String(server[..<slash]) + "/" + name
    }

    /// Runs one SQL command with psql; returns its unaligned output.
    @discardableResult
    static func psql(_ url: String, _ sql: String, logs: String) throws -> String {
        let outcome = try ChildProcess.run("/usr/bin/psql", [url, "-v", "ON_ERROR_STOP=1", "-Atc", sql], logDirectory: logs, timeout: 30)
        guard outcome.succeeded else {
            throw ChildProcess.Failure(description: "psql \(sql): \(outcome.termination) \(outcome.stderr)")
        }
        return outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// nginx in front of several control-plane instances, as a fleet is deployed (without the TLS, which
/// `TLSProxy` covers): one address, round-robin over the instances, and a request that finds an
/// instance dead (refused, reset) goes to the next one, joins (POST) included. It names the client
/// with X-Real-IP, so the instances must trust it (`--trusted-proxy 127.0.0.1`). Its access log
/// records which instance answered each request.
final class FleetProxy: @unchecked Sendable {
    let port: Int
    private let home: String
    private var process: ChildProcess?

    /// Picks the port first: the instances must be told the public URL before they start.
    init(scratch: ScratchDirectory, name: String = "fleet-proxy") throws {
        home = try scratch.directory(name)
        for sub in ["logs", "tmp"] { _ = try scratch.directory("\(name)/\(sub)") }
        port = try LoopbackPort.free()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func start(upstreamPorts: [Int]) throws {
        let servers = upstreamPorts.map { "        server 127.0.0.1:\($0) max_fails=1 fail_timeout=10s;" }.joined(separator: "\n")
        let conf = "\(home)/nginx.conf"
        try """
        \(NginxConfig.main(home: home, workerConnections: 512))
        http {
            log_format fleet '$remote_addr "$request" $status upstream=$upstream_addr';
            access_log \(home)/logs/access.log fleet;
        \(NginxConfig.temporaryPaths(home: home))
            upstream control_planes {
        \(servers)
                keepalive 16;
            }
            server {
                listen 127.0.0.1:\(port);
                location / {
                    proxy_pass http://control_planes;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_set_header Host $host:$server_port;
                    proxy_set_header X-Real-IP $remote_addr;
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                    proxy_next_upstream error timeout non_idempotent;
                    proxy_connect_timeout 2s;
                }
            }
        }

        """.write(toFile: conf, atomically: true, encoding: .utf8)
        process = try NginxConfig.start(home: home, conf: conf, port: port, what: "fleet proxy (nginx)")
    }

    /// `request status upstream=ADDR` lines so far.
    var accessLog: String { (try? String(contentsOfFile: "\(home)/logs/access.log", encoding: .utf8)) ?? "" }

    func stop() { process?.stop(grace: 5) }
}
