import DOCore
import DOSwarm
import Foundation
import Synchronization
import XCTest

/// The peer server against real sockets on 127.0.0.1: what it serves, what it refuses, and its limits.
final class PeerServerTests: XCTestCase {
    func testSwarmFetchesEveryPieceAndTheServerCountsTheUpload() async throws {
        let content = TestContent(length: 5 * 256 * 1024 + 12345, pieceSize: 256 * 1024)
        let serverId = PeerId.random()
        let server = try await startServer(MemoryLibrary(content), peerId: serverId)
        let swarm = makeSwarm(content)
        swarm.addPeers([server.address(peerId: serverId)])
        let connected = await eventually { swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(connected)
        XCTAssertEqual(swarm.connectedPeers, [serverId])

        for i in 0..<content.layout.pieceCount {
            let (bytes, peer) = try await swarm.fetch(piece: i, length: content.layout.length(ofPiece: i), timeoutSeconds: 10)
            XCTAssertEqual(bytes, content.piece(i), "piece \(i)")
            XCTAssertEqual(peer, serverId)
        }
        XCTAssertEqual(server.uploadedBytes, content.bytes.count)
        XCTAssertEqual(server.uploadedBytes(swarmHash: content.swarmHash), content.bytes.count)
        XCTAssertEqual(server.uploadedBytes(swarmHash: [UInt8](repeating: 0, count: 32)), 0)
        XCTAssertEqual(swarm.peerInfo.first?.downloadedBytes, content.bytes.count)

        // All pieces at once on the same connection: the requests of several pieces interleave.
        let results = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for i in 0..<content.layout.pieceCount {
                group.addTask { (i, try await swarm.fetch(piece: i, length: content.layout.length(ofPiece: i), timeoutSeconds: 10).bytes) }
            }
            return try await group.reduce(into: [Int: [UInt8]]()) { $0[$1.0] = $1.1 }
        }
        for i in 0..<content.layout.pieceCount { XCTAssertEqual(results[i], content.piece(i), "piece \(i)") }
        XCTAssertEqual(server.uploadedBytes, 2 * content.bytes.count)

        await swarm.close()
        await server.stop()
    }

    func testHandshakeForAnUnknownSwarmIsClosedWithoutAReply() async throws {
        let content = TestContent(length: 100_000, pieceSize: 65536)
        let serverId = PeerId.random()
        let server = try await startServer(MemoryLibrary(content), peerId: serverId)

        let stranger = try RawSocket(connectingTo: server.port)
        stranger.send(Handshake(swarmHash: [UInt8](repeating: 7, count: 32), peerId: .random()).encoded())
        let unknown = stranger.readUntilClosed(timeout: 5)
        XCTAssertTrue(unknown.closed, "connection for an unknown swarm stays open")
        XCTAssertEqual(unknown.bytes, [], "the server replied to an unknown swarm")
        stranger.close()

        // Our own peer id coming back (a connection to ourselves) is refused the same way.
        let mirror = try RawSocket(connectingTo: server.port)
        mirror.send(Handshake(swarmHash: content.swarmHash, peerId: serverId).encoded())
        let selfConnection = mirror.readUntilClosed(timeout: 5)
        XCTAssertTrue(selfConnection.closed)
        XCTAssertEqual(selfConnection.bytes, [])
        mirror.close()

        // And a Swarm for that unknown content finds no peer.
        let other = TestContent(length: 100_000, pieceSize: 65536, seed: 9)
        let swarm = makeSwarm(other)
        swarm.addPeers([server.address()])
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(swarm.connectedPeers, [])
        do {
            _ = try await swarm.fetch(piece: 0, length: 65536, timeoutSeconds: 2)
            XCTFail("fetched from a server that does not hold the content")
        } catch {
            XCTAssertEqual(error, .noPeerHasPiece(0))
        }
        XCTAssertEqual(server.uploadedBytes, 0)
        await swarm.close()
        await server.stop()
    }

