import DOCore
import DOSwarm
import Foundation
import XCTest

/// The swarm's peer policy against misbehaving peers written in the tests.
final class SwarmTests: XCTestCase {
    func testLyingPeerIsBannedAfterThreeBadPiecesAndNeverReconnected() async throws {
        let content = TestContent(length: 6 * 65536, pieceSize: 65536)
        // On an address of its own: a ban covers the liar's whole address.
        let liar = try FakePeer(.lying, content: content, host: "127.0.0.7")
        let honestId = PeerId.random()
        let server = try await startServer(MemoryLibrary(content), peerId: honestId)
        let swarm = makeSwarm(content)

        swarm.addPeers([liar.address])
        let ready = await eventually { swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(ready)
        // The test plays the engine: it verifies what the swarm delivers.
        for i in 0..<3 {
            let (bytes, peer) = try await swarm.fetch(piece: i, length: 65536, timeoutSeconds: 10)
            XCTAssertEqual(peer, liar.peerId)
            XCTAssertNotEqual(SHA256.hash(bytes), content.pieceHashes[i])
            XCTAssertEqual(swarm.reportBadPiece(from: peer, piece: i), i == 2, "banned after \(i + 1) bad pieces?")
        }
        XCTAssertTrue(swarm.isBanned(liar.peerId))
        XCTAssertFalse(swarm.connectedPeers.contains(liar.peerId))
        let disconnected = await eventually { liar.openCount == 0 }
        XCTAssertTrue(disconnected, "banned peer still connected")

        // The control plane lists it again (with and without its id), next to an honest peer.
        swarm.addPeers([liar.address, liar.unannouncedAddress, server.address(peerId: honestId)])
        let honest = await eventually { swarm.connectedPeers == [honestId] && swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(honest)
        for i in 0..<content.layout.pieceCount {
            let (bytes, peer) = try await swarm.fetch(piece: i, length: 65536, timeoutSeconds: 10)
            XCTAssertEqual(peer, honestId)
            XCTAssertEqual(SHA256.hash(bytes), content.pieceHashes[i])
        }
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(liar.acceptedCount, 1, "banned peer was reconnected")
        XCTAssertFalse(swarm.reportBadPiece(from: honestId), "one bad piece must not ban")
        await swarm.close()
        await server.stop()
        liar.stop()
    }

    func testSilentPeerTimesOutAndTheFetchMovesOn() async throws {
        let content = TestContent(length: 4 * 65536, pieceSize: 65536)
        let silent = try FakePeer(.silent, content: content)
        var configuration = SwarmConfiguration()
        configuration.stallTimeoutSeconds = 0.5
        let swarm = makeSwarm(content, configuration: configuration)
        swarm.addPeers([silent.address])
        let ready = await eventually { swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(ready)

        var start = ContinuousClock.now
        do {
            _ = try await swarm.fetch(piece: 0, length: 65536, timeoutSeconds: 10)
            XCTFail("silent peer delivered")
        } catch {
            XCTAssertEqual(error, .timedOut)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(3), "stall not detected")
        XCTAssertFalse(swarm.hasPeer(withPiece: 0), "a peer that just timed out should back off")

        let server = try await startServer(MemoryLibrary(content))
        swarm.addPeers([server.address()])
        let both = await eventually {
            swarm.connectedPeers.count == 2 && swarm.peerInfo.allSatisfy { $0.piecesAvailable == content.layout.pieceCount }
        }
        XCTAssertTrue(both)
        start = ContinuousClock.now
        for i in 0..<content.layout.pieceCount {
            let fetched = try await swarm.fetch(piece: i, length: 65536, timeoutSeconds: 10)
            XCTAssertEqual(fetched.bytes, content.piece(i))
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(6))
        await swarm.close()
        await server.stop()
        silent.stop()
    }

    func testASlowPeerIsMeasuredAgainstTheBetterOfTwoPeersAndTheMedianOfMoreNotAgainstTheLuckiest() {
        XCTAssertNil(Swarm.slowPeerReference([]))
        XCTAssertNil(Swarm.slowPeerReference([5e6]), "one peer is compared with nobody")
        XCTAssertEqual(Swarm.slowPeerReference([1e6, 20e6]), 20e6, "of two, the better")
        // Seven members on busy cores: one lucky burst at 40 MB/s, the others at 2-5 MB/s.
        let seven = [1.6e6, 2e6, 3e6, 3.4e6, 3.9e6, 5e6, 40e6]
        XCTAssertEqual(Swarm.slowPeerReference(seven), 3.4e6)
        XCTAssertFalse(seven.contains { $0 * SwarmConfiguration().slowPeerFactor < Swarm.slowPeerReference(seven)! },
                       "none of them is ten times slower than the typical one")
        XCTAssertEqual(Swarm.slowPeerReference([0.1e6, 20e6, 30e6, 40e6]), 30e6, "the upper median of an even count")
    }

    /// A swarm (slow peers dropped at 5 times slower than the typical one, after 2 pieces) that has taken
    /// pieces 0 and 1 of `content` from a slow peer with every piece, its only peer yet.
    private func swarmThatMeasuredASlowPeer(_ content: TestContent) async throws -> (Swarm, FakePeer) {
        let slow = try FakePeer(.slow(secondsPerBlock: 0.05), content: content)
        var configuration = SwarmConfiguration()
        configuration.slowPeerMinSamples = 2
        configuration.slowPeerFactor = 5
        let swarm = makeSwarm(content, configuration: configuration)
        swarm.addPeers([slow.address])
        let ready = await eventually { swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(ready)
        for i in 0..<2 {
            let (bytes, peer) = try await swarm.fetch(piece: i, length: content.layout.length(ofPiece: i), timeoutSeconds: 10)
            XCTAssertEqual(bytes, content.piece(i))
            XCTAssertEqual(peer, slow.peerId)
            swarm.holds(i)
        }
        return (swarm, slow)
    }

    func testMuchSlowerPeerIsDroppedForAFasterOne() async throws {
        let content = TestContent(length: 8 * 65536, pieceSize: 65536)
        let (swarm, slow) = try await swarmThatMeasuredASlowPeer(content)

        let fastId = PeerId.random()
        let server = try await startServer(MemoryLibrary(content), peerId: fastId)
        swarm.addPeers([server.address(peerId: fastId)])
        let both = await eventually {
            swarm.peerInfo.contains { $0.peerId == fastId && $0.piecesAvailable == content.layout.pieceCount }
        }
        XCTAssertTrue(both)
        for i in 2..<content.layout.pieceCount {
            let (bytes, peer) = try await swarm.fetch(piece: i, length: 65536, timeoutSeconds: 10)
            XCTAssertEqual(bytes, content.piece(i))
            XCTAssertEqual(peer, fastId, "piece \(i) from the slow peer")
        }
        let dropped = await eventually { swarm.connectedPeers == [fastId] && slow.openCount == 0 }
        XCTAssertTrue(dropped, "slow peer kept: \(swarm.peerInfo)")
        swarm.addPeers([slow.address])
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(slow.acceptedCount, 1, "a dropped slow peer is not reconnected at once")
        await swarm.close()
        await server.stop()
        slow.stop()
    }

    func testAMuchSlowerPeerThatAloneHasAPieceWeLackIsKeptUntilWeHoldIt() async throws {
        let content = TestContent(length: 8 * 65536, pieceSize: 65536)
        let last = content.layout.pieceCount - 1
        let (swarm, slow) = try await swarmThatMeasuredASlowPeer(content)
        // A fast peer with every piece but the last.
        let library = MemoryLibrary(content)
        library.setHeld(Set(0..<last))
        let fastId = PeerId.random()
        let server = try await startServer(library, peerId: fastId)
        swarm.addPeers([server.address(peerId: fastId)])
        let both = await eventually { swarm.peerInfo.contains { $0.peerId == fastId && $0.piecesAvailable == last } }
        XCTAssertTrue(both)
        for i in 2..<last {
            let (bytes, peer) = try await swarm.fetch(piece: i, length: 65536, timeoutSeconds: 10)
            XCTAssertEqual(bytes, content.piece(i))
            XCTAssertEqual(peer, fastId, "piece \(i) from the slow peer")
            swarm.holds(i)
        }
        XCTAssertEqual(Set(swarm.connectedPeers), [slow.peerId, fastId], "the only peer with the last piece was dropped")
        let (bytes, peer) = try await swarm.fetch(piece: last, length: 65536, timeoutSeconds: 10)
        XCTAssertEqual(bytes, content.piece(last))
        XCTAssertEqual(peer, slow.peerId)
        swarm.holds(last)

        // Once we hold what only it had, the next delivery drops it.
        let again = try await swarm.fetch(piece: 2, length: 65536, timeoutSeconds: 10)
        XCTAssertEqual(again.bytes, content.piece(2))
        let dropped = await eventually { swarm.connectedPeers == [fastId] && slow.openCount == 0 }
        XCTAssertTrue(dropped, "slow peer kept: \(swarm.peerInfo)")
        await swarm.close()
        await server.stop()
        slow.stop()
    }

    func testConnectionsToOurselvesOrToAnotherSwarmAreRefused() async throws {
        let content = TestContent(length: 65536, pieceSize: 65536)
        let mirror = try FakePeer(.lying, content: content)
        let swarm = makeSwarm(content, peerId: mirror.peerId)
        swarm.addPeers([mirror.address])  // announced with our own id: not even connected
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(mirror.acceptedCount, 0)
        swarm.addPeers([PeerAddress(host: "127.0.0.1", port: mirror.port)])  // unannounced id: it answers with ours
        let tried = await eventually { mirror.acceptedCount == 1 && mirror.openCount == 0 }
        XCTAssertTrue(tried)
        XCTAssertEqual(swarm.connectedPeers, [])
        swarm.addPeers([PeerAddress(host: "127.0.0.1", port: mirror.port)])
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(mirror.acceptedCount, 1, "an endpoint that was ourselves is not retried")

        let otherSwarm = try FakePeer(.wrongSwarm, content: content)
        let stranger = makeSwarm(content)
        stranger.addPeers([otherSwarm.address])
        let refused = await eventually { otherSwarm.acceptedCount == 1 && otherSwarm.openCount == 0 }
        XCTAssertTrue(refused)
        XCTAssertEqual(stranger.connectedPeers, [])
        do {
            _ = try await stranger.fetch(piece: 0, length: 65536, timeoutSeconds: 2)
            XCTFail("fetched through a peer of another swarm")
        } catch {
            XCTAssertEqual(error, .noPeerHasPiece(0))
        }

        // Announced ids must match.
        let impostor = try FakePeer(.lying, content: content)
        let careful = makeSwarm(content)
        careful.addPeers([PeerAddress(host: "127.0.0.1", port: impostor.port, peerId: .random())])
        let checked = await eventually { impostor.acceptedCount == 1 && impostor.openCount == 0 }
        XCTAssertTrue(checked)
        XCTAssertEqual(careful.connectedPeers, [])

        for s in [swarm, stranger, careful] { await s.close() }
        for p in [mirror, otherSwarm, impostor] { p.stop() }
    }

    func testMembersListedTheSameAddressesConnectToDifferentPeersNotAllToTheSameFew() async throws {
        let content = TestContent(length: 2 * 65536, pieceSize: 65536)
        let ids = (0..<12).map { _ in PeerId.random() }
        var servers: [PeerServer] = []
        for id in ids { servers.append(try await startServer(MemoryLibrary(content), peerId: id)) }
        let listing = zip(servers, ids).map { $0.address(peerId: $1) }
        // Ten members, three connections each, every one listed the same twelve peers in the same order.
        let members = (0..<10).map { _ in
            Swarm(swarmHash: content.swarmHash, layout: content.layout, ourPeerId: .random(), maxPeers: 3,
                  logger: testLogger("dofs.swarm.test"))
        }
        for member in members { member.addPeers(listing) }
        let connected = await eventually(timeout: 10) { members.allSatisfy { $0.connectedPeers.count == 3 } }
        XCTAssertTrue(connected, "every member filled its three places")
        let reached = Set(members.flatMap(\.connectedPeers))
        // In the listing's (or the addresses') order all ten reach the same three. Picked at random,
        // ten draws of 3 of 12 reach 11.3 peers on average, and 6 or fewer about once in 3 x 10^7 runs
        // (at most C(12,6) x (C(6,3)/C(12,3))^10).
        XCTAssertGreaterThan(reached.count, 6, "peers reached by ten members: \(reached.count)")
        for member in members { await member.close() }
        for server in servers { await server.stop() }
    }

    func testAPeerRepeatingWhatItAnnouncedIsNotNewsOnlyAPieceItHadNotAnnouncedIs() async throws {
        let content = TestContent(length: 8 * 65536, pieceSize: 65536)
        var allButLast = Bitfield(pieceCount: content.layout.pieceCount)
        for i in 0..<content.layout.pieceCount - 1 { allButLast[i] = true }
        // After its full bitfield: a bitfield without the last piece, two hundred `have`s of a piece it
        // announced, that bitfield again, then a `have` of the last piece.
        let chatter = try FakePeer(.silent, content: content,
                                   opening: [.bitfield(allButLast.bytes)] + Array(repeating: .have(piece: 0), count: 200)
                                       + [.bitfield(allButLast.bytes), .have(piece: 7)])
        let swarm = makeSwarm(content)
        swarm.addPeers([chatter.address])
        let heard = await eventually { swarm.announcementsHeard >= 2 }
        XCTAssertTrue(heard)
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(swarm.announcementsHeard, 2, "its first bitfield and the have of piece 7 told us something; the rest did not")
        XCTAssertTrue(swarm.hasPeer(withPiece: 7))
        await swarm.close()
        chatter.stop()
    }
}
