import DOCore
import DOSwarm
import Foundation
import XCTest

/// `dofs get`, the headless peer: the node's engine without FUSE. It downloads through the swarm,
/// the cache hosts and the CDN with every piece verified, writes its file all or nothing, and with
/// `--seed-for` goes on serving its pieces to the swarm.
final class GetTests: MountTestCase {
    private let MiB = TestContent.MiB
    private var logs: String { scratch.file("logs") }

    private func startControlPlane() throws -> ControlPlaneProcess {
        let cp = try ControlPlaneProcess(scratch: scratch, extraArguments: ["--reannounce-secs", "2"])
        addCleanup { cp.stop() }
        return cp
    }

    private func publishRegistered(_ bytes: [UInt8], as name: String, on origin: NginxOrigin,
                                   controlPlane cp: ControlPlaneProcess) throws -> DofsCLI.Published {
        try DofsCLI.publishOnOrigin(bytes, as: name, on: origin, controlPlane: cp.baseURL, logDirectory: logs)
    }

    /// `dofs get --seed-for 120` on `peer`, once it has written its file and goes on seeding (stopped at
    /// the test's end).
    private func startSeeding(_ peer: HeadlessPeer, _ published: DofsCLI.Published,
                              controlPlane cp: ControlPlaneProcess) throws -> ChildProcess {
        let seeding = try peer.start(published.ContentId, controlPlane: cp.baseURL, extra: ["--seed-for", "120"],
                                     logDirectory: logs)
        addCleanup { _ = seeding.stop(grace: 5) }
        // The outcome line comes just after the file is renamed into place: wait for the line.
        XCTAssertTrue(waitUntil(timeout: 60) { (try? HeadlessPeer.outcome(seeding.standardOutput)) != nil || !seeding.isRunning },
                      "the seeder wrote its file and its outcome within 60 s; log:\n\(peer.log.suffix(3000))")
        XCTAssertTrue(seeding.isRunning, "--seed-for keeps the peer running after the download: \(seeding.standardError.suffix(2000))")
        return seeding
    }

    private func fileBytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func testGetFromASeedingPeerWritesTheExactBytesAndTakesThemFromThePeerAndSIGTERMEndsTheSeeding() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 16 * MiB
        let content = TestContent.bytes(count: size, seed: 1401)
        let published = try publishRegistered(content, as: "seeded.bin", on: origin, controlPlane: cp)

        // The seeder: fetches from the CDN (nobody else is in the swarm), writes its file, stays.
        let seeder = try HeadlessPeer(host: "127.0.0.2", scratch: scratch)
        let seeding = try startSeeding(seeder, published, controlPlane: cp)
        let seeded = try HeadlessPeer.outcome(seeding.standardOutput)
        XCTAssertEqual(seeded.fetched.cdn, size, "the first peer has nobody to ask: all from the CDN")
        XCTAssertEqual(TestContent.sha256(try fileBytes(seeder.output)), TestContent.sha256(content), "the seeder's file")
        let originAfterSeeder = origin.entries().bodyBytes

        // The second peer finds the seeder through the control plane and takes the pieces from it.
        let leecher = try HeadlessPeer(host: "127.0.0.3", scratch: scratch)
        let result = try leecher.run(published.ContentId, controlPlane: cp.baseURL, logDirectory: logs)
        XCTAssertTrue(result.succeeded, "dofs get exits 0: \(result.termination) \(result.stderr.suffix(2000))")
        let got = try HeadlessPeer.outcome(result.stdout)
        let bytes = try fileBytes(leecher.output)
        XCTAssertEqual(bytes.count, size)
        XCTAssertEqual(TestContent.sha256(bytes), TestContent.sha256(content), "the downloaded file's SHA-256")
        assertSameBytes(bytes, content, "the downloaded file")
        XCTAssertEqual(got.mode, "verified")
        XCTAssertEqual(got.contentId, published.ContentId)
        XCTAssertGreaterThan(got.fetched.peer, 0, "bytes from the seeding peer: \(got.fetched)")
        XCTAssertGreaterThanOrEqual(got.fetched.peer, size * 9 / 10, "nearly all from the seeder: \(got.fetched)")
        XCTAssertEqual(got.fetched.peer + got.fetched.cdn + got.fetched.cache, size, "each byte fetched once: \(got.fetched)")
        let originExtra = origin.entries().bodyBytes - originAfterSeeder
        XCTAssertLessThanOrEqual(originExtra, size / 10, "the second peer cost the origin at most a tenth: \(originExtra) bytes")
        print("dofs get from a seeding peer: \(got.fetched) in \(String(format: "%.2f", got.elapsedSeconds)) s")
        let folder = try FileManager.default.contentsOfDirectory(atPath: (leecher.output as NSString).deletingLastPathComponent)
        XCTAssertEqual(folder.filter { $0.contains(".dofs-partial-") }, [], "no temporary file left behind")

