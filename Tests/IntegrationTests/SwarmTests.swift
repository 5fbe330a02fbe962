import DOCore
import DOSwarm
import Foundation
import XCTest

/// The swarm (do-protocol.md sections 2.6, 4 and 9): mounts on their own loopback addresses
/// (127.0.0.2, .3, .4, ...), each with its own cache and peer server, find each other through one
/// `dofs control-plane` and take verified pieces from each other, so N machines reading the same
/// content cost the origin about one copy. Lying peers are banned, dead peers are routed around, and
/// content that is simple-mode or below the peering minimum never joins a swarm.
final class SwarmTests: MountTestCase {
    private let MiB = TestContent.MiB
    /// ReannounceSecs the control plane hands out: small, so re-announces happen within a test.
    private let reannounceSecs = 2
    private var controlPlanes: [ControlPlaneProcess] = []

    override func tearDown() {
        if (testRun?.totalFailureCount ?? 0) > 0 {
            for cp in controlPlanes {
                print("---- dofs control-plane stderr (port \(cp.port), \(cp.isRunning ? "running" : "stopped")):")
                print(cp.logTail(40))
            }
        }
        controlPlanes.removeAll()
        super.tearDown()
    }

    // MARK: Helpers

    private var logs: String { scratch.file("logs") }

    /// A mount taking part in swarms: its own cache, its peer server on `host:port`, the test's control plane.
    private struct Peer {
        let mount: DofsMount
        let host: String
        let port: Int
        var name: String { "mount at \(host):\(port)" }
    }

    private func startControlPlane() throws -> ControlPlaneProcess {
        var arguments = ["--reannounce-secs", String(reannounceSecs)]
        if ProcessInfo.processInfo.environment["DOFS_IT_SWARM_LOG_LEVEL"] != nil { arguments += ["--log-level", "debug"] }
        let cp = try ControlPlaneProcess(scratch: scratch, extraArguments: arguments)
        controlPlanes.append(cp)
        addCleanup { cp.stop() }
        return cp
    }

    private func publishRegistered(_ bytes: [UInt8], as name: String, on origin: NginxOrigin,
                                   controlPlane cp: ControlPlaneProcess) throws -> DofsCLI.Published {
        try DofsCLI.publishOnOrigin(bytes, as: name, on: origin, controlPlane: cp.baseURL, logDirectory: logs)
    }

    private func peerMount(_ host: String, controlPlane cp: ControlPlaneProcess, extraArguments: [String] = []) throws -> Peer {
        let port = try LoopbackSocket.freePort(host: host)
        // DOFS_IT_SWARM_LOG_LEVEL=trace shows every piece's source in the mounts' logs (with DOFS_IT_KEEP=1).
        var extra = extraArguments
        if let level = ProcessInfo.processInfo.environment["DOFS_IT_SWARM_LOG_LEVEL"], !extra.contains("--log-level") {
            extra += ["--log-level", level]
        }
        let m = try mount(cacheDir: scratch.file("cache-\(host)"),
                          extraArguments: ["--control-plane", cp.baseURL, "--peer-listen", "\(host):\(port)"] + extra)
        return Peer(mount: m, host: host, port: port)
    }

    private func byID(_ peer: Peer, _ contentId: String) -> String { "\(peer.mount.mountpoint)/by-id/\(contentId)" }

    private func byURL(_ peer: Peer, _ url: String) -> String { byURL(peer.mount, url) }

    /// `user.dofs.sources` as numbers; fails the test (by throwing) when it is missing or not JSON.
    private func sources(_ path: String) throws -> [String: Int] {
        let text = try xattr(path, "user.dofs.sources").get()
        guard let parsed = DofsMount.sources(path) else {
            throw ChildProcess.Failure(description: "user.dofs.sources of \(path) is not a JSON object of numbers: \(text)")
        }
        return parsed
    }

