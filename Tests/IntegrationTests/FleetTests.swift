import DOCore
import DOSwarm
import Foundation
import XCTest

/// A fleet: several `dofs control-plane --database postgres://...` instances on one PostgreSQL serve
/// one registry and one set of swarms. Content published through one instance is served by the
/// others, members joined through different instances are handed to each other, and an instance
/// killed with SIGKILL loses nothing: the others (behind one nginx address) answer, mounts read on.
final class FleetTests: MountTestCase {
    private let MiB = TestContent.MiB
    private var logs: String { scratch.file("logs") }
    private var instances: [ControlPlaneProcess] = []

    override func tearDown() {
        if (testRun?.totalFailureCount ?? 0) > 0 {
            for cp in instances {
                print("---- dofs control-plane stderr (port \(cp.port), \(cp.isRunning ? "running" : "stopped")):")
                print(cp.logTail(30))
            }
        }
        instances.removeAll()
        super.tearDown()
    }

    private func database() throws -> String {
        try TestPostgres.freshDatabase(scratchLogs: logs) { self.addCleanup($0) }
    }

    private func instance(_ name: String, database: String, extra: [String] = []) throws -> ControlPlaneProcess {
        let cp = try ControlPlaneProcess(scratch: scratch, name: name, database: database,
                                         extraArguments: ["--reannounce-secs", "2"] + extra)
        instances.append(cp)
        addCleanup { cp.stop() }
        return cp
    }

    /// Writes docroot file `name` and publishes it (served at `prefix` + `name`) through `cp`.
    private func publish(_ bytes: [UInt8], as name: String, on origin: NginxOrigin, via prefix: String = "/",
                         through cp: String) throws -> DofsCLI.Published {
        try TestContent.write(bytes, to: origin.path(name))
        return try DofsCLI.publish(file: origin.path(name), url: origin.url(name, via: prefix), phfOut: origin.path(name + ".phf"),
                                   registration: .controlPlane(cp), logDirectory: logs).published
    }

    private func policy(_ cp: ControlPlaneProcess, _ id: String) throws -> Curl.Reply {
        try Curl.get("\(cp.baseURL)/content/\(id)/contentpolicy", logDirectory: logs)
    }

    func testContentPublishedThroughOneInstanceAndMembersJoinedThroughEitherAreSharedAndSurviveAKill() throws {
        let db = try database()
        let a = try instance("cp-a", database: db)
        let b = try instance("cp-b", database: db)
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 3 * MiB, seed: 1410)
        let published = try publish(content, as: "fleet.bin", on: origin, through: a.baseURL)

        // Published through A, its policy is served by B, byte for byte the same metadata.
        let fromB = try policy(b, published.ContentId)
        XCTAssertEqual(fromB.status, 200, "B serves the content A registered: \(fromB)")
        XCTAssertEqual(fromB.json?["HashOfHashes"] as? String, published.HashOfHashes)
        XCTAssertEqual(fromB.json?["ContentCdnUrls"] as? [String], [published.Url])
        XCTAssertEqual(try policy(a, published.ContentId).body.replacingOccurrences(of: a.baseURL, with: "BASE"),
                       fromB.body.replacingOccurrences(of: b.baseURL, with: "BASE"), "both instances answer alike")
        let phf = try Curl.get("\(b.baseURL)/content/\(published.ContentId)/phf", logDirectory: logs)
        XCTAssertEqual(phf.status, 200, "the stored PHF is served by B too: \(phf)")

