import DOCore
import NIOPosix
import Synchronization

/// Hands out piece bytes only after they matched the piece's SHA-256, re-reading them from the
/// engine's cache at send time; keeps the few most recently verified pieces in memory for a short
/// while so a piece is hashed once per burst of block requests, not once per 16 KiB block.
final class VerifiedPieceCache: Sendable {
    private struct Key: Hashable {
        var swarmHash: [UInt8]
        var piece: Int
    }

    private struct Entry {
        var bytes: [UInt8]
        var verifiedAt: ContinuousClock.Instant
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var tick: UInt64 = 0
    }

    private let capacity: Int
    private let lifetime: Duration
    private let state = Mutex(State())

    init(capacity: Int, lifetimeSeconds: Double) {
        self.capacity = max(0, capacity)
        self.lifetime = .seconds(lifetimeSeconds)
    }

    /// The verified bytes of `piece`, or `nil` if the engine no longer holds it or what it holds does
    /// not match the piece hash. Reading and hashing run on NIO's blocking thread pool; throws only if
    /// the calling task is cancelled (or the pool is shut down) meanwhile.
    func verifiedPiece(_ piece: Int, of content: SharedContent) async throws -> [UInt8]? {
        guard piece >= 0, piece < content.layout.pieceCount else { return nil }
        let key = Key(swarmHash: content.swarmHash, piece: piece)
        if let cached = lookup(key) { return cached }
        let expectedLength = content.layout.length(ofPiece: piece)
        let expectedHash = content.pieceHashes[piece]
        let read = content.readPiece
        let bytes: [UInt8]? = try await NIOThreadPool.singleton.runIfActive {
            guard let bytes = read(piece), bytes.count == expectedLength,
                  SHA256.hash(bytes) == expectedHash else { return nil }
            return bytes
        }
        if let bytes { store(key, bytes) }
        return bytes
    }

    private func lookup(_ key: Key) -> [UInt8]? {
        let now = ContinuousClock.now
        return state.withLock { s in
            guard var entry = s.entries[key] else { return nil }
            guard now - entry.verifiedAt < lifetime else {
                s.entries[key] = nil
                return nil
            }
            s.tick += 1
            entry.lastUse = s.tick
            s.entries[key] = entry
            return entry.bytes
        }
    }

    private func store(_ key: Key, _ bytes: [UInt8]) {
        guard capacity > 0 else { return }
        let now = ContinuousClock.now
        state.withLock { s in
            s.tick += 1
            s.entries[key] = Entry(bytes: bytes, verifiedAt: now, lastUse: s.tick)
            while s.entries.count > capacity,
                  let oldest = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                s.entries[oldest] = nil
            }
        }
    }
}
