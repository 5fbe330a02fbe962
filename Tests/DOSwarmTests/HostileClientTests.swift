import DOCore
import DOSwarm
import Foundation
import XCTest

/// The peer server against clients that hold connections without downloading: one address cannot
/// take every place, and idle places go to honest peers when they need them.
final class HostileClientTests: XCTestCase {
    func testSixtyFourIdleConnectionsFromOneAddressDoNotStarveAnHonestPeer() async throws {
        let content = TestContent(length: 8 * 65536, pieceSize: 65536)
        let server = try await startServer(MemoryLibrary(content))
        let hoarder = IdleClients()
        defer { hoarder.close() }
        let answered = try hoarder.open(64, to: server.port, from: "127.0.0.2", content: content)
        hoarder.sendKeepAlives()

        // An honest downloader from another address.
        let swarm = makeSwarm(content)
        swarm.addPeers([server.address()])
        _ = await eventually { swarm.hasPeer(withPiece: 0) }
        var received = 0
        for i in 0..<content.layout.pieceCount {
            if let fetched = try? await swarm.fetch(piece: i, length: 65536, timeoutSeconds: 5),
               fetched.bytes == content.piece(i) {
                received += 1
            }
        }
        print("64 idle connections from one address: \(answered) answered; honest peer got \(received) of \(content.layout.pieceCount) pieces")
        XCTAssertEqual(answered, PeerServerConfiguration().maxConnectionsPerAddress)
        XCTAssertEqual(received, content.layout.pieceCount)
        XCTAssertEqual(server.statistics.refusedConnections, 64 - answered)
        await swarm.close()
        await server.stop()
    }

    func testConnectionsBeyondThePerAddressCapAreClosedAtOnceWithoutAReply() async throws {
        let content = TestContent(length: 65536, pieceSize: 65536)
        let server = try await startServer(MemoryLibrary(content))
        let cap = PeerServerConfiguration().maxConnectionsPerAddress
        let crowd = IdleClients()
        defer { crowd.close() }
        XCTAssertEqual(try crowd.open(cap, to: server.port, from: "127.0.0.3", content: content), cap)

        // One more from the same address: closed on accept, long before the 10 s handshake deadline.
        let extra = try RawSocket(connectingTo: server.port, from: "127.0.0.3")
        defer { extra.close() }
        extra.send(Handshake(swarmHash: content.swarmHash, peerId: .random()).encoded())
        let start = Date()
        let answer = extra.readUntilClosed(timeout: 8)
        XCTAssertTrue(answer.closed, "a connection over the address's share was kept")
        XCTAssertEqual(answer.bytes, [], "a refused connection got a reply")
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertEqual(crowd.closedCount, 0, "the address's first connections must stay")

        // Another address is not affected; a place freed at the first address can be taken again.
        let neighbour = IdleClients()
        defer { neighbour.close() }
        XCTAssertEqual(try neighbour.open(1, to: server.port, from: "127.0.0.4", content: content), 1)
        crowd.sockets[0].close()
        let freed = await eventually { server.statistics.connections == cap }
        XCTAssertTrue(freed)
        XCTAssertEqual(try crowd.open(1, to: server.port, from: "127.0.0.3", content: content), 1)
        XCTAssertEqual(server.statistics.refusedConnections, 1)
        await server.stop()
    }

    func testIdleConnectionsGiveTheirPlacesToAnHonestPeerWhenTheServerIsFull() async throws {
        let content = TestContent(length: 8 * 65536, pieceSize: 65536)
        var configuration = PeerServerConfiguration()
        configuration.maxConnections = 8
        configuration.maxConnectionsPerAddress = 2
        configuration.evictIdleAfterSeconds = 0.5
        let server = try await startServer(MemoryLibrary(content), configuration: configuration)
        // Four hosts fill every place and say nothing but keep-alives.
        let idlers = IdleClients()
        defer { idlers.close() }
        for host in ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"] {
            XCTAssertEqual(try idlers.open(2, to: server.port, from: host, content: content), 2)
        }
        try await Task.sleep(for: .seconds(1))
        idlers.sendKeepAlives()