        // X joins through A, Y through B: each is handed the other.
        let x = PeerId.random(), y = PeerId.random()
        let first = try SwarmDirectory.join(controlPlane: a.baseURL, contentId: published.ContentId, peerId: x,
                                            ip: "127.0.0.6", port: 7001, scope: 3, logDirectory: logs)
        XCTAssertEqual(first, [], "nobody in the swarm yet")
        let second = try SwarmDirectory.join(controlPlane: b.baseURL, contentId: published.ContentId, peerId: y,
                                             ip: "127.0.0.7", port: 7002, scope: 3, logDirectory: logs)
        XCTAssertEqual(second, [SwarmDirectory.Peer(peerId: x.hex, ip: "127.0.0.6", port: 7001)], "B hands out A's member")
        // A decides from its view of the swarm (read at X's join) until it is older than the views'
        // maxStaleness (`SwarmViewCache`, 2 s): past it, A reads the swarm again and knows Y.
        Thread.sleep(forTimeInterval: 2.2)
        let again = try SwarmDirectory.join(controlPlane: a.baseURL, contentId: published.ContentId, peerId: x,
                                            ip: "127.0.0.6", port: 7001, seq: 1, scope: 3, logDirectory: logs)
        XCTAssertEqual(again, [SwarmDirectory.Peer(peerId: y.hex, ip: "127.0.0.7", port: 7002)], "A hands out B's member")

        // The peer-id binding is the fleet's: X's id from another address is refused by B too.
        XCTAssertThrowsError(try SwarmDirectory.join(controlPlane: b.baseURL, contentId: published.ContentId, peerId: x,
                                                     ip: "127.0.0.8", port: 7003, scope: 3, logDirectory: logs)) { error in
            XCTAssertTrue("\(error)".contains("409"), "\(error)")
        }

        // A dies: B still knows the content and both members.
        a.kill9()
        XCTAssertFalse(a.isRunning)
        XCTAssertEqual(try policy(b, published.ContentId).status, 200)
        let observer = try SwarmDirectory.join(controlPlane: b.baseURL, contentId: published.ContentId, peerId: .random(),
                                               ip: "127.0.0.9", port: 9, scope: 3, logDirectory: logs)
        XCTAssertEqual(Set(observer.map(\.peerId)), [x.hex, y.hex], "no member was lost with A: \(observer)")