        // The seeder waited for a signal once during its download and waits again while seeding:
        // SIGTERM ends the seeding (its 120 s) at once, cleanly.
        seeding.send(SIGTERM)
        XCTAssertEqual(seeding.wait(timeout: 15), .exited(0),
                       "SIGTERM while seeding: the peer stops and exits 0 within 15 s: \(seeding.standardError.suffix(2000))")
    }

    /// A fleet restarted together: each node comes back at its address on its cache. Peers that were
    /// told of it before check the id the control plane gave them in the handshake; a new id would be
    /// refused by each of them until their next join answer.
    func testASeederRestartedAtItsAddressOnItsCacheAnswersAsTheMemberItsSwarmListed() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let content = TestContent.bytes(count: 12 * MiB, seed: 1404)
        let published = try publishRegistered(content, as: "restarted.bin", on: origin, controlPlane: cp)
        let hoh = try XCTUnwrap(SHA256Digest(base64: published.HashOfHashes))
        let seeder = try HeadlessPeer(host: "127.0.0.2", scratch: scratch)
        let first = try startSeeding(seeder, published, controlPlane: cp)
        let us = PeerId.random()
        let told = try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: published.ContentId, peerId: us,
                                           ip: "127.0.0.4", port: 9, left: content.count, scope: 3, logDirectory: logs)
        let listed = try XCTUnwrap(told.first { $0.ip == seeder.host && $0.port == seeder.port }, "the seeder is listed: \(told)")
        first.send(SIGTERM)
        XCTAssertEqual(first.wait(timeout: 15), .exited(0), "the seeder stops on SIGTERM: \(first.standardError.suffix(2000))")

        _ = try startSeeding(seeder, published, controlPlane: cp)
        let client = try PeerWireClient(host: seeder.host, port: seeder.port, localHost: "127.0.0.4")
        XCTAssertTrue(client.send(Handshake(swarmHash: hoh.bytes, peerId: us).encoded()))
        let reply = try XCTUnwrap(client.readRaw(Handshake.byteCount, timeout: 10), "the restarted seeder answers the handshake")
        XCTAssertEqual(try Handshake(decoding: reply).peerId.hex, listed.peerId,
                       "the restarted seeder answers as the member listed before the restart")
        let relisted = try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: published.ContentId, peerId: us,
                                               ip: "127.0.0.4", port: 9, left: content.count, seq: 1, scope: 3, logDirectory: logs)
        XCTAssertEqual(relisted.filter { $0.ip == seeder.host }, [listed], "one member at the seeder's address, not the old and the new")
    }

    func testGetWithALyingPeerWritesNoWrongByteAndBansTheLiar() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 12 * MiB
        let content = TestContent.bytes(count: size, seed: 1402)
        let published = try publishRegistered(content, as: "lied.bin", on: origin, controlPlane: cp)
        let hoh = try XCTUnwrap(SHA256Digest(base64: published.HashOfHashes))
        let liar = try LyingPeer(host: "127.0.0.5", swarmHash: hoh.bytes,
                                 layout: PieceLayout(contentLength: size, pieceSize: published.PieceSize))
        addCleanup { liar.stop() }
        try SwarmDirectory.join(controlPlane: cp.baseURL, contentId: published.ContentId, peerId: liar.peerId,
                                ip: liar.host, port: liar.port, left: 0, scope: 3, logDirectory: logs)

        let peer = try HeadlessPeer(host: "127.0.0.2", scratch: scratch)
        let result = try peer.run(published.ContentId, controlPlane: cp.baseURL, extra: ["--log-level", "debug"], logDirectory: logs)
        XCTAssertTrue(result.succeeded, "dofs get exits 0: \(result.termination) \(result.stderr.suffix(2000))")
        let got = try HeadlessPeer.outcome(result.stdout)
        let bytes = try fileBytes(peer.output)
        XCTAssertEqual(TestContent.sha256(bytes), TestContent.sha256(content), "the file's SHA-256")
        assertSameBytes(bytes, content, "the file written while a liar was in the swarm")
        XCTAssertEqual(bytes.filter { $0 == liar.lieByte }.count, content.filter { $0 == liar.lieByte }.count,
                       "not one of the liar's bytes")
        XCTAssertEqual(got.fetched.peer, 0, "nothing counted as fetched from a peer: \(got.fetched)")
        XCTAssertEqual(got.fetched.cdn, size, "the CDN delivered every piece: \(got.fetched)")
        let served = liar.connections.filter(\.swarmHashMatched)
        XCTAssertEqual(served.count, 1, "the peer connected to the liar (once)")
        let liarId = liar.peerId.hex
        let log = peer.log.split(separator: "\n")
        XCTAssertFalse(log.filter { $0.contains("failed SHA-256 verification") && $0.contains(liarId) }.isEmpty,
                       "the liar's bad pieces are logged:\n\(peer.log.suffix(3000))")
        XCTAssertFalse(log.filter { $0.contains("banned") && $0.contains(liarId) }.isEmpty,
                       "the liar is banned:\n\(peer.log.suffix(3000))")
    }

    func testAGetThatFailsLeavesNoFileBehindAndExitsOne() throws {
        let cp = try startControlPlane()
        let peer = try HeadlessPeer(host: "127.0.0.2", scratch: scratch)
        try Data("old".utf8).write(to: URL(fileURLWithPath: peer.output))
        let unknown = "never-published-1403"
        let result = try peer.run(unknown, controlPlane: cp.baseURL, logDirectory: logs)
        XCTAssertEqual(result.termination, .exited(1), "an unknown content fails: \(result.stderr.suffix(1000))")
        XCTAssertEqual(try String(contentsOfFile: peer.output, encoding: .utf8), "old", "FILE is left as it was")
        let folder = try FileManager.default.contentsOfDirectory(atPath: (peer.output as NSString).deletingLastPathComponent)
        XCTAssertEqual(folder.filter { $0.contains(".dofs-partial-") }, [], "no temporary file left behind")
    }
}
