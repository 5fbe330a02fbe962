import NIOCore

/// Why talking to a peer, or fetching a piece through the swarm, failed. One case per failure the
/// caller can act on; every case ends that attempt, none of them means "wrong bytes were delivered"
/// (bytes are checked by the caller against the piece hash, see `Swarm.reportBadPiece`).
public enum PeerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No healthy connected peer has announced the piece (or every one that had it failed this call).
    case noPeerHasPiece(Int)
    /// The deadline passed: connecting, the handshake, a stalled transfer, or the whole fetch.
    case timedOut
    /// The TCP connection could not be opened.
    case connectFailed(String)
    /// The peer closed the connection instead of answering our handshake: it does not hold this
    /// content (Windows and dofs both refuse an unknown swarm silently).
    case refused
    /// The peer answered for another swarm, or with another peer id than the control plane gave.
    case handshakeMismatch(String)
    /// The peer is ourselves (our own peer id came back).
    case connectedToSelf
    /// The peer sent bytes that break the wire format.
    case protocolViolation(WireError)
    /// The peer sent well-formed messages that make no sense (a bitfield of the wrong size, a block
    /// that was never asked for with the wrong length, ...).
    case misbehaved(String)
    /// The connection closed while we waited.
    case disconnected
    /// The peer choked us while a piece was in flight: it will not (or can no longer) serve it.
    case choked
    /// The peer is banned for this content after sending bad pieces.
    case banned
    /// The swarm or connection was closed by us.
    case closed
    /// The calling task was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case .noPeerHasPiece(let i): return "no healthy peer has piece \(i)"
        case .timedOut: return "peer timed out"
        case .connectFailed(let why): return "could not connect to peer: \(why)"
        case .refused: return "peer refused the handshake (it does not hold this content)"
        case .handshakeMismatch(let why): return "peer handshake mismatch: \(why)"
        case .connectedToSelf: return "connected to ourselves"
        case .protocolViolation(let e): return "peer protocol violation: \(e)"
        case .misbehaved(let why): return "peer misbehaved: \(why)"
        case .disconnected: return "peer disconnected"
        case .choked: return "peer choked us while a piece was in flight"
        case .banned: return "peer is banned for this content"
        case .closed: return "connection closed by us"
        case .cancelled: return "cancelled"
        }
    }

    /// Maps what a peer channel's inbound stream threw to the reason a caller can act on.
    init(closing error: any Error) {
        switch error {
        case let wire as WireError: self = .protocolViolation(wire)
        case is PeerTimeout: self = .timedOut
        case let peer as PeerError: self = peer
        case is CancellationError: self = .cancelled
        default: self = .disconnected
        }
    }
}
