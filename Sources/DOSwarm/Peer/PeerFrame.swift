/// What travels on a peer connection once the wire handler has cut the byte stream: exactly one
/// handshake first (it has no length prefix), then framed messages.
enum PeerFrame: Sendable, Equatable {
    case handshake(Handshake)
    case message(PeerMessage)
}

/// Deadlines the wire handler enforces on its own, reported as the connection's closing error.
enum PeerTimeout: Error, Sendable {
    /// No complete handshake arrived in time.
    case handshake
    /// Nothing at all was read for the idle timeout.
    case idle
}

/// Which side of a connection a channel is; decides which messages are worth passing up.
///
/// dofs connections are one-directional: a `PeerServer` session only uploads and a `PeerConnection`
/// only downloads, so each side drops the messages that cannot concern it (and unknown types, which
/// the protocol says to skip) before they are buffered for the async code.
enum PeerRole: Sendable {
    case server
    case client

    func wants(_ message: PeerMessage) -> Bool {
        switch (self, message) {
        case (_, .unknown), (_, .keepAlive):
            return false
        case (.server, .choke), (.server, .unchoke), (.server, .interested), (.server, .notInterested),
             (.server, .request), (.server, .cancel):
            return true
        case (.server, _):
            return false
        case (.client, .choke), (.client, .unchoke), (.client, .have), (.client, .bitfield), (.client, .piece),
             (.client, .fetching):
            return true
        case (.client, _):
            return false
        }
    }
}