    func testDamagedPieceIsNeverServedAndOtherPiecesStillAre() async throws {
        let content = TestContent(length: 4 * 131_072, pieceSize: 131_072)
        let library = MemoryLibrary(content)
        library.damage(piece: 2)
        let server = try await startServer(library)
        let swarm = makeSwarm(content)
        swarm.addPeers([server.address()])
        let ready = await eventually { swarm.hasPeer(withPiece: 2) }
        XCTAssertTrue(ready)

        for i in [0, 1] {
            let fetched = try await swarm.fetch(piece: i, length: 131_072, timeoutSeconds: 10)
            XCTAssertEqual(fetched.bytes, content.piece(i))
        }
        let start = ContinuousClock.now
        do {
            let fetched = try await swarm.fetch(piece: 2, length: 131_072, timeoutSeconds: 10)
            XCTFail("damaged piece delivered (\(fetched.bytes == content.piece(2) ? "right" : "WRONG") bytes)")
        } catch {
            XCTAssertEqual(error, .choked, "the server should refuse at once by choking")
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "refusal was not prompt")

        // The connection recovers: the next piece is served.
        let fetched = try await swarm.fetch(piece: 3, length: 131_072, timeoutSeconds: 10)
        XCTAssertEqual(fetched.bytes, content.piece(3))
        XCTAssertEqual(server.uploadedBytes, 3 * 131_072, "no byte of the damaged piece may be sent")
        await swarm.close()
        await server.stop()
    }

    func testAPieceThatHashedRightOnceIsNotHashedAgainOnLaterSendsUnlessThatIsTurnedOff() async throws {
        for remembered in [0, 1024] {
            let content = TestContent(length: 2 * 131_072, pieceSize: 131_072)
            let library = MemoryLibrary(content)
            var configuration = PeerServerConfiguration()
            configuration.verifiedPieceCacheCount = 0  // no copy in memory: every send reads the piece again
            configuration.hashedOncePieceCount = remembered
            let server = try await startServer(library, configuration: configuration)
            let swarm = makeSwarm(content)
            swarm.addPeers([server.address()])
            let ready = await eventually { swarm.hasPeer(withPiece: 1) }
            XCTAssertTrue(ready)
            let first = try await swarm.fetch(piece: 1, length: 131_072, timeoutSeconds: 10)
            XCTAssertEqual(first.bytes, content.piece(1), "remembered \(remembered): the first send")
            library.damage(piece: 1)
            if remembered == 0 {
                do {
                    _ = try await swarm.fetch(piece: 1, length: 131_072, timeoutSeconds: 10)
                    XCTFail("hashing every send: a piece damaged since its first send was sent")
                } catch {
                    XCTAssertEqual(error, .choked, "hashing every send: the damaged piece is refused")
                }
            } else {
                // The trade-off, documented on VerifiedPieceCache: the stored bytes are not hashed again,
                // so damage since the first send goes out, and the downloader's own check refuses it.
                let again = try await swarm.fetch(piece: 1, length: 131_072, timeoutSeconds: 10)
                XCTAssertNotEqual(again.bytes, content.piece(1), "hashed once: the second send was not hashed")
            }
            await swarm.close()
            await server.stop()
        }
    }

