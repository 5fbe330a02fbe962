import DOCore
import DOSwarm
import Foundation
import XCTest

/// Bans that hold against liars who change their peer id: bad pieces are charged to the address too.
final class AddressBanTests: XCTestCase {
    /// A swarm that reconnects quickly, so a rotating liar gets every chance it would get in a day.
    private func eagerSwarm(_ content: TestContent) -> Swarm {
        var configuration = SwarmConfiguration()
        configuration.backoffBaseSeconds = 0.05
        configuration.backoffMaxSeconds = 0.2
        return makeSwarm(content, configuration: configuration)
    }

    func testLiarRotatingPeerIdsOnOneAddressGetsThreeBadPiecesInTotal() async throws {
        // One block per piece: every request the liar answers is one bad piece.
        let content = TestContent(length: 16 * 16384, pieceSize: 16384)
        // One host, three ports; every connection is answered under a new peer id and closed after
        // one piece, so each identity has told a single lie when the next one takes over.
        let liars = try (0..<3).map { _ in
            try FakePeer(.lying, content: content, host: "127.0.0.5", identity: .newPerConnection, blocksPerConnection: 1)
        }
        defer { liars.forEach { $0.stop() } }
        let swarm = eagerSwarm(content)

        // The test plays the engine and the control plane: every round the liar is listed again (as
        // re-joins list it), and whatever the swarm fetches is verified and reported. It stops once no
        // peer has offered a piece for three rounds.
        var badPieces = 0
        var quietRounds = 0
        for attempt in 0..<40 where quietRounds < 3 {
            swarm.addPeers(liars.map(\.unannouncedAddress))
            let piece = attempt % content.layout.pieceCount
            guard await eventually(timeout: 2, { swarm.hasPeer(withPiece: piece) }) else {
                quietRounds += 1
                continue
            }
            quietRounds = 0
            guard let (bytes, peer) = try? await swarm.fetch(piece: piece, length: 16384, timeoutSeconds: 2) else { continue }
            XCTAssertNotEqual(SHA256.hash(bytes), content.pieceHashes[piece])
            badPieces += 1
            swarm.reportBadPiece(from: peer, piece: piece)
        }
        let identities = liars.map(\.identitiesUsed).reduce(0, +)
        print("identity-rotating liar on one address: \(badPieces) bad pieces accepted for verification, under \(identities) peer ids")
        XCTAssertEqual(badPieces, 3, "bad pieces accepted from one address across \(identities) identities")
        let disconnected = await eventually { liars.allSatisfy { $0.openCount == 0 } }
        XCTAssertTrue(disconnected, "an identity at the banned address is still connected")

        // Listed again, under new ids or none: not even connected, so never asked for anything.
        let accepted = liars.map(\.acceptedCount).reduce(0, +)
        let served = liars.map(\.blocksServed).reduce(0, +)
        swarm.addPeers(liars.map(\.unannouncedAddress) + liars.map { PeerAddress(host: $0.host, port: $0.port, peerId: .random()) })
        try await Task.sleep(for: .milliseconds(500))
        XCTAssertEqual(liars.map(\.acceptedCount).reduce(0, +), accepted, "a banned address was connected again")
        XCTAssertEqual(liars.map(\.blocksServed).reduce(0, +), served)

        // An honest peer on another address is unaffected.
        let honestId = PeerId.random()
        let server = try await startServer(MemoryLibrary(content), peerId: honestId)
        swarm.addPeers([server.address(peerId: honestId)])
        let ready = await eventually { swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(ready)
        for i in 0..<content.layout.pieceCount {
            let (bytes, peer) = try await swarm.fetch(piece: i, length: 16384, timeoutSeconds: 10)
            XCTAssertEqual(peer, honestId)
            XCTAssertEqual(bytes, content.piece(i))
        }
        XCTAssertFalse(swarm.isBanned(honestId))
        await swarm.close()
        await server.stop()
    }

    func testImpostorUsingAnHonestPeersIdGetsOnlyItsOwnAddressBanned() async throws {
        let content = TestContent(length: 6 * 65536, pieceSize: 65536)
        let honestId = PeerId.random()
        let impostor = try FakePeer(.lying, content: content, host: "127.0.0.6", peerId: honestId)
        defer { impostor.stop() }
        let swarm = eagerSwarm(content)
        swarm.addPeers([impostor.address])
        let ready = await eventually { swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(ready)
        for i in 0..<3 {
            let (bytes, peer) = try await swarm.fetch(piece: i, length: 65536, timeoutSeconds: 10)
            XCTAssertEqual(peer, honestId, "the impostor answers under the honest peer's id")
            XCTAssertNotEqual(SHA256.hash(bytes), content.pieceHashes[i])
            XCTAssertEqual(swarm.reportBadPiece(from: peer, piece: i), i == 2, "banned after \(i + 1) bad pieces?")
        }
        let gone = await eventually { impostor.openCount == 0 }
        XCTAssertTrue(gone)

        // The real owner of the id, at its own address, is connected and trusted with every piece,
        // including the ones the impostor lied about.
        let server = try await startServer(MemoryLibrary(content), peerId: honestId)
        swarm.addPeers([server.address(peerId: honestId), impostor.address])
        let honest = await eventually { swarm.connectedPeers == [honestId] && swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(honest, "the honest peer was banned for its impostor's lies")
        for i in 0..<content.layout.pieceCount {
            let (bytes, peer) = try await swarm.fetch(piece: i, length: 65536, timeoutSeconds: 10)
            XCTAssertEqual(peer, honestId)
            XCTAssertEqual(bytes, content.piece(i))
        }
        XCTAssertEqual(impostor.acceptedCount, 1, "the impostor's address was connected again")
        await swarm.close()
        await server.stop()
    }
}
