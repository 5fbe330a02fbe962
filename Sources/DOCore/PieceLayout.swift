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

    /// Most pieces a content may have: piece indices travel as 32-bit numbers on DO's wire (bitfields,
    /// requests), and a count above this is only ever claimed by a broken or hostile server.
    public static let maxPieceCount = 1 << 31
    /// Largest content length dofs accepts: far above any real content (8 EiB / 2), yet low enough that
    /// `offset + length` and `index * pieceSize + pieceSize` never overflow.
    public static let maxContentLength = 1 << 62

    /// True when a content of `contentLength` bytes in pieces of `pieceSize` stays within the limits the
    /// piece math supports (no overflow, at most `maxPieceCount` pieces).
    public static func supports(contentLength: Int, pieceSize: Int = defaultPieceSize) -> Bool {
        guard contentLength >= 0, pieceSize > 0, contentLength <= maxContentLength else { return false }
        return PieceLayout(contentLength: contentLength, pieceSize: pieceSize).pieceCount <= maxPieceCount
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