        // A comes back on the same database (its migrations find the schema in place) and serves the same.
        try a.start()
        XCTAssertEqual(try policy(a, published.ContentId).body.replacingOccurrences(of: a.baseURL, with: "BASE"),
                       fromB.body.replacingOccurrences(of: b.baseURL, with: "BASE"))
        // A third instance started alongside, then a registration through B, seen by A.
        let other = try publish(TestContent.bytes(count: MiB, seed: 1411), as: "second.bin", on: origin, through: b.baseURL)
        XCTAssertEqual(try policy(a, other.ContentId).status, 200, "registered through B, served by A")
    }

    func testThreeInstancesStartingAtOnceOnAnEmptyDatabaseMigrateItOnceAndAllServe() throws {
        let db = try database()
        let publisherKey = try TestPublisher.shared().publicKey
        // Spawned together from this thread (a child dies with the thread that spawned it): the
        // advisory lock lets one migrate while the others wait, then find the schema in place.
        var children: [(port: Int, process: ChildProcess)] = []
        for n in 0..<3 {
            let port = try LoopbackPort.free()
            let log = scratch.file("logs/cp-at-once-\(n).log")
            let child = try ChildProcess(DofsCLI.binaryPath, ["control-plane", "--listen", "127.0.0.1:\(port)", "--database", db,
                                                              "--publisher-key", publisherKey],
                                         stdoutPath: log + ".out", stderrPath: log)
            addCleanup { _ = child.stop(grace: 5) }
            children.append((port, child))
        }
        for (port, child) in children {
            let up = waitUntil(timeout: 30) {
                !child.isRunning || (try? Curl.get("http://127.0.0.1:\(port)/geo", logDirectory: self.logs, timeout: 5).status) == 200
            }
            XCTAssertTrue(up && child.isRunning, "instance on port \(port) serves: \(child.standardError.suffix(2000))")
        }
        XCTAssertEqual(try TestPostgres.psql(db, "SELECT version FROM dofs_schema", logs: logs), "3", "one schema row, version 3")
        let migrated = children.filter { $0.process.standardError.contains("database schema migrated") }
        XCTAssertEqual(migrated.count, 1, "exactly one instance applied the migrations")
    }

    func testMountsBehindOneAddressKeepReadingWhenAnInstanceIsKilledMidRun() throws {
        let db = try database()
        let proxy = try FleetProxy(scratch: scratch)
        addCleanup { proxy.stop() }
        let fleet = ["--public-url", proxy.baseURL, "--trusted-proxy", "127.0.0.1"]
        let a = try instance("cp-a", database: db, extra: fleet)
        let b = try instance("cp-b", database: db, extra: fleet)
        try proxy.start(upstreamPorts: [a.port, b.port])

        let origin = try startOrigin(locations: [.slow("/slow/", rate: "3m")])
        let size = 12 * MiB
        let first = TestContent.bytes(count: size, seed: 1420)
        let second = TestContent.bytes(count: size, seed: 1421)
        let p1 = try publish(first, as: "first.bin", on: origin, through: proxy.baseURL)
        let p2 = try publish(second, as: "second.bin", on: origin, via: "/slow/", through: proxy.baseURL)

        func peerMount(_ host: String) throws -> DofsMount {
            let port = try LoopbackSocket.freePort(host: host)
            return try mount(cacheDir: scratch.file("cache-\(host)"),
                             extraArguments: ["--control-plane", proxy.baseURL, "--peer-listen", "\(host):\(port)",
                                              "--download-mode", "3"])
        }
        let m1 = try peerMount("127.0.0.2")
        let m2 = try peerMount("127.0.0.3")
        let path1 = "\(m1.mountpoint)/by-id/\(p1.ContentId)"
        let got1 = try readWhole(path1, within: 60).get()
        XCTAssertEqual(TestContent.sha256(got1), TestContent.sha256(first), "first.bin on mount 1")
        XCTAssertEqual(try xattr(path1, "user.dofs.mode").get(), "verified")

        // Mount 2 reads second.bin from the slow origin (about 4 s); A is killed a second in.
        let reading = ResultBox<Result<[UInt8], PosixError>>()
        let path2 = "\(m2.mountpoint)/by-id/\(p2.ContentId)"
        let thread = Thread { reading.set(FileIO.readWhole(path2)) }
        thread.start()
        Thread.sleep(forTimeInterval: 1)
        let upstreamsBefore = Set(proxy.accessLog.split(separator: "\n").compactMap { $0.split(separator: "=").last.map(String.init) })
        a.kill9()
        XCTAssertTrue(waitUntil(timeout: 60) { reading.value != nil }, "mount 2's read finished within 60 s")
        let got2 = try XCTUnwrap(reading.value).get()
        XCTAssertEqual(TestContent.sha256(got2), TestContent.sha256(second), "second.bin read across the kill")
        XCTAssertEqual(try xattr(path2, "user.dofs.mode").get(), "verified")
        XCTAssertTrue(upstreamsBefore.isSuperset(of: ["127.0.0.1:\(a.port)", "127.0.0.1:\(b.port)"]),
                      "both instances answered before the kill: \(upstreamsBefore)")

        // After the kill, mount 2 opens first.bin: policy and join go to B alone, which lists mount 1
        // (whichever instance it joined through), and mount 2 takes the file from it.
        let path1on2 = "\(m2.mountpoint)/by-id/\(p1.ContentId)"
        let got = try readWhole(path1on2, within: 60).get()
        XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(first), "first.bin on mount 2 after the kill")
        XCTAssertEqual(try xattr(path1on2, "user.dofs.mode").get(), "verified")
        let sources = try XCTUnwrap(DofsMount.sources(path1on2))
        XCTAssertGreaterThanOrEqual(sources["peer"] ?? 0, size * 9 / 10, "mount 2 found mount 1 through B: \(sources)")
        XCTAssertTrue(b.isRunning)
        let afterKill = proxy.accessLog.split(separator: "\n").suffix(5)
        print("fleet proxy, last requests:\n" + afterKill.joined(separator: "\n"))
    }
}
