import DOCore
import NIOPosix
import Synchronization

/// Hands out piece bytes only after they matched the piece's SHA-256, re-reading them from the
/// engine's cache at send time; keeps the few most recently verified pieces in memory for a short
/// while so a piece is hashed once per burst of block requests, not once per 16 KiB block.
///
/// A piece is hashed once per node lifetime, not on every send: the digests of pieces whose stored
/// bytes matched are remembered (at most `rememberedCapacity`; forgotten all at once when full), and a
/// remembered piece read again at its expected length is sent without hashing. Hashing every upload
/// doubled the CPU a swarm spends on SHA-256 (each piece was already hashed when it arrived). What this
/// gives up: a piece file damaged on disk after its first upload is sent until the node restarts, and
/// the receiving peer's own verification (which never trusts a peer) refuses it and counts it against us.
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
    private let rememberedCapacity: Int
    private let state = Mutex(State())
    /// Digests of pieces whose stored bytes hashed right during this node's life.
    private let hashedOnce = Mutex(Set<SHA256Digest>())

    init(capacity: Int, lifetimeSeconds: Double, rememberedCapacity: Int = 0) {
        self.capacity = max(0, capacity)
        self.lifetime = .seconds(lifetimeSeconds)
        self.rememberedCapacity = max(0, rememberedCapacity)
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
        let hashedBefore = hashedOnce.withLock { $0.contains(expectedHash) }
        let bytes: [UInt8]? = try await NIOThreadPool.singleton.runIfActive {
            guard let bytes = read(piece), bytes.count == expectedLength,
                  hashedBefore || SHA256.hash(bytes) == expectedHash else { return nil }
            return bytes
        }
        if let bytes {
            store(key, bytes)
            if !hashedBefore { remember(expectedHash) }
        }
        return bytes
    }

    private func remember(_ digest: SHA256Digest) {
        guard rememberedCapacity > 0 else { return }
        hashedOnce.withLock { set in
            if set.count >= rememberedCapacity { set.removeAll(keepingCapacity: true) }
            set.insert(digest)
        }
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
