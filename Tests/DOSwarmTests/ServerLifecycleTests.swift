import DOCore
import DOSwarm
import Foundation
import XCTest

/// What a connection looks like over time: refusals it recovers from, new pieces, keep-alives.
final class ServerLifecycleTests: XCTestCase {
    /// Peers that connect while the server stops: each connection, also one accepted by the kernel in
    /// the last instant, is closed, and none is left unhandled (NIO traps on a server connection that
    /// nobody closed; cancelling the accept loop left those buffered in it).
    func testAServerStoppedWhilePeersKeepConnectingClosesEveryConnection() async throws {
        let content = TestContent(length: 65536, pieceSize: 65536)
        var made = 0
        for round in 0..<20 {
            let server = try await startServer(MemoryLibrary(content))
            let hammer = ConnectHammer(port: server.port)
            try await Task.sleep(for: .milliseconds(round % 5 * 5))
            await server.stop()
            let sockets = hammer.stop()
            made += sockets.count
            for socket in sockets {
                // As a peer does: a connection the kernel had not handed over yet when the listener
                // closed is dropped without a word, and learns it at its first send.
                socket.send(Handshake(swarmHash: content.swarmHash, peerId: .random()).encoded())
                XCTAssertTrue(socket.readUntilClosed(timeout: 5).closed, "round \(round): a connection outlived the server")
                socket.close()
            }
        }
        XCTAssertGreaterThan(made, 20, "peers connected while servers stopped")
    }

    func testRefusedPieceNeverLeavesAndAPlainClientIsUnchokedAgain() async throws {
        let content = TestContent(length: 3 * 65536, pieceSize: 65536)
        let library = MemoryLibrary(content)
        library.damage(piece: 1)
        let server = try await startServer(library)

        // A BitTorrent-style client: it never re-sends `interested` after a choke.
        var peer = try RawPeerSession(port: server.port, content: content, interested: true)
        peer.socket.send(PeerMessage.request(piece: 1, begin: 0, length: 16384).encoded()
                         + PeerMessage.request(piece: 1, begin: 16384, length: 16384).encoded())
        XCTAssertTrue(peer.waitFor(timeout: 5) { $0 == .choke }, "refusal is a choke")
        XCTAssertTrue(peer.waitFor(timeout: 5) { $0 == .unchoke }, "unchoked again without re-sending interested")
        peer.socket.send(PeerMessage.request(piece: 2, begin: 0, length: 16384).encoded())
        XCTAssertTrue(peer.waitFor(timeout: 5) { if case .piece(2, 0, _) = $0 { return true } else { return false } })
        let piecesSent = peer.received.compactMap { message -> UInt32? in
            if case .piece(let index, _, _) = message { return index } else { return nil }
        }
        XCTAssertEqual(piecesSent, [2], "a block of the damaged piece was sent")
        XCTAssertEqual(server.uploadedBytes, 16384)
        peer.socket.close()
        await server.stop()
    }

    func testPiecesTheEngineVerifiesLaterAreAnnouncedWithHave() async throws {
        let content = TestContent(length: 3 * 65536, pieceSize: 65536)
        let library = MemoryLibrary(content)
        library.setHeld([0])
        var configuration = PeerServerConfiguration()
        configuration.haveRefreshSeconds = 0.2
        let server = try await startServer(library, configuration: configuration)
        let swarm = makeSwarm(content)
        swarm.addPeers([server.address()])
        let ready = await eventually { swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(ready)
        XCTAssertFalse(swarm.hasPeer(withPiece: 2))
        do {
            _ = try await swarm.fetch(piece: 2, length: 65536, timeoutSeconds: 2)
            XCTFail("fetched a piece nobody announced")
        } catch {
            XCTAssertEqual(error, .noPeerHasPiece(2))
        }

        library.setHeld([0, 2])
        let announced = await eventually { swarm.hasPeer(withPiece: 2) }
        XCTAssertTrue(announced, "no have for the new piece")
        XCTAssertFalse(swarm.hasPeer(withPiece: 1))
        let fetched = try await swarm.fetch(piece: 2, length: 65536, timeoutSeconds: 10)
        XCTAssertEqual(fetched.bytes, content.piece(2))
        await swarm.close()
        await server.stop()
    }

    func testKeepAlivesHoldAnIdleConnectionOpenBothWays() async throws {
        let content = TestContent(length: 65536, pieceSize: 65536)
        var serverConfiguration = PeerServerConfiguration()
        serverConfiguration.idleTimeoutSeconds = 1
        serverConfiguration.keepAliveSeconds = 0.3
        let server = try await startServer(MemoryLibrary(content), configuration: serverConfiguration)

        // The server keeps a quiet peer informed...
        var quiet = try RawPeerSession(port: server.port, content: content, interested: false)
        XCTAssertTrue(quiet.waitFor(timeout: 3) { $0 == .keepAlive }, "no keep-alive from the server")
        quiet.socket.close()

        // ...and a swarm's keep-alives keep it connected well past the server's idle timeout.
        var swarmConfiguration = SwarmConfiguration()
        swarmConfiguration.keepAliveSeconds = 0.3
        swarmConfiguration.idleTimeoutSeconds = 1
        let swarm = makeSwarm(content, configuration: swarmConfiguration)
        swarm.addPeers([server.address()])
        let ready = await eventually { swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(ready)
        try await Task.sleep(for: .seconds(2.5))
        XCTAssertEqual(swarm.connectedPeers.count, 1, "idle but alive connection was dropped")
        XCTAssertEqual(server.statistics.sessions, 1)
        let fetched = try await swarm.fetch(piece: 0, length: 65536, timeoutSeconds: 10)
        XCTAssertEqual(fetched.bytes, content.piece(0))
        await swarm.close()
        await server.stop()
    }
}

/// Connects to a port again and again on a thread of its own, keeping every socket, until stopped or
/// at 100 (under the server's listen backlog, so no connect waits on a full queue).
private final class ConnectHammer: @unchecked Sendable {
    private let lock = NSLock()
    private var sockets: [RawSocket] = []
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(port: Int) {
        Thread { [self] in
            while lock.withLock({ running && sockets.count < 100 }) {
                guard let socket = try? RawSocket(connectingTo: port) else { break }
                lock.withLock { sockets.append(socket) }
            }
            done.signal()
        }.start()
    }

    /// Stops connecting; the sockets made, for the caller to check and close.
    func stop() -> [RawSocket] {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { sockets }
    }
}
