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

    /// Called for every peer that asks for a swarm: one we hold also tells the engine, which re-joins so
    /// that it learns the newcomer (and can share the CDN work with it) without waiting for the next
    /// scheduled announce.
    public func sharedContent(swarmHash: [UInt8]) -> SharedContent? {
        guard let hoh = SHA256Digest(bytes: swarmHash), let phf = engine.metadata.load(hashOfHashes: hoh),
              phf.layout.contentLength >= minContentBytes else { return nil }
        engine.peerArrived(hashOfHashes: hoh)
        let store = engine.store
        let layout = phf.layout, pieces = phf.pieces
        return SharedContent(
            swarmHash: swarmHash, layout: layout, pieceHashes: pieces,
            have: {
                var bits = Bitfield(pieceCount: layout.pieceCount)
                for (i, digest) in pieces.enumerated() where store.contains(.verified(digest)) { bits[i] = true }
                return bits
            },
            readPiece: { index in store.readPiece(.verified(pieces[index]), length: layout.length(ofPiece: index)) })
    }
}
