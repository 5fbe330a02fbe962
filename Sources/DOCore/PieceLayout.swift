/// How a content of `contentLength` bytes splits into pieces of `pieceSize` bytes.
///
/// Every piece is `pieceSize` long except the last, which holds the remainder. An empty content has
/// no pieces at all, which is also what DO's pieces hash files say (`Pieces: []`).
public struct PieceLayout: Hashable, Sendable {
    /// DO's piece size in every observed pieces hash file.
    public static let defaultPieceSize = 1 << 20

    public let contentLength: Int
    public let pieceSize: Int

    public init(contentLength: Int, pieceSize: Int = PieceLayout.defaultPieceSize) {
        precondition(contentLength >= 0 && pieceSize > 0, "invalid piece layout")
        self.contentLength = contentLength
        self.pieceSize = pieceSize
    }

    /// ceil(contentLength / pieceSize).
    public var pieceCount: Int { contentLength == 0 ? 0 : (contentLength - 1) / pieceSize + 1 }

    /// The byte range piece `index` covers in the content.
    public func range(ofPiece index: Int) -> Range<Int> {
        precondition(index >= 0 && index < pieceCount, "piece \(index) out of 0..<\(pieceCount)")
        let start = index * pieceSize
        return start..<min(start + pieceSize, contentLength)
    }

    public func length(ofPiece index: Int) -> Int { range(ofPiece: index).count }

    /// The pieces a read of `length` bytes at `offset` touches, clipped to the content; empty at or past the end.
    public func pieces(coveringOffset offset: Int, length: Int) -> Range<Int> {
        guard offset >= 0, length > 0, offset < contentLength else { return 0..<0 }
        let end = min(offset + length, contentLength)
        return (offset / pieceSize)..<((end - 1) / pieceSize + 1)
    }
}
