import DOCore
import DOSwarm

/// What this mount shares with peers: every content whose verified pieces hash file it keeps, with the
/// verified pieces its cache holds. The swarm hash is the raw HashOfHashes (do-protocol.md 9.3).
///
/// Simple-mode pieces are never shared: they live under another store namespace and have no hash to
/// be checked against. Contents under the peering minimum are not offered either.
public struct EngineSwarmLibrary: SwarmLibrary {
    let engine: Engine
    let minContentBytes: Int

    public init(engine: Engine, minContentBytes: Int) {
        self.engine = engine
        self.minContentBytes = minContentBytes
    }

    public func sharedContent(swarmHash: [UInt8]) -> SharedContent? {
        guard let hoh = SHA256Digest(bytes: swarmHash), let phf = engine.metadata.load(hashOfHashes: hoh),
              phf.layout.contentLength >= minContentBytes else { return nil }
        let store = engine.store
        let layout = phf.layout, pieces = phf.pieces
        return SharedContent(
            swarmHash: swarmHash, layout: layout, pieceHashes: pieces,
            have: { store.heldPieces(pieces) },
            readPiece: { index in store.readPiece(.verified(pieces[index]), length: layout.length(ofPiece: index)) },
            fetching: { [engine] in engine.piecesFetchingFromHTTP(hashOfHashes: hoh) })
    }

    /// A peer joined us for a swarm: the engine counts it as a member at once (it shares the CDN work
    /// from now on) and re-joins to learn where to reach it.
    public func peerArrived(swarmHash: [UInt8], peerId: PeerId) {
        guard let hoh = SHA256Digest(bytes: swarmHash) else { return }
        engine.peerArrived(hashOfHashes: hoh, peerId: peerId)
    }
}

extension PieceStore {
    /// Which of a content's pieces (its verified piece hashes, in order) the store holds now.
    func heldPieces(_ pieces: [SHA256Digest]) -> Bitfield {
        var bits = Bitfield(pieceCount: pieces.count)
        for (i, digest) in pieces.enumerated() where contains(.verified(digest)) { bits[i] = true }
        return bits
    }
}
