import DOCore
import DOSwarm
import Foundation
import XCTest

/// Starts a peer server on 127.0.0.1 with an ephemeral port.
func startServer(_ library: MemoryLibrary, peerId: PeerId = .random(),
                 configuration: PeerServerConfiguration = .init()) async throws -> PeerServer {
    try await PeerServer.start(host: "127.0.0.1", port: 0, peerId: peerId, library: library,
                               configuration: configuration, logger: testLogger("dofs.peer-server.test"))
}

extension PeerServer {
    func address(peerId: PeerId? = nil) -> PeerAddress { PeerAddress(host: "127.0.0.1", port: port, peerId: peerId) }
}

func makeSwarm(_ content: TestContent, peerId: PeerId = .random(),
               configuration: SwarmConfiguration = .init()) -> Swarm {
    Swarm(swarmHash: content.swarmHash, layout: content.layout, ourPeerId: peerId,
          configuration: configuration, logger: testLogger("dofs.swarm.test"))
}

/// A raw connection to a server that has completed the handshake (and, if asked, waited to be unchoked).
struct RawPeerSession {
    let socket: RawSocket
    var decoder = FrameDecoder()
    var received: [PeerMessage] = []

    init(port: Int, content: TestContent, interested: Bool, from source: String? = nil) throws {
        socket = try RawSocket(connectingTo: port, from: source)
        socket.send(Handshake(swarmHash: content.swarmHash, peerId: .random()).encoded()
                    + (interested ? PeerMessage.interested.encoded() : []))
        let reply = try XCTUnwrap(socket.receive(exactly: Handshake.byteCount, timeout: 5), "no handshake reply")
        XCTAssertEqual(try Handshake(decoding: reply).swarmHash, content.swarmHash)
        if interested {
            XCTAssertTrue(waitFor(timeout: 5) { $0 == .unchoke }, "never unchoked")
        }
    }

    /// Reads messages until one matches (true) or the stream ends / `timeout` passes (false).
    mutating func waitFor(timeout: Double, _ match: (PeerMessage) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            while let message = try? decoder.next() {
                received.append(message)
                if match(message) { return true }
            }
            guard let chunk = socket.receive(timeout: deadline.timeIntervalSinceNow) else { return false }
            decoder.append(chunk)
        }
        return false
    }
}