        let swarm = makeSwarm(content)
        swarm.addPeers([server.address()])
        let ready = await eventually { swarm.hasPeer(withPiece: 0) }
        XCTAssertTrue(ready, "the honest peer was refused")
        for i in 0..<content.layout.pieceCount {
            let fetched = try await swarm.fetch(piece: i, length: 65536, timeoutSeconds: 10)
            XCTAssertEqual(fetched.bytes, content.piece(i))
        }
        XCTAssertEqual(server.statistics.evictedConnections, 1, "one place was needed")
        XCTAssertEqual(idlers.closedCount, 1)
        XCTAssertEqual(server.statistics.connections, 8)
        await swarm.close()
        await server.stop()
    }

    func testAnActiveDownloaderIsNotEvictedWhileAnIdleConnectionExists() async throws {
        let content = TestContent(length: 4 * 65536, pieceSize: 65536)
        var configuration = PeerServerConfiguration()
        configuration.maxConnections = 3
        configuration.evictIdleAfterSeconds = 1
        let server = try await startServer(MemoryLibrary(content), configuration: configuration)
        // The downloader connected first, so it is the oldest connection.
        var downloader = try RawPeerSession(port: server.port, content: content, interested: true, from: "127.0.0.21")
        defer { downloader.socket.close() }
        let idlers = IdleClients()
        defer { idlers.close() }
        XCTAssertEqual(try idlers.open(2, to: server.port, from: "127.0.0.22", content: content), 2)

        var block = 0
        func downloadOneBlock() -> Bool {
            let piece = block % content.layout.pieceCount, begin = (block / content.layout.pieceCount) % 4 * 16384
            block += 1
            downloader.socket.send(PeerMessage.request(piece: UInt32(piece), begin: UInt32(begin), length: 16384).encoded())
            return downloader.waitFor(timeout: 5) { message in
                guard case .piece(UInt32(piece), UInt32(begin), let data) = message else { return false }
                return data == Array(content.piece(piece)[begin..<(begin + 16384)])
            }
        }
        // It keeps downloading for longer than the idle threshold; the idlers only idle.
        let downloadUntil = Date().addingTimeInterval(2)
        while Date() < downloadUntil {
            XCTAssertTrue(downloadOneBlock())
            try await Task.sleep(for: .milliseconds(50))
        }

        // Two newcomers, one after the other: each takes an idler's place, never the downloader's.
        var newcomers: [RawSocket] = []
        defer { newcomers.forEach { $0.close() } }
        for round in 1...2 {
            XCTAssertTrue(downloadOneBlock())
            newcomers.append(try RawPeerSession(port: server.port, content: content, interested: false, from: "127.0.0.23").socket)
            XCTAssertEqual(idlers.closedCount, round)
            XCTAssertTrue(downloadOneBlock(), "the downloader lost its connection to newcomer \(round)")
        }
        XCTAssertEqual(server.statistics.evictedConnections, 2)

        // Now every place is held by the downloader or a fresh connection: a third newcomer is refused.
        let late = try RawSocket(connectingTo: server.port, from: "127.0.0.24")
        defer { late.close() }
        late.send(Handshake(swarmHash: content.swarmHash, peerId: .random()).encoded())
        let answer = late.readUntilClosed(timeout: 5)
        XCTAssertTrue(answer.closed)
        XCTAssertEqual(answer.bytes, [], "nobody was unproductive, yet a place was made")
        XCTAssertTrue(downloadOneBlock())
        XCTAssertEqual(server.statistics.evictedConnections, 2)
        await server.stop()
    }

    func testPeerHoldingASlotWhileNoBlockGoesOutGivesItsPlaceUp() async throws {
        let content = TestContent(length: 2 * 65536, pieceSize: 65536)
        let library = MemoryLibrary(content)
        library.damage(piece: 0)
        var configuration = PeerServerConfiguration()
        configuration.maxConnections = 2
        configuration.evictStalledSlotAfterSeconds = 0.5
        let server = try await startServer(library, configuration: configuration)
        // It holds a slot and keeps asking, but only for a piece that is never sent.
        var staller = try RawPeerSession(port: server.port, content: content, interested: true, from: "127.0.0.31")
        defer { staller.socket.close() }
        // Connected, not interested, quiet: idle for far less than `evictIdleAfterSeconds` (30 s).
        let bystander = IdleClients()
        defer { bystander.close() }
        XCTAssertEqual(try bystander.open(1, to: server.port, from: "127.0.0.32", content: content), 1)

        let stallUntil = Date().addingTimeInterval(1.5)
        while Date() < stallUntil {
            staller.socket.send(PeerMessage.request(piece: 0, begin: 0, length: 16384).encoded())
            XCTAssertTrue(staller.waitFor(timeout: 5) { $0 == .choke })
            staller.socket.send(PeerMessage.interested.encoded())
            XCTAssertTrue(staller.waitFor(timeout: 5) { $0 == .unchoke })
            try await Task.sleep(for: .milliseconds(100))
        }

        let newcomer = try RawPeerSession(port: server.port, content: content, interested: true, from: "127.0.0.33")
        defer { newcomer.socket.close() }
        XCTAssertTrue(IdleClients.isClosed(staller.socket) || staller.socket.readUntilClosed(timeout: 2).closed,
                      "the stalled slot holder kept its place")
        XCTAssertEqual(bystander.closedCount, 0, "the quiet bystander was dropped instead")
        XCTAssertEqual(server.statistics.evictedConnections, 1)
        await server.stop()
    }
}
