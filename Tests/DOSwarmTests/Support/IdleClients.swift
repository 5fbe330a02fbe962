import DOCore
import DOSwarm
import Foundation

/// Connections that complete the handshake and then only ever send keep-alives: a client that holds
/// places on a server without downloading anything. Each connection comes from a loopback address
/// chosen by the test, so one test can play one hoarding host or many.
final class IdleClients {
    private(set) var sockets: [RawSocket] = []

    /// Opens `count` connections to 127.0.0.1:`port` from `source` and handshakes on each; returns how
    /// many the server answered with its handshake (the others it closed). All stay open until `close`.
    @discardableResult
    func open(_ count: Int, to port: Int, from source: String, content: TestContent) throws -> Int {
        var answered = 0
        for _ in 0..<count {
            let socket = try RawSocket(connectingTo: port, from: source)
            sockets.append(socket)
            socket.send(Handshake(swarmHash: content.swarmHash, peerId: .random()).encoded())
            if socket.receive(exactly: Handshake.byteCount, timeout: 5) != nil { answered += 1 }
        }
        return answered
    }

    /// One keep-alive on every connection: the only thing these clients ever say after the handshake.
    func sendKeepAlives() {
        for socket in sockets { socket.send(PeerMessage.keepAlive.encoded()) }
    }

    /// How many of the connections the server has closed by now (what it sent is read and dropped).
    var closedCount: Int { sockets.filter(Self.isClosed).count }

    func close() {
        for socket in sockets { socket.close() }
        sockets.removeAll()
    }

    static func isClosed(_ socket: RawSocket) -> Bool {
        while true {
            guard let chunk = socket.receive(timeout: 0.01) else { return true }
            if chunk.isEmpty { return false }
        }
    }
}
