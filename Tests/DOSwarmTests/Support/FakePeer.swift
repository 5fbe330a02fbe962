import DOCore
import DOSwarm
import Foundation
import Synchronization

/// A peer written for the tests on plain blocking sockets, so it can misbehave in ways dofs never would.
/// It answers any handshake, claims every piece (bitfield all ones), unchokes at once, and then
/// answers requests according to its behaviour. It listens on a loopback address of the test's choice
/// and can answer each connection under a new peer id, as a liar rotating identities would.
final class FakePeer: Sendable {
    enum Identity: Sendable {
        /// Every connection is answered with `peerId`.
        case fixed
        /// Every connection is answered with a fresh random peer id (`peerId` is the first one).
        case newPerConnection
    }

    enum Behaviour: Sendable {
        /// Answers every request with the right length of wrong bytes.
        case lying
        /// Never answers a request.
        case silent
        /// Answers with the right bytes, sleeping this long before each block.
        case slow(secondsPerBlock: Double)
        /// Answers the handshake for another swarm.
        case wrongSwarm
    }

    private struct State {
        var accepted = 0
        var open = 0
        var blocksServed = 0
        var stopped = false
        var sockets: [Int32: RawSocket] = [:]
        var identitiesUsed = 0
    }

    let peerId: PeerId
    let behaviour: Behaviour
    let content: TestContent
    let identity: Identity
    /// After answering this many requests on a connection, the peer closes it (nil: never).
    let blocksPerConnection: Int?
    /// Sent on every connection after the bitfield and the unchoke.
    let opening: [PeerMessage]
    private let listener: RawListener
    private let state = Mutex(State())

    init(_ behaviour: Behaviour, content: TestContent, host: String = "127.0.0.1", peerId: PeerId = .random(),
         identity: Identity = .fixed, blocksPerConnection: Int? = nil, opening: [PeerMessage] = []) throws {
        self.behaviour = behaviour
        self.content = content
        self.peerId = peerId
        self.identity = identity
        self.blocksPerConnection = blocksPerConnection
        self.opening = opening
        listener = try RawListener(host: host)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    var host: String { listener.host }
    var port: Int { listener.port }
    var address: PeerAddress { PeerAddress(host: host, port: port, peerId: peerId) }
    /// The address without an announced peer id, as a rotating liar must be listed.
    var unannouncedAddress: PeerAddress { PeerAddress(host: host, port: port) }
    /// Connections accepted since the start.
    var acceptedCount: Int { state.withLock { $0.accepted } }
    /// Connections still open.
    var openCount: Int { state.withLock { $0.open } }
    var blocksServed: Int { state.withLock { $0.blocksServed } }
    /// Peer ids the peer has answered under (one per connection with `.newPerConnection`).
    var identitiesUsed: Int { state.withLock { $0.identitiesUsed } }

    func stop() {
        let sockets = state.withLock { s in
            s.stopped = true
            return Array(s.sockets.values)
        }
        listener.close()
        for socket in sockets { shutdown(socket.fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while !state.withLock({ $0.stopped }) {
            guard let socket = listener.accept(timeout: 0.1) else { continue }
            state.withLock { s in
                s.accepted += 1
                s.open += 1
                s.sockets[socket.fd] = socket
            }
            Thread.detachNewThread { [self] in
                serve(socket)
                state.withLock { s in
                    s.open -= 1
                    s.sockets[socket.fd] = nil
                }
                socket.close()
            }
        }
    }

    private func serve(_ socket: RawSocket) {
        guard let hello = socket.receive(exactly: Handshake.byteCount, timeout: 5),
              let theirs = try? Handshake(decoding: hello) else { return }
        var swarmHash = theirs.swarmHash
        if case .wrongSwarm = behaviour { swarmHash[0] ^= 0xFF }
        let peerId = state.withLock { s -> PeerId in
            s.identitiesUsed += 1
            if case .newPerConnection = identity, s.identitiesUsed > 1 { return .random() }
            return self.peerId
        }
        var all = Bitfield(pieceCount: content.layout.pieceCount)
        for i in 0..<content.layout.pieceCount { all[i] = true }
        guard socket.send(Handshake(swarmHash: swarmHash, peerId: peerId).encoded()
                          + PeerMessage.bitfield(all.bytes).encoded() + PeerMessage.unchoke.encoded()
                          + opening.flatMap { $0.encoded() }) else { return }
        var decoder = FrameDecoder()
        var servedHere = 0
        while !state.withLock({ $0.stopped }) {
            guard let chunk = socket.receive(timeout: 0.2) else { return }
            decoder.append(chunk)
            while let message = try? decoder.next() {
                guard case .request(let piece, let begin, let length) = message else { continue }
                let data: [UInt8]
                switch behaviour {
                case .silent, .wrongSwarm:
                    continue
                case .lying:
                    data = [UInt8](repeating: 0xEE, count: Int(length))
                case .slow(let delay):
                    Thread.sleep(forTimeInterval: delay)
                    let start = content.layout.range(ofPiece: Int(piece)).lowerBound + Int(begin)
                    data = Array(content.bytes[start..<(start + Int(length))])
                }
                guard socket.send(PeerMessage.piece(piece: piece, begin: begin, data: data).encoded()) else { return }
                state.withLock { $0.blocksServed += 1 }
                servedHere += 1
                if let limit = blocksPerConnection, servedHere >= limit {
                    // Half-close and drain, so the block is not lost to a reset when the socket closes.
                    shutdown(socket.fd, Int32(SHUT_WR))
                    _ = socket.readUntilClosed(timeout: 2)
                    return
                }
            }
        }
    }
}