    func testMalformedMessagesCloseOnlyThatConnection() async throws {
        let content = TestContent(length: 3 * 65536, pieceSize: 65536)
        let library = MemoryLibrary(content)
        var configuration = PeerServerConfiguration()
        configuration.maxOutstandingRequests = 4
        let server = try await startServer(library, configuration: configuration)

        // A well-behaved downloader, connected before the abuse starts and used after it.
        let swarm = makeSwarm(content)
        swarm.addPeers([server.address()])
        let ready = await eventually { swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(ready)

        func assertClosed(_ name: String, interested: Bool = false, then bytes: [UInt8]) throws {
            let session = try RawPeerSession(port: server.port, content: content, interested: interested)
            session.socket.send(bytes)
            XCTAssertTrue(session.socket.readUntilClosed(timeout: 5).closed, "\(name): connection not closed")
            session.socket.close()
        }
        let u32 = { (v: UInt32) -> [UInt8] in [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

        try assertClosed("oversized length", then: u32(2_048_001) + [7])
        try assertClosed("have with a 2-byte payload", then: u32(3) + [4, 0, 1])
        try assertClosed("request with a short payload", interested: true, then: u32(5) + [6, 0, 0, 0, 0])
        try assertClosed("block over 128 KiB", interested: true,
                         then: PeerMessage.request(piece: 0, begin: 0, length: 128 * 1024 + 1).encoded())
        try assertClosed("range past the piece", interested: true,
                         then: PeerMessage.request(piece: 0, begin: 65536 - 10, length: 16384).encoded())
        try assertClosed("piece out of range", interested: true,
                         then: PeerMessage.request(piece: 3, begin: 0, length: 16384).encoded())
        // Too many outstanding requests: reads are slowed so the queue cannot drain meanwhile.
        library.setReadDelay(0.5)
        try assertClosed("more than 4 outstanding requests", interested: true,
                         then: (0..<12).flatMap { PeerMessage.request(piece: 1, begin: UInt32($0 % 4 * 16384), length: 16384).encoded() })
        library.setReadDelay(0)

        // Garbage instead of a handshake: closed, and nothing is ever sent back.
        let garbage = try RawSocket(connectingTo: server.port)
        garbage.send([UInt8](repeating: 0xAB, count: 200))
        let answer = garbage.readUntilClosed(timeout: 5)
        XCTAssertTrue(answer.closed)
        XCTAssertEqual(answer.bytes, [])
        garbage.close()

        // Unknown message types are skipped, not fatal.
        var tolerant = try RawPeerSession(port: server.port, content: content, interested: true)
        tolerant.socket.send(PeerMessage.unknown(type: 0x14, payload: [1, 2, 3]).encoded()
                             + PeerMessage.keepAlive.encoded()
                             + PeerMessage.request(piece: 1, begin: 0, length: 16384).encoded())
        XCTAssertTrue(tolerant.waitFor(timeout: 5) {
            if case .piece(1, 0, let data) = $0 { return data == Array(content.piece(1)[0..<16384]) }
            return false
        })
        tolerant.socket.close()

        // The server still serves the well-behaved peer.
        for i in 0..<3 {
            let fetched = try await swarm.fetch(piece: i, length: 65536, timeoutSeconds: 10)
            XCTAssertEqual(fetched.bytes, content.piece(i))
        }
        await swarm.close()
        await server.stop()
    }

    func testIdleAndHandshakeTimeoutsCloseSilentConnections() async throws {
        let content = TestContent(length: 65536, pieceSize: 65536)
        var configuration = PeerServerConfiguration()
        configuration.idleTimeoutSeconds = 1
        configuration.handshakeTimeoutSeconds = 1
        let server = try await startServer(MemoryLibrary(content), configuration: configuration)

        // Connected, never said a word.
        let mute = try RawSocket(connectingTo: server.port)
        var start = Date()
        XCTAssertTrue(mute.readUntilClosed(timeout: 5).closed)
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.7)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        mute.close()

        // Handshaked, then silent.
        let session = try RawPeerSession(port: server.port, content: content, interested: false)
        start = Date()
        let rest = session.socket.readUntilClosed(timeout: 5)
        XCTAssertTrue(rest.closed)
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.7)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        session.socket.close()
        let drained = await eventually { server.statistics.connections == 0 }
        XCTAssertTrue(drained)
        await server.stop()
    }

    func testOneUploadSlotServesTwoDownloadersOneAfterTheOther() async throws {
        let content = TestContent(length: 8 * 131_072, pieceSize: 131_072)
        var configuration = PeerServerConfiguration()
        configuration.uploadSlots = 1
        configuration.slotIdleSeconds = 0.3
        let server = try await startServer(MemoryLibrary(content), configuration: configuration)
        let swarms = [makeSwarm(content), makeSwarm(content)]
        for swarm in swarms { swarm.addPeers([server.address()]) }
        for swarm in swarms {
            let ready = await eventually { swarm.hasPeer(withPiece: 0) }
            XCTAssertTrue(ready)
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for swarm in swarms {
                group.addTask {
                    for i in 0..<content.layout.pieceCount {
                        let fetched = try await swarm.fetch(piece: i, length: 131_072, timeoutSeconds: 20)
                        XCTAssertEqual(fetched.bytes, content.piece(i))
                    }
                }
            }
            try await group.waitForAll()
        }
        let statistics = server.statistics
        XCTAssertEqual(statistics.peakUnchokedPeers, 1, "more than one peer unchoked at once")
        XCTAssertEqual(statistics.uploadedBytes, 2 * content.bytes.count)
        for swarm in swarms { await swarm.close() }
        await server.stop()
    }

    func testAMemberHoldingEverythingItsPeerHasSaysNotInterestedAndItsSlotGoesToTheNextAtOnce() async throws {
        let content = TestContent(length: 4 * 131_072, pieceSize: 131_072)
        var configuration = PeerServerConfiguration()
        configuration.uploadSlots = 1
        configuration.slotIdleSeconds = 60  // only `notInterested` can free the slot within the test
        let server = try await startServer(MemoryLibrary(content), configuration: configuration)
        let done = makeSwarm(content), late = makeSwarm(content)
        done.addPeers([server.address()])
        let ready = await eventually { done.hasPeer(withPiece: 0) }
        XCTAssertTrue(ready)
        for i in 0..<content.layout.pieceCount {
            let fetched = try await done.fetch(piece: i, length: 131_072, timeoutSeconds: 10)
            XCTAssertEqual(fetched.bytes, content.piece(i))
            done.holds(i)  // as the engine does once the piece is verified and stored
        }
        let released = await eventually { server.statistics.unchokedPeers == 0 }
        XCTAssertTrue(released, "a member holding every piece kept its upload slot")

        late.addPeers([server.address()])
        let lateReady = await eventually { late.hasPeer(withPiece: 0) }
        XCTAssertTrue(lateReady)
        let started = ContinuousClock.now
        let fetched = try await late.fetch(piece: 0, length: 131_072, timeoutSeconds: 10)
        XCTAssertEqual(fetched.bytes, content.piece(0))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))

