/// Which pieces a peer has: one bit per piece, most significant bit first (bit 7 of byte 0 is piece 0),
/// as in BitTorrent (do-protocol.md section 9.5). Spare bits at the end must be zero.
public struct Bitfield: Equatable, Sendable {
    public private(set) var bytes: [UInt8]
    public let pieceCount: Int

    public init(pieceCount: Int) {
        self.pieceCount = pieceCount
        bytes = [UInt8](repeating: 0, count: (pieceCount + 7) / 8)
    }

    /// Accepts a peer's bitfield only if it has the right length and no bits past the last piece.
    public init?(bytes: [UInt8], pieceCount: Int) {
        guard bytes.count == (pieceCount + 7) / 8 else { return nil }
        self.bytes = bytes
        self.pieceCount = pieceCount
        for i in pieceCount..<(bytes.count * 8) where bit(i) { return nil }
    }

    public subscript(piece: Int) -> Bool {
        get { piece >= 0 && piece < pieceCount && bit(piece) }
        set {
            precondition(piece >= 0 && piece < pieceCount)
            let mask = UInt8(0x80) >> UInt8(piece % 8)
            if newValue { bytes[piece / 8] |= mask } else { bytes[piece / 8] &= ~mask }
        }
    }

    /// Sets every piece `other` has (same piece count).
    public mutating func formUnion(_ other: Bitfield) {
        precondition(other.pieceCount == pieceCount, "bitfields of \(other.pieceCount) and \(pieceCount) pieces")
        for i in bytes.indices { bytes[i] |= other.bytes[i] }
    }

    public var count: Int { bytes.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// The lowest piece not set, `nil` when every piece is (a byte at a time: O(pieces / 8)).
    public var firstMissing: Int? {
        guard let byte = bytes.firstIndex(where: { $0 != 0xFF }) else { return nil }
        let piece = byte * 8 + (~bytes[byte]).leadingZeroBitCount
        return piece < pieceCount ? piece : nil
    }
    public var isComplete: Bool { count == pieceCount }

    private func bit(_ i: Int) -> Bool { bytes[i / 8] & (UInt8(0x80) >> UInt8(i % 8)) != 0 }
}
