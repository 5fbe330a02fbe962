import DOCore
import DOSwarm
import Logging

/// One connected peer of a content's swarm as a piece source. Its own rules stay in `Swarm`: a bad
/// piece is charged to its identity and address (banned at the third), a peer the scheduler drops for
/// timing out is disconnected for a while, never banned.
struct PeerSource: PieceSource {
    let swarm: Swarm
    let peer: PeerId
    /// The piece it is asked for.
    let piece: Int
    /// A request still unanswered after this long fails (the scheduler has hedged long before).
    let timeoutSeconds: Double
    /// The swarm's estimate of this request's time when the source was chosen.
    var expectedSeconds: Double?

    var kind: SourceKind { .peer }
    var name: String { Self.name(of: peer) }
    var logMetadata: Logger.Metadata { ["peer": "\(peer)"] }
    /// A peer whose connection brought a block within the last second is sending (its queue may be
    /// long); one that announced pieces and sends nothing is not.
    var isReceiving: Bool { swarm.isSending(peer, within: Self.receivingWithinSeconds) }

    var queuedSeconds: Double? { swarm.chokingSeconds(peer) }

    /// How recent a block must be for a peer to count as sending (`isReceiving`).
    static let receivingWithinSeconds = 1.0

    func fetch(range: Range<Int>) async throws(FetchError) -> [UInt8] {
        try await fetchPiece(range: range).bytes
    }

    /// The piece in the buffer the connection assembled it in: no copy on its way to the store.
    func fetchPiece(range: Range<Int>) async throws(FetchError) -> PieceBuffer {
        let layout = swarm.layout
        let index = range.lowerBound / layout.pieceSize
        guard index < layout.pieceCount, layout.range(ofPiece: index) == range else {
            throw .peerFailed(peer: "\(peer)", reason: "a peer serves whole pieces only, not bytes \(range)")
        }
        do {
            return try await swarm.fetchBuffer(piece: index, length: range.count, from: peer, timeoutSeconds: timeoutSeconds)
        } catch {
            throw .peerFailed(peer: "\(peer)", reason: "\(error)")
        }
    }

    func chargeBadPiece(index: Int) -> Bool { swarm.reportBadPiece(from: peer, piece: index) }

    func chargeDropped() {
        EngineMetrics.sourcesDropped.increment()
        swarm.drop(peer)
    }
}
