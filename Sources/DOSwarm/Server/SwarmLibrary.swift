import DOCore

/// What the engine shares; implemented by the engine on top of its piece cache.
public protocol SwarmLibrary: Sendable {
    /// The content behind `swarmHash`, or `nil` if we do not hold it; the server then refuses the
    /// handshake by closing the connection without replying.
    func sharedContent(swarmHash: [UInt8]) -> SharedContent?

    /// A peer completed a handshake for a swarm we hold: it is a member of that swarm, whether or not
    /// the control plane has told us yet.
    func peerArrived(swarmHash: [UInt8], peerId: PeerId)
}

extension SwarmLibrary {
    public func peerArrived(swarmHash: [UInt8], peerId: PeerId) {}
}

/// One content as the peer server sees it: its layout, the trusted piece hashes, which pieces the
/// engine holds, and a way to read a piece's bytes from the cache.
///
/// The server trusts none of the bytes `readPiece` returns: it re-hashes a piece against
/// `pieceHashes` before sending any block of it.
public struct SharedContent: Sendable {
    public let swarmHash: [UInt8]
    public let layout: PieceLayout
    public let pieceHashes: [SHA256Digest]
    /// The verified pieces the engine holds now; advertised in the bitfield and, as it grows, in `have`
    /// messages. Called every few seconds per connection from async code: it must be cheap and not block.
    public let have: @Sendable () -> Bitfield
    /// The bytes of piece `index` as stored now, or `nil` if it is no longer held. Called on a thread
    /// pool, never on an event loop or the cooperative pool, so it may block on disk.
    public let readPiece: @Sendable (Int) -> [UInt8]?
    /// The pieces the engine is fetching from HTTP sources now: claimed (`PeerMessage.fetching`) to a
    /// peer when it connects, after the bitfield, so that a member arriving in a running swarm does not
    /// fetch them too. Later fetches are claimed as they start (`PeerServer.announceFetching`).
    public let fetching: @Sendable () -> [Int]

    public init(swarmHash: [UInt8], layout: PieceLayout, pieceHashes: [SHA256Digest],
                have: @escaping @Sendable () -> Bitfield, readPiece: @escaping @Sendable (Int) -> [UInt8]?,
                fetching: @escaping @Sendable () -> [Int] = { [] }) {
        precondition(swarmHash.count == 32, "a swarm hash is 32 bytes")
        precondition(pieceHashes.count == layout.pieceCount, "one hash per piece")
        self.swarmHash = swarmHash
        self.layout = layout
        self.pieceHashes = pieceHashes
        self.have = have
        self.readPiece = readPiece
        self.fetching = fetching
    }
}