    /// Reads the whole file; it must be exactly `content` (byte for byte and by SHA-256) and verified.
    private func assertVerifiedRead(_ path: String, _ content: [UInt8], _ what: String, within seconds: TimeInterval = 60,
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        let got = try readWhole(path, within: seconds).get()
        XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content), "\(what): SHA-256", file: file, line: line)
        assertSameBytes(got, content, what, file: file, line: line)
        XCTAssertEqual(try xattr(path, "user.dofs.mode").get(), "verified", "\(what): mode", file: file, line: line)
    }

    /// Reads several files at the same time, each on a thread of its own, within `seconds` in all.
    private func readConcurrently(_ paths: [String], within seconds: TimeInterval) throws -> [Result<[UInt8], PosixError>] {
        let boxes = paths.map { _ in ResultBox<Result<[UInt8], PosixError>>() }
        let group = DispatchGroup()
        for (path, box) in zip(paths, boxes) {
            group.enter()
            let thread = Thread {
                box.set(FileIO.readWhole(path))
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        guard group.wait(timeout: .now() + seconds) == .success else {
            throw DeadlineExceeded(what: "reading \(paths.joined(separator: ", ")) at the same time", seconds: seconds)
        }
        return boxes.map { $0.value! }
    }

    /// Lines of a mount's log containing every one of `needles`.
    private func logLines(_ peer: Peer, containing needles: String...) -> [Substring] {
        peer.mount.log.split(separator: "\n").filter { line in needles.allSatisfy { line.contains($0) } }
    }

    /// The pieces a mount waited on `owner` for, sorted, from its debug lines
    /// ("piece 12: waiting up to 993 ms for its owner to announce it ..." with the owner's id).
    private func piecesThatWaited(_ peer: Peer, forOwner owner: PeerId) -> [Int] {
        logLines(peer, containing: "for its owner to announce it", owner.hex).compactMap { line in
            line.split(separator: " ").drop { $0 != "piece" }.dropFirst().first.flatMap { Int($0.dropLast()) }
        }.sorted()
    }

    /// The time at the start of a dofs log line (ISO 8601, UTC, with milliseconds).
    private func timestamp(of line: Substring) -> Date? {
        guard let first = line.split(separator: " ").first else { return nil }
        var text = String(first)
        if text.hasSuffix("Z") { text.removeLast() }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSS"
        return formatter.date(from: text)
    }

    /// Connects to a mount's peer server and sends a handshake for `swarmHash`.
    private func handshake(_ peer: Peer, swarmHash: [UInt8], as us: PeerId = .random()) throws -> PeerWireClient {
        let client = try PeerWireClient(host: peer.host, port: peer.port)
        XCTAssertTrue(client.send(Handshake(swarmHash: swarmHash, peerId: us).encoded()), "sending a handshake to \(peer.name)")
        return client
    }

    /// A handshake for `swarmHash` is closed by the mount's peer server without a single byte in reply,
    /// promptly (well before the server's 10 s handshake deadline could close it for another reason).
    private func assertRefusedWithoutReply(_ peer: Peer, swarmHash: [UInt8], _ what: String,
                                           file: StaticString = #filePath, line: UInt = #line) throws {
        let client = try handshake(peer, swarmHash: swarmHash)
        let started = Date()
        let closed = client.waitUntilClosed(timeout: 5)
        XCTAssertTrue(closed, "\(what): the peer server should close the connection, still open after 5 s", file: file, line: line)
        XCTAssertEqual(client.receivedByteCount, 0, "\(what): no handshake reply (no byte at all) expected", file: file, line: line)
        if closed { print("\(what): closed without reply after \(String(format: "%.3f", Date().timeIntervalSince(started))) s") }
    }

    /// The peers the control plane lists in `contentId`'s swarm to a LAN newcomer (a random peer id on
    /// 127.0.0.1, a port nothing listens on; it joins with Left = everything, so it is harmless).
    private func listedPeers(_ cp: ControlPlaneProcess, contentId: String) throws -> [SwarmDirectory.Peer] {
        try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: contentId, peerId: .random(), ip: "127.0.0.1",
                                port: 9, left: 1, logDirectory: logs)
    }

    // MARK: 1. N mounts, one copy from the origin

    func testThreeMountsReadingInTurnCostTheOriginOneCopy() throws {
        try assertThreeMountsCostTheOriginOneCopy(secondAndThirdTogether: false)
    }

    func testThreeMountsWithTwoReadingAtTheSameTimeCostTheOriginOneCopy() throws {
        try assertThreeMountsCostTheOriginOneCopy(secondAndThirdTogether: true)
    }

    private func assertThreeMountsCostTheOriginOneCopy(secondAndThirdTogether: Bool) throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 32 * MiB
        let content = TestContent.bytes(count: size, seed: secondAndThirdTogether ? 902 : 901)
        let published = try publishRegistered(content, as: "big.bin", on: origin, controlPlane: cp)
        let m1 = try peerMount("127.0.0.2", controlPlane: cp)
        let m2 = try peerMount("127.0.0.3", controlPlane: cp)
        let m3 = try peerMount("127.0.0.4", controlPlane: cp)

        // The first reader has nobody to ask: everything from the CDN.
        let p1 = byID(m1, published.ContentId)
        try assertVerifiedRead(p1, content, "big.bin on the first mount")
        let s1 = try sources(p1)
        XCTAssertEqual(s1["cdn"], size, "the first mount fetches the whole file from the CDN: \(s1)")
        XCTAssertEqual(s1["peer"] ?? 0, 0, "the first mount has no peer to fetch from: \(s1)")

        let p2 = byID(m2, published.ContentId), p3 = byID(m3, published.ContentId)
        let started = Date()
        if secondAndThirdTogether {
            let results = try readConcurrently([p2, p3], within: 90)
            for (result, what) in zip(results, ["big.bin on the second mount", "big.bin on the third mount"]) {
                let got = try result.get()
                XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content), "\(what): SHA-256")
                assertSameBytes(got, content, what)
            }
            XCTAssertEqual(try xattr(p2, "user.dofs.mode").get(), "verified")
            XCTAssertEqual(try xattr(p3, "user.dofs.mode").get(), "verified")
        } else {
            try assertVerifiedRead(p2, content, "big.bin on the second mount")
            try assertVerifiedRead(p3, content, "big.bin on the third mount")
        }
        print("mounts 2 and 3 read big.bin \(secondAndThirdTogether ? "together" : "in turn") in "
              + "\(String(format: "%.2f", Date().timeIntervalSince(started))) s")

        for (peer, path) in [(m2, p2), (m3, p3)] {
            let s = try sources(path)
            print("\(peer.name): user.dofs.sources = \(s)")
            XCTAssertGreaterThanOrEqual(s["peer"] ?? 0, size * 9 / 10,
                                        "\(peer.name) should take at least 90 % of big.bin from peers: \(s)")
            XCTAssertEqual((s["peer"] ?? 0) + (s["cdn"] ?? 0) + (s["cache"] ?? 0), size,
                           "\(peer.name): every byte counted once: \(s)")
        }
        let entries = origin.entries()
        let originBytes = entries.bodyBytes
        let contentBytes = entries.filter { $0.uri == "/big.bin" }.bodyBytes
        print("origin sent \(originBytes) bytes in all (\(contentBytes) of big.bin) for 3 reads of \(size)")
        XCTAssertLessThanOrEqual(originBytes, size * 11 / 10,
                                 "three mounts reading big.bin should cost the origin about one copy (<= 1.1 x \(size)), "
                                 + "got \(originBytes): \(entries.gets.count) GETs")
        XCTAssertGreaterThanOrEqual(contentBytes, size, "the first mount's copy came from the origin")
    }

    /// All three start cold and together: the hard case of "N readers cost the origin about one copy".
    /// Each mount ranks pieces by rendezvous hashing over the members it is connected to, so each piece
    /// should have one owner that takes it from the CDN while the others wait for it (README, SessionSwarm).
    /// Known to fail on loopback (1.0-1.6 copies measured): a member that joined first is listed nobody and
    /// owns every piece until a re-join through the control plane connects it to the newcomers (~100-350 ms
    /// after they connected to its peer server), while its readahead fetches much of the file from the CDN.
    func testThreeColdMountsReadingAtTheSameTimeCostTheOriginAboutOneCopy() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 32 * MiB
        let content = TestContent.bytes(count: size, seed: 903)
        let published = try publishRegistered(content, as: "cold.bin", on: origin, controlPlane: cp)
        let peers = try ["127.0.0.2", "127.0.0.3", "127.0.0.4"].map { try peerMount($0, controlPlane: cp) }
        let paths = peers.map { byID($0, published.ContentId) }
        let started = Date()
        let results = try readConcurrently(paths, within: 90)
        print("three cold mounts read cold.bin together in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        for (result, peer) in zip(results, peers) {
            let got = try result.get()
            XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content), "cold.bin on \(peer.name): SHA-256")
            assertSameBytes(got, content, "cold.bin on \(peer.name)")
        }
        var peerTotal = 0
        for (path, peer) in zip(paths, peers) {
            let s = try sources(path)
            print("\(peer.name): user.dofs.sources = \(s)")
            peerTotal += s["peer"] ?? 0
            XCTAssertEqual((s["peer"] ?? 0) + (s["cdn"] ?? 0) + (s["cache"] ?? 0), size, "\(peer.name): every byte counted once: \(s)")
        }
        let originBytes = origin.entries().bodyBytes
        print("origin sent \(originBytes) bytes (\(String(format: "%.2f", Double(originBytes) / Double(size))) copies) for three cold reads")
        XCTAssertLessThanOrEqual(originBytes, size * 11 / 10,
                                 "three cold mounts reading together should cost the origin about one copy (<= 1.1 x \(size)), "
                                 + "got \(originBytes) (\(originBytes / MiB) MiB)")
        XCTAssertGreaterThanOrEqual(peerTotal, size * 19 / 10, "the other two copies should come from peers: \(peerTotal)")
    }

    // MARK: 2. A lying peer

    func testLyingPeerIsBannedAfterThreeBadPiecesAndNobodyGetsItsBytes() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 24 * MiB
        let content = TestContent.bytes(count: size, seed: 911)
        let published = try publishRegistered(content, as: "lied.bin", on: origin, controlPlane: cp)
        let hoh = try XCTUnwrap(SHA256Digest(base64: published.HashOfHashes))
        let layout = PieceLayout(contentLength: size, pieceSize: published.PieceSize)

        // The liar joins the swarm first (discovery -> CollectiveArray -> join/), claiming every piece.
        let liar = try LyingPeer(host: "127.0.0.5", swarmHash: hoh.bytes, layout: layout)
        addCleanup { liar.stop() }
        let before = try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: published.ContentId, peerId: liar.peerId,
                                             ip: liar.host, port: liar.port, left: 0, logDirectory: logs)
        XCTAssertEqual(before, [], "nobody else is in the swarm yet")
        let liarId = liar.peerId.hex

        // A mount with no honest peer: every piece the liar sends fails SHA-256; the CDN has the truth.
        let metrics1 = try LoopbackPort.free()
        let m1 = try peerMount("127.0.0.2", controlPlane: cp,
                               extraArguments: ["--log-level", "debug", "--metrics-listen", "127.0.0.1:\(metrics1)"])
        let p1 = byID(m1, published.ContentId)
        try assertVerifiedRead(p1, content, "lied.bin on a mount whose only peer lies")
        let s1 = try sources(p1)
        XCTAssertEqual(s1["peer"] ?? 0, 0, "no byte of the liar may count as read from a peer: \(s1)")
        XCTAssertEqual(s1["cdn"], size, "the CDN delivered every piece: \(s1)")

        let fromM1 = liar.connections.filter(\.swarmHashMatched)
        XCTAssertEqual(fromM1.count, 1, "the mount connects to the liar once: \(fromM1.map { "#\($0.number) \($0.requests.count) requests" })")
        let m1Id = try XCTUnwrap(fromM1.first?.remotePeerId, "the mount never handshook with the liar")
        XCTAssertTrue(waitUntil(timeout: 10) { self.liar(liar, closedBy: m1Id) },
                      "the mount should disconnect the liar when it bans it")

        // The log charges the liar for each bad piece and bans it at the third.
        let bad = logLines(m1, containing: "failed SHA-256 verification", liarId)
        XCTAssertGreaterThanOrEqual(bad.count, 3, "each bad piece from the liar is logged:\n\(m1.mount.logTail(30))")
        let banLines = logLines(m1, containing: liarId, "banned")
        XCTAssertFalse(banLines.isEmpty, "the ban of \(liarId) is logged:\n\(m1.mount.logTail(30))")
        print("mount 1: \(bad.count) bad pieces from the liar; first ban line: \(banLines.first ?? "-")")
        XCTAssertEqual(bad.firstIndex { $0.contains("banned") }, 2, "the liar is banned at its third bad piece, not before or after:\n"
                       + bad.joined(separator: "\n"))
        let charged = bad.compactMap { line -> Int? in
            guard let r = line.range(of: "piece ") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }
        XCTAssertEqual(Set(charged).count, charged.count, "a piece is charged once (never asked of the liar again): \(charged)")
        // The node's metrics tell the same story.
        let scrape1 = try MetricsScrape.get(port: metrics1, logDirectory: logs)
        XCTAssertEqual(scrape1[#"dofs_pieces_failed_verification_total{source="peer"}"#], Double(bad.count), scrape1.text)
        XCTAssertEqual(scrape1[#"dofs_bans_total{kind="peer"}"#], 1, "one ban: \(scrape1.text)")
        XCTAssertEqual(scrape1["dofs_peers_connected"], 0, "the liar, its only peer, is gone: \(scrape1.text)")
        XCTAssertEqual(scrape1[#"dofs_bytes_total{source="peer"}"#], 0)
        XCTAssertEqual(scrape1[#"dofs_bytes_total{source="cdn"}"#], Double(size))

        // After the ban: no request reaches the liar, however many times the control plane lists it again.
        let connection = try XCTUnwrap(liar.connections(from: m1Id).first)
        let pieces = connection.requestedPieces.sorted()
        print("liar: connection #\(connection.number) from mount 1: \(connection.requests.count) block requests "
              + "for \(pieces.count) pieces \(pieces); closed by the mount: \(connection.closedByRemoteAt.map { "\($0)" } ?? "no")")
        XCTAssertLessThan(pieces.count, layout.pieceCount, "the ban should stop the liar being asked for the whole file")
        if let banLine = banLines.first, let bannedAt = timestamp(of: banLine) {
            let late = connection.requests.filter { $0.at > bannedAt.addingTimeInterval(0.5) }
            XCTAssertEqual(late.count, 0, "requests reached the liar more than 0.5 s after the ban (\(bannedAt)): "
                           + "\(late.prefix(5).map { "piece \($0.piece)+\($0.begin) at \($0.at)" })")
            if let closedAt = connection.closedByRemoteAt {
                XCTAssertLessThan(closedAt.timeIntervalSince(bannedAt), 2, "the mount closes the liar's connection when it bans it")
            }
        } else {
            XCTFail("no parsable timestamp on the ban line: \(banLines.first ?? "-")")
        }
        let joinsBeforeWait = logLines(m1, containing: "joined its swarm, 1 peer(s) listed").count
        try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: published.ContentId, peerId: liar.peerId,
                                ip: liar.host, port: liar.port, left: 0, seq: 1, logDirectory: logs)
        Thread.sleep(forTimeInterval: Double(reannounceSecs) * 2.5)
        let joinsAfterWait = logLines(m1, containing: "joined its swarm, 1 peer(s) listed").count
        XCTAssertGreaterThanOrEqual(joinsAfterWait - joinsBeforeWait, 2,
                                    "the mount re-announces every \(reannounceSecs) s and is handed the liar each time")
        XCTAssertEqual(liar.connections(from: m1Id).count, 1, "a banned peer is never reconnected after a re-announce")
        XCTAssertEqual(liar.connections(from: m1Id).first?.requests.count, connection.requests.count,
                       "no request reached the liar after the ban")

        // Another mount, with the honest mount 1 and the liar both listed, reads only the truth.
        let metrics2 = try LoopbackPort.free()
        let m2 = try peerMount("127.0.0.3", controlPlane: cp, extraArguments: ["--metrics-listen", "127.0.0.1:\(metrics2)"])
        let p2 = byID(m2, published.ContentId)
        try assertVerifiedRead(p2, content, "lied.bin on a second mount (honest peer and liar listed)")
        let s2 = try sources(p2)
        let scrape2 = try MetricsScrape.get(port: metrics2, logDirectory: logs)
        XCTAssertGreaterThanOrEqual(scrape2["dofs_peers_connected"] ?? 0, 1, "connected to mount 1 at least: \(scrape2.text)")
        XCTAssertEqual(scrape2[#"dofs_bytes_total{source="peer"}"#], Double(s2["peer"] ?? -1), "metrics and user.dofs.sources agree")
        XCTAssertEqual(scrape2[#"dofs_pieces_verified_total{source="peer"}"#].map(Int.init),
                       (s2["peer"] ?? 0) / published.PieceSize, "24 MiB is 24 whole pieces: \(scrape2.text)")
        print("mount 2: user.dofs.sources = \(s2); liar connections from it: "
              + "\(liar.connections.filter { $0.remotePeerId != m1Id && $0.swarmHashMatched }.map { "\($0.requests.count) requests" })")
        XCTAssertGreaterThanOrEqual(s2["peer"] ?? 0, size * 9 / 10, "mount 2 takes the file from the honest mount 1: \(s2)")
        let bad2 = logLines(m2, containing: "failed SHA-256 verification", liarId)
        let otherBad2 = logLines(m2, containing: "failed SHA-256 verification").count - bad2.count
        XCTAssertEqual(otherBad2, 0, "mount 1 must never serve a bad piece (it shares only verified ones):\n\(m2.mount.logTail(30))")
        let originBytes = origin.entries().bodyBytes
        XCTAssertLessThanOrEqual(originBytes, size * 11 / 10, "the lies cost the origin nothing beyond one copy: \(originBytes)")
    }

    func testAnImpostorCannotJoinUnderAnHonestMembersPeerIdNorListAnotherAddress() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 12 * MiB
        let content = TestContent.bytes(count: size, seed: 921)
        let published = try publishRegistered(content, as: "honest.bin", on: origin, controlPlane: cp)
        let m1 = try peerMount("127.0.0.2", controlPlane: cp)
        try assertVerifiedRead(byID(m1, published.ContentId), content, "honest.bin on the first mount")

        // Anyone may learn who is in the swarm: an observer joins and is handed mount 1.
        let listed = try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: published.ContentId, peerId: .random(),
                                             ip: "127.0.0.6", port: 9, logDirectory: logs)
        let honest = try XCTUnwrap(listed.first { $0.ip == "127.0.0.2" }, "mount 1 is listed at its own address: \(listed)")

        // The impostor takes mount 1's peer id from its own address: refused, so no reader can ever
        // charge mount 1 for the impostor's pieces.
        let impostorId = try XCTUnwrap(PeerId(hex: honest.peerId))
        XCTAssertThrowsError(try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: published.ContentId, peerId: impostorId,
                                                     ip: "127.0.0.5", port: 7777, logDirectory: logs)) { error in
            XCTAssertTrue("\(error)".contains("409"), "\(error)")
        }
        // The spoof: a join from 127.0.0.5 that reports 127.0.0.7 as its address is listed at 127.0.0.5.
        let spoofer = PeerId.random()
        try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: published.ContentId, peerId: spoofer,
                                ip: "127.0.0.7", port: 7777, from: "127.0.0.5", logDirectory: logs)
        let after = try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: published.ContentId, peerId: .random(),
                                            ip: "127.0.0.5", port: 9, logDirectory: logs)
        XCTAssertEqual(after.first { $0.peerId == spoofer.hex }?.ip, "127.0.0.5", "listed where its join came from: \(after)")
        XCTAssertEqual(after.filter { $0.peerId == honest.peerId }.map(\.ip), ["127.0.0.2"], "mount 1 untouched: \(after)")

        // A second mount reads from mount 1, which nobody charges or bans.
        let m2 = try peerMount("127.0.0.3", controlPlane: cp)
        let p2 = byID(m2, published.ContentId)
        try assertVerifiedRead(p2, content, "honest.bin on the second mount")
        XCTAssertGreaterThanOrEqual(try sources(p2)["peer"] ?? 0, size * 9 / 10, "mount 2 reads from mount 1")
        XCTAssertEqual(logLines(m2, containing: honest.peerId, "banned"), [], "mount 1 is never banned")
    }

    private func liar(_ liar: LyingPeer, closedBy peer: PeerId) -> Bool {
        liar.connections(from: peer).allSatisfy { $0.closedByRemoteAt != nil }
    }

    // MARK: 3. A peer killed mid-transfer

    func testPeerKilledWithSIGKILLMidTransferLeavesTheReaderToFinishFromTheCDN() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 48 * MiB
        let content = TestContent.bytes(count: size, seed: 921)
        let published = try publishRegistered(content, as: "killed.bin", on: origin, controlPlane: cp)
        let m1 = try peerMount("127.0.0.2", controlPlane: cp)
        let m2 = try peerMount("127.0.0.3", controlPlane: cp)
        try assertVerifiedRead(byID(m1, published.ContentId), content, "killed.bin on the seeding mount")

        // A slow sequential reader on mount 2: 1 MiB, then a pause, and so on.
        let p2 = byID(m2, published.ContentId)
        let box = ResultBox<Result<[UInt8], PosixError>>()
        let done = DispatchSemaphore(value: 0)
        let reader = Thread {
            box.set({
                do {
                    let file = try ReadOnlyFile(p2)
                    var all = [UInt8]()
                    all.reserveCapacity(size)
                    while true {
                        let part = try file.read(offset: all.count, length: 1 << 20).get()
                        all += part
                        if part.count < 1 << 20 { return .success(all) }
                        Thread.sleep(forTimeInterval: 0.05)
                    }
                } catch let error as PosixError {
                    return .failure(error)
                } catch {
                    return .failure(PosixError(operation: "read: \(error)", path: p2, code: EIO))
                }
            }())
            done.signal()
        }
        reader.stackSize = 1 << 20
        reader.start()

        // Once mount 2 has some bytes from mount 1, mount 1 dies.
        var seen: [String: Int] = [:]
        let gotPeerBytes = waitUntil(timeout: 30, interval: 0.01) {
            seen = DofsMount.sources(p2) ?? [:]
            return (seen["peer"] ?? 0) >= 2 * self.MiB
        }
        XCTAssertTrue(gotPeerBytes, "mount 2 should start taking killed.bin from mount 1: \(seen)")
        m1.mount.kill9()
        let killedAt = Date()
        print("killed mount 1 (SIGKILL) when mount 2 had \(seen)")
        XCTAssertFalse(m1.mount.process.isRunning)

        guard done.wait(timeout: .now() + 60) == .success, let result = box.value else {
            XCTFail("mount 2 did not finish reading killed.bin within 60 s of its peer's death; sources: "
                    + "\(DofsMount.sources(p2) ?? [:])\n\(m2.mount.logTail(30))")
            return
        }
        let took = Date().timeIntervalSince(killedAt)
        print("mount 2 finished \(String(format: "%.2f", took)) s after the kill")
        let got = try result.get()
        XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content), "killed.bin on mount 2: SHA-256")
        assertSameBytes(got, content, "killed.bin on mount 2")
        let s2 = try sources(p2)
        print("mount 2: user.dofs.sources = \(s2)")
        XCTAssertGreaterThan(s2["peer"] ?? 0, 0, "mount 2 took part of the file from mount 1: \(s2)")
        XCTAssertGreaterThan(s2["cdn"] ?? 0, 0, "mount 2 finished from the CDN after mount 1 died: \(s2)")
        XCTAssertLessThan(s2["peer"] ?? 0, size, "mount 1 was killed mid-transfer, not after it: \(s2)")
        XCTAssertEqual((s2["peer"] ?? 0) + (s2["cdn"] ?? 0) + (s2["cache"] ?? 0), size, "every byte counted once: \(s2)")
    }

    // MARK: 4. Simple mode never joins a swarm

    func testSimpleModeContentNeverJoinsASwarmAndThePeerServerAnswersOnlyVerifiedContent() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let plain = try TestContent.write(TestContent.bytes(count: 12 * MiB + 4321, seed: 931), to: origin.path("plain.bin"))
        let shared = TestContent.bytes(count: 12 * MiB, seed: 932)
        let published = try publishRegistered(shared, as: "shared.bin", on: origin, controlPlane: cp)
        let m1 = try peerMount("127.0.0.2", controlPlane: cp)

        // Unpublished URL: simple mode (above the peering minimum, so size is not why it stays out).
        let plainPath = byURL(m1, origin.url("plain.bin"))
        let gotPlain = try readWhole(plainPath).get()
        XCTAssertEqual(TestContent.sha256(gotPlain), TestContent.sha256(plain), "plain.bin in simple mode")
        XCTAssertEqual(try xattr(plainPath, "user.dofs.mode").get(), "simple")
        try assertVerifiedRead(byID(m1, published.ContentId), shared, "shared.bin")

        // What plain.bin's swarm would be, had it been published: its HashOfHashes and content ID.
        let wouldBe = try Publisher.hashFile(atPath: origin.path("plain.bin"))
        let sharedHoh = try XCTUnwrap(SHA256Digest(base64: published.HashOfHashes))
        XCTAssertNotEqual(wouldBe.hashOfHashes, sharedHoh)

        try assertRefusedWithoutReply(m1, swarmHash: wouldBe.hashOfHashes.bytes, "handshake for simple-mode plain.bin's would-be swarm")
        try assertRefusedWithoutReply(m1, swarmHash: SHA256.hash(Array("no such swarm \(UUID())".utf8)).bytes,
                                      "handshake for a random swarm hash")

        // The verified content: a 78-byte handshake echoing the swarm hash, then the bitfield of all its pieces.
        let us = PeerId.random()
        let client = try handshake(m1, swarmHash: sharedHoh.bytes, as: us)
        let raw = try XCTUnwrap(client.readRaw(Handshake.byteCount, timeout: 5),
                                "no 78-byte handshake reply for shared.bin (received \(client.receivedByteCount) bytes, "
                                + "closed: \(client.closedByPeer))")
        let reply = try Handshake(decoding: raw)
        XCTAssertEqual(reply.swarmHash, sharedHoh.bytes, "the reply echoes the swarm hash")
        XCTAssertNotEqual(reply.peerId, us, "the reply carries the mount's own peer id")
        var first = try client.readMessage(timeout: 5)
        while first == .keepAlive { first = try client.readMessage(timeout: 5) }
        let pieceCount = PieceLayout(contentLength: shared.count, pieceSize: published.PieceSize).pieceCount
        guard case .bitfield(let bits)? = first else {
            return XCTFail("the first message after the handshake should be a bitfield, got \(String(describing: first))")
        }
        let bitfield = try XCTUnwrap(Bitfield(bytes: bits, pieceCount: pieceCount), "a bitfield of \(bits.count) bytes for \(pieceCount) pieces")
        XCTAssertTrue(bitfield.isComplete, "the mount read all of shared.bin, so it offers every piece: \(bitfield.count)/\(pieceCount)")

        // And the control plane: after a few re-announce intervals, plain.bin's would-be swarm lists nobody,
        // while shared.bin's lists the mount.
        Thread.sleep(forTimeInterval: Double(reannounceSecs) + 0.5)
        let plainMembers = try listedPeers(cp, contentId: wouldBe.contentId.rawValue)
        XCTAssertEqual(plainMembers, [], "nobody joined the swarm of a content read in simple mode")
        let sharedMembers = try listedPeers(cp, contentId: published.ContentId)
        XCTAssertEqual(sharedMembers.map(\.ip), [m1.host], "shared.bin's swarm lists the mount: \(sharedMembers)")
        XCTAssertEqual(sharedMembers.first?.port, m1.port, "with its peer server's port: \(sharedMembers)")
        XCTAssertEqual(sharedMembers.first?.peerId, reply.peerId.hex, "and the peer id it handshakes with")
    }

    // MARK: 5. Below the peering minimum

    func testContentBelowThePeeringMinimumIsReadVerifiedFromTheCDNOnEveryMount() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 2 * MiB
        let content = TestContent.bytes(count: size, seed: 941)
        let published = try publishRegistered(content, as: "small.bin", on: origin, controlPlane: cp)
        let m1 = try peerMount("127.0.0.2", controlPlane: cp)
        let m2 = try peerMount("127.0.0.3", controlPlane: cp)

        for (peer, what) in [(m1, "first"), (m2, "second")] {
            let path = byID(peer, published.ContentId)
            try assertVerifiedRead(path, content, "small.bin on the \(what) mount")
            let s = try sources(path)
            XCTAssertEqual(s["peer"] ?? 0, 0, "small.bin on the \(what) mount: no peer bytes under the minimum: \(s)")
            XCTAssertEqual(s["cdn"], size, "small.bin on the \(what) mount: all from the CDN: \(s)")
            XCTAssertFalse(logLines(peer, containing: "under the peering minimum").isEmpty,
                           "the \(what) mount logs why small.bin does not peer:\n\(peer.mount.logTail(20))")
        }
        let smallBytes = origin.bytesSent(matching: "/small.bin")
        XCTAssertEqual(smallBytes, 2 * size, "each mount fetched small.bin from the origin, exactly once: \(origin.requests(matching: "/small.bin").count) GETs")

        // Not shared and not announced either.
        let hoh = try XCTUnwrap(SHA256Digest(base64: published.HashOfHashes))
        try assertRefusedWithoutReply(m1, swarmHash: hoh.bytes, "handshake for small.bin, held verified but under the minimum")
        XCTAssertEqual(try listedPeers(cp, contentId: published.ContentId), [], "no mount joined small.bin's swarm")
    }

    // MARK: 4. Members that cannot stall a read

    /// A content whose swarm gets bad members, and a reference of the same size that nobody else shares,
    /// both on one origin and registered with one control plane.
    private struct Scenario {
        let origin: NginxOrigin
        let cp: ControlPlaneProcess
        let size: Int
        let content: [UInt8]
        let published: DofsCLI.Published
        let reference: [UInt8]
        let publishedReference: DofsCLI.Published
    }

    /// `name` on the origin (its reference: `alone-NAME`), made from `seed` (its reference from `seed - 1`).
    private func scenario(_ name: String, size: Int, seed: UInt64) throws -> Scenario {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let reference = TestContent.bytes(count: size, seed: seed - 1)
        let content = TestContent.bytes(count: size, seed: seed)
        return Scenario(origin: origin, cp: cp, size: size, content: content,
                        published: try publishRegistered(content, as: name, on: origin, controlPlane: cp),
                        reference: reference,
                        publishedReference: try publishRegistered(reference, as: "alone-\(name)", on: origin, controlPlane: cp))
    }

    /// `peer` reading the scenario's reference cold: the time of a read with nobody else in its swarm.
    private func timedReferenceRead(_ peer: Peer, _ s: Scenario) throws -> TimeInterval {
        let (_, alone) = try timed {
            try assertVerifiedRead(byID(peer, s.publishedReference.ContentId), s.reference, "the reference content, read alone")
        }
        return alone
    }

    /// A bad member of `published`'s swarm on `host`, joined through the control plane as an honest
    /// member would (`left`: the bytes it says it still needs), stopped when the test ends.
    private func joinedBadMember(_ conduct: LyingPeer.Conduct, host: String, of published: DofsCLI.Published, size: Int,
                                 left: Int, controlPlane cp: ControlPlaneProcess) throws -> LyingPeer {
        let hoh = try XCTUnwrap(SHA256Digest(base64: published.HashOfHashes))
        let layout = PieceLayout(contentLength: size, pieceSize: published.PieceSize)
        let member = try LyingPeer(host: host, swarmHash: hoh.bytes, layout: layout, conduct: conduct)
        addCleanup { member.stop() }
        try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: published.ContentId, peerId: member.peerId,
                                ip: member.host, port: member.port, left: left, logDirectory: logs)
        return member
    }

    /// The bound of the issue: at most 1.5 times the read without the bad member, plus one budget, plus
    /// three seconds of slack for a machine shared with other builds (writes there can stall for seconds
    /// under the builds' dirty pages). The old behaviour took 10 to 30 times the read alone.
    /// `plus`: seconds of waits the scenario has by design (owner waits, say).
    private func assertWithinBound(_ took: TimeInterval, alone: TimeInterval, plus: TimeInterval = 0, _ what: String,
                                   file: StaticString = #filePath, line: UInt = #line) {
        let budget = 1.0  // SchedulerConfiguration.initialBudgetSeconds
        let bound = 1.5 * alone + budget + 3.0 + plus
        print("\(what): \(String(format: "%.2f", took)) s against \(String(format: "%.2f", alone)) s alone (bound \(String(format: "%.2f", bound)) s)")
        XCTAssertLessThanOrEqual(took, bound, "\(what) took \(took) s, \(alone) s without the bad member", file: file, line: line)
    }

    /// The scored source table of `path`'s content, from `dofs status --json` on `socket`.
    private func sourceTable(socket: String) throws -> [[String: Any]] {
        let out = try dofs(["status", "--socket", socket, "--json"])
        let status = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
        let mounts = status?["mounts"] as? [[String: Any]] ?? []
        let contents = mounts.flatMap { $0["contents"] as? [[String: Any]] ?? [] }
        return contents.flatMap { $0["sources"] as? [[String: Any]] ?? [] }
    }

    func testAWithholdingMemberIsHedgedDroppedNeverBannedAndCannotStallARead() throws {
        let sc = try scenario("withheld.bin", size: 32 * MiB, seed: 952)
        let (cp, size, content, published) = (sc.cp, sc.size, sc.content, sc.published)
        // The withholder joins through the control plane, answers handshakes, announces every piece, sends none.
        let withholder = try joinedBadMember(.withholds, host: "127.0.0.5", of: published, size: size, left: 0, controlPlane: cp)

        let socket = scratch.file("withhold.sock")
        let m = try peerMount("127.0.0.2", controlPlane: cp, extraArguments: ["--socket", socket, "--log-level", "debug"])
        let alone = try timedReferenceRead(m, sc)
        let path = byID(m, published.ContentId)
        let (_, took) = try timed { try assertVerifiedRead(path, content, "withheld.bin with a withholding member") }
        assertWithinBound(took, alone: alone, "32 MiB with a withholding member")

        let s = try sources(path)
        XCTAssertEqual(s["peer"] ?? 0, 0, "the withholder delivered nothing: \(s)")
        XCTAssertEqual(s["cdn"], size, "every piece came from the CDN, once: \(s)")
        let asked = withholder.connections.filter(\.swarmHashMatched).flatMap(\.requests)
        XCTAssertFalse(asked.isEmpty, "the mount did ask the withholder (it announced every piece)")
        let id = withholder.peerId.hex
        XCTAssertFalse(logLines(m, containing: "dropping", id).isEmpty,
                       "the withholder is dropped after timeouts in a row:\n\(m.mount.logTail(30))")
        XCTAssertTrue(logLines(m, containing: id, "banned").isEmpty, "a withholder sent no bad byte: it is not banned")
        let row = try sourceTable(socket: socket).first { ($0["source"] as? String) == "peer \(id)" }
        XCTAssertGreaterThanOrEqual((row?["timeouts"] as? NSNumber)?.intValue ?? 0, 3,
                                    "dofs status shows the withholder's timeouts: \(row ?? [:])")
        XCTAssertEqual((row?["badPieces"] as? NSNumber)?.intValue, 0)
    }

    func testSixteenWithholdersThatJoinedFirstAreTheSwarmsEldestAndStillCannotStallARead() throws {
        // The sixteen own every piece: after the first join's answer (1 s), each window of the
        // readahead waits the longest owner wait (`--http-delay`, 5 s) for owners that never bring it,
        // then the swarm has announced nothing new for 5 s and the CDN overtakes the peers still asked.
        // 32 pieces take three or four windows (16.2-18.4 s measured). Before, each piece asked all
        // sixteen, three at a time, each for its full 10 s timeout before the CDN: no read within 60 s.
        let (m, withholders) = try readBehindSixteenEldest(.withholds, file: "eldest.bin", seed: 959, plus: 1 + 4 * 5)
        let asked = withholders.filter { !$0.connections.filter(\.swarmHashMatched).flatMap(\.requests).isEmpty }
        XCTAssertFalse(asked.isEmpty, "the mount asked withholders for pieces (they announced every one)")
        // The eldest rule acted: the mount, the youngest member, first ranked all sixteen above itself.
        let firstWait = logLines(m, containing: "for its owner to announce it").first
        XCTAssertTrue(firstWait?.contains("(16 member(s) ranked above us)") ?? false,
                      "the first piece waited with the sixteen eldest above us: \(firstWait ?? "no wait at all")")
    }

    func testSixteenEldestWithholdersThatChokeEveryoneHoldAReadOffTheCDNNoLongerThanABusyQueueMore() throws {
        // As above, but the sixteen never unchoke: our requests wait unsent in their queues, which is
        // what a busy eldest member's queue looks like too, so their timeouts leave their word for a busy
        // queue (`busyQueueSeconds`, 5 s from the connection; `SchedulerOwnershipTests`). What bounds the
        // read is the swarm going quiet, as above: nothing new announced for 5 s, and the CDN overtakes
        // the peers still asked (17.5 s measured, against 16.4 s for the sixteen that unchoke).
        let (m, withholders) = try readBehindSixteenEldest(.withholdsChoking, file: "choking.bin", seed: 960, plus: 1 + 4 * 5 + 5)
        XCTAssertTrue(withholders.allSatisfy { $0.connections.flatMap(\.requests).isEmpty }, "a choked mount sends no request")
        XCTAssertFalse(logLines(m, containing: "overran its budget; hedging; it has choked us for").isEmpty,
                       "requests queued behind the chokes overran their budgets:\n\(m.mount.logTail(30))")
    }

    /// Sixteen members of `conduct` join first: with our mount the swarm has 17 members, so owners are
    /// drawn from its 16 eldest (the control plane's first-join times), all of them withholders. They
    /// announce every piece, which holds the young mount off the CDN while it may believe them. Reads
    /// 32 MiB through a debug-logging mount and checks that it took no longer than the bound (`plus`: the
    /// waits by design) and that every byte came from the CDN, once. Returns the mount and the sixteen.
    private func readBehindSixteenEldest(_ conduct: LyingPeer.Conduct, file: String, seed: UInt64,
                                         plus: TimeInterval) throws -> (Peer, [LyingPeer]) {
        let sc = try scenario(file, size: 32 * MiB, seed: seed)
        let (origin, cp, size, content, published) = (sc.origin, sc.cp, sc.size, sc.content, sc.published)
        let withholders = try (0..<16).map { n in
            try joinedBadMember(conduct, host: "127.0.0.\(30 + n)", of: published, size: size, left: 0, controlPlane: cp)
        }
        let m = try peerMount("127.0.0.2", controlPlane: cp, extraArguments: ["--log-level", "debug"])
        let alone = try timedReferenceRead(m, sc)
        let path = byID(m, published.ContentId)
        let (_, took) = try timed { try assertVerifiedRead(path, content, "\(file) with sixteen eldest (\(conduct))") }
        assertWithinBound(took, alone: alone, plus: plus, "32 MiB with the sixteen eldest (\(conduct))")

        let s = try sources(path)
        XCTAssertEqual(s["peer"] ?? 0, 0, "the withholders delivered nothing: \(s)")
        XCTAssertEqual(s["cdn"], size, "every piece came from the CDN, once: \(s)")
        XCTAssertEqual(origin.entries().filter { $0.uri == "/\(file)" }.bodyBytes, size, "the origin sent it once")
        return (m, withholders)
    }

    func testAMemberThatHoldsNothingOwnsPiecesOnlyUntilItsWaitsRunOut() throws {
        let sc = try scenario("empty.bin", size: 64 * MiB, seed: 954)
        let (cp, size, content, published) = (sc.cp, sc.size, sc.content, sc.published)
        let layout = PieceLayout(contentLength: size, pieceSize: published.PieceSize)
        let empty = try joinedBadMember(.holdsNothing, host: "127.0.0.6", of: published, size: size, left: size, controlPlane: cp)

        let socket = scratch.file("empty.sock")
        let m = try peerMount("127.0.0.2", controlPlane: cp, extraArguments: ["--socket", socket, "--log-level", "debug"])
        let alone = try timedReferenceRead(m, sc)
        let path = byID(m, published.ContentId)
        let (_, took) = try timed { try assertVerifiedRead(path, content, "empty.bin with a member that holds nothing") }
        assertWithinBound(took, alone: alone, "64 MiB with an empty member")
        XCTAssertEqual(try sources(path)["cdn"], size, "every piece from the CDN, once")
        XCTAssertEqual(empty.connections.filter(\.swarmHashMatched).count, 1, "the mount connected to the empty member (a member)")
        let row = try sourceTable(socket: socket).first { ($0["source"] as? String) == "peer \(empty.peerId.hex)" }
        let misses = (row?["ownerMisses"] as? NSNumber)?.intValue ?? 0
        XCTAssertGreaterThanOrEqual(misses, 1, "the empty member owned pieces and missed them: \(row ?? [:])")
        XCTAssertLessThanOrEqual(misses, 8, "it stops owning pieces after a few misses: \(row ?? [:])")
        let waited = piecesThatWaited(m, forOwner: empty.peerId)
        XCTAssertGreaterThan(waited.count, 0, "pieces it owned waited for it (a member) at first")
        // It owns about half the pieces, at random. The first readahead window (up to about 25 pieces)
        // waits for it at once; when those waits run out it owns nothing, so no piece of the second half
        // waits for it. (How many pieces wait is not a measure: it depends on how many it drew.)
        let late = waited.filter { $0 >= layout.pieceCount / 2 }
        XCTAssertEqual(late, [], "pieces of the second half still waited for the empty member: \(waited)")
    }

    func testAMemberThatHoldsNothingLosesItsPiecesAtItsFirstMissEvenWhenOtherMembersFetchThem() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 64 * MiB
        let content = TestContent.bytes(count: size, seed: 957)
        let published = try publishRegistered(content, as: "empty2.bin", on: origin, controlPlane: cp)
        let layout = PieceLayout(contentLength: size, pieceSize: published.PieceSize)
        let empty = try joinedBadMember(.holdsNothing, host: "127.0.0.6", of: published, size: size, left: size, controlPlane: cp)
        // Two honest mounts read together: when a wait for the empty member runs out, the other mount
        // often has the piece already. That must not excuse a member that announced nothing at all.
        let peers = try ["127.0.0.2", "127.0.0.3"].map { try peerMount($0, controlPlane: cp, extraArguments: ["--log-level", "debug"]) }
        let paths = peers.map { byID($0, published.ContentId) }
        // Open the content on both (each joins the swarm and connects to the empty member), and let the
        // empty member stay connected for two owner waits before reading: an owner that has not been
        // connected that long may merely be slow to start, and is not charged for announcing nothing.
        for path in paths { XCTAssertEqual(try xattr(path, "user.dofs.mode").get(), "verified") }
        XCTAssertTrue(waitUntil(timeout: 20) { empty.connections.filter(\.swarmHashMatched).count >= 2 },
                      "both mounts connected to the empty member (a member)")
        Thread.sleep(forTimeInterval: 2.5)  // two owner waits (the initial budget, 1 s) and some slack
        let results = try readConcurrently(paths, within: 90)
        for (result, peer) in zip(results, peers) {
            let got = try result.get()
            XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content), "empty2.bin on \(peer.name): SHA-256")
            assertSameBytes(got, content, "empty2.bin on \(peer.name)")
        }
        // Its pieces go to their backups, about once each; two backups whose views of its first miss
        // differ by a moment may both fetch one (a loaded machine has measured 1.19 copies).
        XCTAssertLessThanOrEqual(origin.entries().bodyBytes, size * 5 / 4, "its pieces were fetched by their backups, about once")
        for peer in peers {
            let waited = piecesThatWaited(peer, forOwner: empty.peerId)
            print("\(peer.name): pieces that waited for the empty member: \(waited)")
            // It owns about a third of the pieces. Its owner's chance on the first pieces ends while the
            // reader is still in its first readahead window (16 pieces); from then on it owns nothing, so no
            // piece of the second half waits for it (one that also held something would keep them until
            // three misses in a row).
            XCTAssertGreaterThan(waited.count, 0, "\(peer.name): pieces it owned waited for it (a member) at first")
            let late = waited.filter { $0 >= layout.pieceCount / 2 }
            XCTAssertEqual(late, [], "\(peer.name): pieces of the second half still waited for the empty member: \(waited)")
        }
    }

    func testPeersThatOnlyHandshakeInboundOwnNothing() throws {
        let sc = try scenario("inbound.bin", size: 32 * MiB, seed: 956)
        let (cp, size, content, published) = (sc.cp, sc.size, sc.content, sc.published)
        let hoh = try XCTUnwrap(SHA256Digest(base64: published.HashOfHashes))

        let m = try peerMount("127.0.0.2", controlPlane: cp, extraArguments: ["--log-level", "debug"])
        let alone = try timedReferenceRead(m, sc)
        let path = byID(m, published.ContentId)
        // Open the content, so the peer server answers its swarm.
        XCTAssertEqual(try xattr(path, "user.dofs.mode").get(), "verified")
        // Thirty made-up peer ids handshake with the mount's peer server, each from its own address, and
        // never join through the control plane.
        var clients: [PeerWireClient] = []
        for i in 1...30 {
            let client = try PeerWireClient(host: m.host, port: m.port, localHost: "127.0.1.\(i)")
            XCTAssertTrue(client.send(Handshake(swarmHash: hoh.bytes, peerId: .random()).encoded()))
            clients.append(client)
        }
        let answered = clients.filter { $0.readRaw(Handshake.byteCount, timeout: 5) != nil }.count
        print("inbound-only peers answered by the peer server: \(answered) of \(clients.count)")
        XCTAssertGreaterThan(answered, 0, "the peer server answers inbound handshakes")
        let (_, took) = try timed { try assertVerifiedRead(path, content, "inbound.bin with 30 inbound-only peers") }
        assertWithinBound(took, alone: alone, "32 MiB with 30 inbound-only peers")
        XCTAssertEqual(try sources(path)["cdn"], size, "every piece from the CDN, once")
        let ownerWaits = logLines(m, containing: "for its owner to announce it")
        XCTAssertEqual(ownerWaits.count, 0, "no piece waited for an owner: peers that never joined own nothing:\n"
                       + ownerWaits.prefix(5).joined(separator: "\n"))
        withExtendedLifetime(clients) {}
    }
}
