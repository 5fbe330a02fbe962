import DOCore
import Synchronization

/// Readahead for one open file: grows while the reader is sequential, collapses on a seek.
///
/// The window starts at `initialReadaheadPieces` and doubles on every read that continues where the
/// last one ended (within a piece either way, since the kernel's own readahead issues reads slightly
/// out of order on several threads), up to `maxReadaheadPieces`. A read elsewhere resets it to zero,
/// so a random reader fetches only the pieces it touches.
public final class ReadPattern: Sendable {
    private struct State {
        var nextOffset = 0
        var window = 0
    }

    private let state = Mutex(State())
    private let initial: Int
    private let maximum: Int

    public init(config: EngineConfiguration) {
        initial = config.initialReadaheadPieces
        maximum = config.maxReadaheadPieces
    }

    /// Records a read and returns the pieces to fetch ahead of it.
    public func record(offset: Int, length: Int, layout: PieceLayout) -> Range<Int> {
        let window = state.withLock { s -> Int in
            let sequential = abs(offset - s.nextOffset) <= layout.pieceSize
            s.window = sequential ? min(max(s.window * 2, initial), maximum) : 0
            s.nextOffset = max(s.nextOffset, offset + length)
            if !sequential { s.nextOffset = offset + length }
            return s.window
        }
        let covered = layout.pieces(coveringOffset: offset, length: length)
        guard window > 0, !covered.isEmpty else { return 0..<0 }
        return (covered.upperBound..<(covered.upperBound + window)).clamped(to: 0..<layout.pieceCount)
    }
}
