import DOCore
import DOSwarm

/// What this mount shares with peers: every content whose verified pieces hash file it keeps, with the
/// verified pieces its cache holds. The swarm hash is the raw HashOfHashes (do-protocol.md 9.3).
///
/// Simple-mode pieces are never shared: they live under another store namespace and have no hash to
/// be checked against. Contents under the peering minimum are not offered either.
public struct EngineSwarmLibrary: SwarmLibrary {
    let store: PieceStore
    let metadata: MetadataStore
    let minContentBytes: Int

    public init(engine: Engine, minContentBytes: Int) {
        store = engine.store
        metadata = engine.metadata
        self.minContentBytes = minContentBytes
    }

    public func sharedContent(swarmHash: [UInt8]) -> SharedContent? {
        guard let hoh = SHA256Digest(bytes: swarmHash), let phf = metadata.load(hashOfHashes: hoh),
              phf.layout.contentLength >= minContentBytes else { return nil }
        let store = self.store
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
