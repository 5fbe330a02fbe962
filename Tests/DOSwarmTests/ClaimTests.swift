import DOCore
import DOSwarm
import Foundation
import XCTest

/// dofs's `fetching` claims (`PeerMessage.fetching`) between a real peer server and a swarm: what a
/// member hears of the pieces a peer is fetching from HTTP now, and how little a peer can make of them.
final class ClaimTests: XCTestCase {
    private let content = TestContent(length: 16 * 65536, pieceSize: 65536)

    private func connect(_ library: MemoryLibrary) async throws -> (PeerServer, Swarm, PeerId) {
        let serverId = PeerId.random()
        let server = try await startServer(library, peerId: serverId)
        let swarm = makeSwarm(content)
        swarm.addPeers([server.address(peerId: serverId)])
        let told = await eventually { swarm.holdingsHeard.told == 1 }
        XCTAssertTrue(told, "the server's bitfield arrived")
        return (server, swarm, serverId)
    }

    func testAPeerServerClaimsThePiecesOnTheirWayFromHTTPAndItsHaveEndsTheClaim() async throws {
        let library = MemoryLibrary(content)
        library.setHeld([0])
        library.setFetching([1])
        let (server, swarm, serverId) = try await connect(library)
        let opening = await eventually { swarm.claims(of: 1).map(\.peer) == [serverId] }
        XCTAssertTrue(opening, "a piece on its way when we connected is claimed after the bitfield")

        server.announceFetching(swarmHash: content.swarmHash, piece: 2)
        server.announceFetching(swarmHash: content.swarmHash, piece: 0)
        let later = await eventually { swarm.claims(of: 2).map(\.peer) == [serverId] }
        XCTAssertTrue(later, "a fetch that starts later is claimed as it starts")
        XCTAssertEqual(swarm.claims(of: 0).count, 0, "a piece the peer announced is never claimed")
        XCTAssertEqual(swarm.claimedPieces(within: 60, excluding: { _ in false }), [1, 2])
        XCTAssertEqual(swarm.claimedPieces(within: 60, excluding: { $0 == serverId }), [])

        library.setHeld([0, 2])
        server.announce(swarmHash: content.swarmHash, piece: 2)
        let delivered = await eventually { swarm.hasPeer(withPiece: 2) }
        XCTAssertTrue(delivered)
        XCTAssertEqual(swarm.claims(of: 2).count, 0, "the have ends the claim")
        let (bytes, _) = try await swarm.fetch(piece: 2, length: 65536, timeoutSeconds: 5)
        XCTAssertEqual(SHA256.hash(bytes), content.pieceHashes[2])
        await swarm.close()
        await server.stop()
    }

    func testAClaimSaidAgainGrowsNoYoungerAndAPeerHoldsAtMostEightClaims() async throws {
        let library = MemoryLibrary(content)
        library.setHeld([])
        let (server, swarm, _) = try await connect(library)
        server.announceFetching(swarmHash: content.swarmHash, piece: 3)
        let heard = await eventually { !swarm.claims(of: 3).isEmpty }
        XCTAssertTrue(heard)
        try await Task.sleep(for: .milliseconds(400))
        server.announceFetching(swarmHash: content.swarmHash, piece: 3)
        for piece in 4...13 { server.announceFetching(swarmHash: content.swarmHash, piece: piece) }
        let last = await eventually { !swarm.claims(of: 13).isEmpty }
        XCTAssertTrue(last)
        // Eleven pieces claimed, oldest first: the eight youngest are kept.
        XCTAssertEqual(swarm.claimedPieces(within: 60, excluding: { _ in false }), Set(6...13))
        server.announceFetching(swarmHash: content.swarmHash, piece: 6)
        try await Task.sleep(for: .milliseconds(200))
        let age = try XCTUnwrap(swarm.claims(of: 6).first?.ageSeconds)
        XCTAssertGreaterThanOrEqual(age, 0.2, "claimed again, piece 6 keeps the age of its first claim")
        await swarm.close()
        await server.stop()
    }

    func testAClaimForAPiecePastTheContentsEndClosesTheConnection() async throws {
        let liar = try FakePeer(.silent, content: content, opening: [.fetching(piece: 16)])
        let swarm = makeSwarm(content)
        swarm.addPeers([liar.address])
        let accepted = await eventually { liar.acceptedCount >= 1 }
        XCTAssertTrue(accepted)
        let closed = await eventually { liar.openCount == 0 && swarm.connectedPeers.isEmpty }
        XCTAssertTrue(closed, "the connection ended at the claim")
        XCTAssertEqual(swarm.claims(of: 15).count, 0)
        await swarm.close()
        liar.stop()
    }
}
