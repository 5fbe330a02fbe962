import NIOCore
import Synchronization

/// Connections NIO has accepted and wrapped for the peer server that its accept loop has not taken yet.
///
/// Why: NIO traps when a wrapped connection goes away without being closed through it
/// (`executeThenClose`), and the ones in flight when the listener closes do: the listener's stream of
/// connections is finished by then and drops them. This holds every wrapped connection from its
/// creation until the accept loop takes it, and closes the ones it never will.
///
/// ## Contract
/// - `hold` each connection as it is wrapped; `take` it in the accept loop before serving it.
/// - `closeAll` once the accept loop has ended: every connection held is closed, and any wrapped
///   later (accepted by the kernel before the listener closed) is closed as soon as it is held.
final class UntakenConnections: Sendable {
    private struct State {
        var held: [ObjectIdentifier: PeerChannel] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    func hold(_ connection: PeerChannel) -> PeerChannel {
        let late = state.withLock { s -> Bool in
            if s.closed { return true }
            s.held[ObjectIdentifier(connection.channel)] = connection
            return false
        }
        if late { Task { await Self.close(connection) } }
        return connection
    }

    func take(_ connection: PeerChannel) {
        _ = state.withLock { $0.held.removeValue(forKey: ObjectIdentifier(connection.channel)) }
    }

    func closeAll() async {
        let untaken = state.withLock { s in
            s.closed = true
            defer { s.held.removeAll() }
            return Array(s.held.values)
        }
        for connection in untaken { await Self.close(connection) }
    }

    private static func close(_ connection: PeerChannel) async {
        try? await connection.executeThenClose { _, _ in }
    }
}
