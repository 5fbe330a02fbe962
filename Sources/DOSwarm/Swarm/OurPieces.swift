import Synchronization

/// The pieces of one content we hold, as far as the swarm's connections need to know: whether a peer
/// has anything we lack, which is what we tell it by being `interested` or not.
///
/// Only ever grows: a piece the cache evicts later still counts as held here. That costs nothing but
/// advance notice: a fetch from a peer makes its connection interested whatever this says.
public final class OurPieces: Sendable {
    private let held: Mutex<Bitfield>

    public init(pieceCount: Int) {
        held = Mutex(Bitfield(pieceCount: pieceCount))
    }

    /// Records `piece` as held; false when it already was (or is out of range).
    @discardableResult
    public func insert(_ piece: Int) -> Bool {
        held.withLock { bits in
            guard piece >= 0, piece < bits.pieceCount, !bits[piece] else { return false }
            bits[piece] = true
            return true
        }
    }

    /// Records every piece set in `pieces` (same piece count) as held.
    public func formUnion(_ pieces: Bitfield) {
        held.withLock { $0.formUnion(pieces) }
    }

    public func contains(_ piece: Int) -> Bool { held.withLock { $0[piece] } }

    public var isComplete: Bool { held.withLock { $0.isComplete } }

    /// Whether `theirs` (a peer's announced pieces, same piece count) has a piece we do not hold, a
    /// byte at a time: O(pieces / 8).
    public func lacksAny(of theirs: Bitfield) -> Bool {
        held.withLock { ours in
            zip(theirs.bytes, ours.bytes).contains { their, our in their & ~our != 0 }
        }
    }
}