        // `late` wants nothing more (the slot is free again); a piece `done` needs again (evicted from
        // its cache, say) makes its connection interested again.
        for i in 0..<content.layout.pieceCount { late.holds(i) }
        let again = try await done.fetch(piece: 3, length: 131_072, timeoutSeconds: 10)
        XCTAssertEqual(again.bytes, content.piece(3))
        XCTAssertEqual(server.statistics.peakUnchokedPeers, 1)
        await done.close()
        await late.close()
        await server.stop()
    }

    func testAPeerWhoseOnlySlotIsTakenIsSeenChokingUsAndForHowLongUntilTheSlotIsOurs() async throws {
        let content = TestContent(length: 4 * 131_072, pieceSize: 131_072)
        var configuration = PeerServerConfiguration()
        configuration.uploadSlots = 1
        configuration.slotIdleSeconds = 60  // only `notInterested` frees the slot within the test
        let server = try await startServer(MemoryLibrary(content), configuration: configuration)
        let holder = makeSwarm(content), queued = makeSwarm(content)
        holder.addPeers([server.address()])
        let holderReady = await eventually { holder.hasPeer(withPiece: 0) }
        XCTAssertTrue(holderReady)
        // The holder takes the one slot, and keeps it: it still lacks pieces 1-3.
        let first = try await holder.fetch(piece: 0, length: 131_072, timeoutSeconds: 10)
        XCTAssertEqual(first.bytes, content.piece(0))
        holder.holds(0)
        let serverAtHolder = try XCTUnwrap(holder.peerInfo.first?.peerId)
        XCTAssertNil(holder.chokingSeconds(serverAtHolder), "the holder is served")

        queued.addPeers([server.address()])
        let queuedReady = await eventually { queued.hasPeer(withPiece: 1) }
        XCTAssertTrue(queuedReady)
        let serverAtQueued = try XCTUnwrap(queued.peerInfo.first?.peerId)
        let fetch = Task { try await queued.fetch(piece: 1, length: 131_072, timeoutSeconds: 20) }
        let early = try XCTUnwrap(queued.chokingSeconds(serverAtQueued), "our request waits for the holder's slot")
        try await Task.sleep(for: .milliseconds(400))
        let later = try XCTUnwrap(queued.chokingSeconds(serverAtQueued), "still queued")
        XCTAssertGreaterThan(later, early + 0.3)

        for i in 1..<content.layout.pieceCount { holder.holds(i) }  // it wants nothing more: the slot is ours
        let fetched = try await fetch.value
        XCTAssertEqual(fetched.bytes, content.piece(1))
        XCTAssertNil(queued.chokingSeconds(serverAtQueued), "unchoked")
        await holder.close()
        await queued.close()
        await server.stop()
    }

    func testADownloaderHoldingTheOnlySlotHandsItOnBetweenTwoPiecesOnceItsTurnIsOverAndAnotherWaits() async throws {
        let content = TestContent(length: 8 * 131_072, pieceSize: 131_072)
        // 160 ms a piece: most turns end while a piece is on its way.
        let server = try await startOneSlotServerInTurns(content)
        let holder = makeSwarm(content), queued = makeSwarm(content)
        holder.addPeers([server.address()])
        let holderReady = await eventually { holder.hasPeer(withPiece: 0) }
        XCTAssertTrue(holderReady)
        // The holder downloads on and on (it never stores a piece, so it stays interested) until the
        // queued peer has its piece, or for 15 s.
        let queuedDone = Atomic(false)
        let downloads = Task { () -> (pieces: Int, afterQueued: Int) in
            var pieces = 0, afterQueued = 0
            let end = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < end, afterQueued < 3 {
                let piece = pieces % content.layout.pieceCount
                // A turn that ends chokes the holder's request for its next piece: it asks again.
                guard let fetched = try? await holder.fetch(piece: piece, length: 131_072, timeoutSeconds: 10) else { continue }
                XCTAssertEqual(fetched.bytes, content.piece(piece))
                pieces += 1
                if queuedDone.load(ordering: .acquiring) { afterQueued += 1 }
            }
            return (pieces, afterQueued)
        }
        let first = await eventually { server.statistics.uploadedBytes > 0 }
        XCTAssertTrue(first)

        queued.addPeers([server.address()])
        let queuedReady = await eventually { queued.hasPeer(withPiece: 5) }
        XCTAssertTrue(queuedReady)
        let started = ContinuousClock.now
        let fetched = try await queued.fetch(piece: 5, length: 131_072, timeoutSeconds: 10)
        let waited = ContinuousClock.now - started
        queuedDone.store(true, ordering: .releasing)
        XCTAssertEqual(fetched.bytes, content.piece(5))
        XCTAssertLessThan(waited, .seconds(3), "the queued peer waited for the holder's whole download")
        let (pieces, afterQueued) = await downloads.value
        XCTAssertEqual(afterQueued, 3, "the holder was not served again after the queued peer's turn")
        let statistics = server.statistics
        XCTAssertEqual(statistics.peakUnchokedPeers, 1, "more than one peer unchoked at once")
        // Turns end between pieces: no block of a started piece was voided and sent again.
        XCTAssertEqual(statistics.uploadedBytes, (pieces + 1) * 131_072)
        await holder.close()
        await queued.close()
        await server.stop()
    }

    func testPiecesAskedForWhenAFinishedTurnChokesUsAreAskedAgainOnceTheSlotComesBackNotFailed() async throws {
        let content = TestContent(length: 8 * 131_072, pieceSize: 131_072)
        let server = try await startOneSlotServerInTurns(content)
        let holder = makeSwarm(content), queued = makeSwarm(content)
        holder.addPeers([server.address()])
        queued.addPeers([server.address()])
        let ready = await eventually { holder.hasPeer(withPiece: 0) && queued.hasPeer(withPiece: 5) }
        XCTAssertTrue(ready)
        // The holder asks for four pieces at once (all their blocks requested together), and the queued
        // peer waits for the slot meanwhile: the holder's turn ends after a piece or two, while the
        // requests of the next ones are on their way, and the choke voids them.
        let pieces = (0..<4).map { piece in
            Task { () -> (Result<[UInt8], PeerError>, at: ContinuousClock.Instant) in
                do throws(PeerError) {
                    return (.success(try await holder.fetch(piece: piece, length: 131_072, timeoutSeconds: 10).bytes), .now)
                } catch {
                    return (.failure(error), .now)
                }
            }
        }
        let first = await eventually { server.statistics.uploadedBytes > 0 }
        XCTAssertTrue(first)
        let fetched = try await queued.fetch(piece: 5, length: 131_072, timeoutSeconds: 10)
        let queuedDoneAt = ContinuousClock.now
        XCTAssertEqual(fetched.bytes, content.piece(5))
        var holderDoneAt = queuedDoneAt
        for (piece, task) in pieces.enumerated() {
            let (result, at) = await task.value
            switch result {
            case .success(let bytes):
                XCTAssertEqual(bytes, content.piece(piece), "piece \(piece)")
                holderDoneAt = max(holderDoneAt, at)
            case .failure(let error): XCTFail("piece \(piece) failed: \(error); a choke between pieces must requeue it")
            }
        }
        // One slot: the queued peer served before the holder's last piece means a turn choked the holder.
        XCTAssertGreaterThan(holderDoneAt, queuedDoneAt, "the holder's turn never ended: nothing was choked")
        let statistics = server.statistics
        XCTAssertEqual(statistics.peakUnchokedPeers, 1, "more than one peer unchoked at once")
        XCTAssertEqual(statistics.uploadedBytes, 5 * 131_072, "a voided block was sent twice, or a piece not at all")
        await holder.close()
        await queued.close()
        await server.stop()
    }

    func testFetchFailsPromptlyWhenThePeerDiesMidTransfer() async throws {
        let content = TestContent(length: 4 * 262_144, pieceSize: 262_144)
        let library = MemoryLibrary(content)
        let server = try await startServer(library)
        let swarm = makeSwarm(content)
        swarm.addPeers([server.address()])
        let ready = await eventually { swarm.hasPeer(withPiece: 1) }
        XCTAssertTrue(ready)
        let warmup = try await swarm.fetch(piece: 0, length: 262_144, timeoutSeconds: 10)
        XCTAssertEqual(warmup.bytes, content.piece(0))

        library.setReadDelay(1.5)  // the server is now busy reading piece 1 when it dies
        let fetch = Task { try await swarm.fetch(piece: 1, length: 262_144, timeoutSeconds: 30) }
        try await Task.sleep(for: .milliseconds(300))
        let killedAt = ContinuousClock.now
        let stop = Task { await server.stop() }
        let result = await fetch.result
        XCTAssertLessThan(ContinuousClock.now - killedAt, .seconds(2), "fetch hung after the peer died")
        switch result {
        case .success: XCTFail("fetch succeeded from a dead peer")
        case .failure(let error): XCTAssertEqual(error as? PeerError, .disconnected)
        }
        await stop.value

        // Nobody left: fetches fail at once, no hang.
        let gone = await eventually { !swarm.hasPeer(withPiece: 2) }
        XCTAssertTrue(gone)
        let before = ContinuousClock.now
        do {
            _ = try await swarm.fetch(piece: 2, length: 262_144, timeoutSeconds: 30)
            XCTFail("fetched from nobody")
        } catch {
            XCTAssertEqual(error, .noPeerHasPiece(2))
        }
        XCTAssertLessThan(ContinuousClock.now - before, .seconds(1))
        await swarm.close()
    }
}

/// A server of `content` with one upload slot that only a 0.3 s turn frees within a test, sending a
/// 16 KiB block every 20 ms (160 ms a 128 KiB piece).
private func startOneSlotServerInTurns(_ content: TestContent) async throws -> PeerServer {
    var configuration = PeerServerConfiguration()
    configuration.uploadSlots = 1
    configuration.slotIdleSeconds = 60
    configuration.slotTurnSeconds = 0.3
    configuration.uploadLimiter = SlowUploads(secondsPerBlock: 0.02)
    return try await startServer(MemoryLibrary(content), configuration: configuration)
}

/// Admits every block, after a pause: a slow uplink.
private final class SlowUploads: UploadLimiter {
    let secondsPerBlock: Double
    init(secondsPerBlock: Double) { self.secondsPerBlock = secondsPerBlock }
    func admit(bytes: Int, to address: String?) async -> Bool {
        try? await Task.sleep(for: .seconds(secondsPerBlock))
        return true
    }
}
