import Foundation

/// A piece's bytes in page-aligned memory: what a piece travels in from the socket to the reply.
///
/// Why: a piece used to arrive in a `[UInt8]` (unaligned: Swift's array header sits before the bytes),
/// so the piece store copied every piece into an aligned buffer before its `O_DIRECT` write (6% of
/// the daemon's CPU on a cold 1 GiB read, `bench/results/read-20261202-043744.perf.txt`). A piece
/// buffer is aligned to a page, so the HTTP client receives a body straight into one and the store
/// writes that same memory to the disk; the FUSE reply and the memory tier (`RecentPieces`) use it
/// as is. One copy of a piece in the process, however many readers and writers it has.
///
/// ## Contract
/// - Filled once, by the one producer that made it (`fill`), before it is shared; from then on it is
///   never written again, so readers on any thread need no lock (hence `@unchecked Sendable`).
/// - A buffer says nothing about trust: it is what a source sent. Only the scheduler's SHA-256 check
///   (`PieceScheduler`, verified mode) or the piece store (pieces committed after that check) make it
///   a piece that may be served; a buffer a check refused is dropped, never handed on.
/// - Pieces of about DO's default size (more than 512 KiB, up to 1 MiB) take a slot of
///   `PieceBufferPool`, regions backed by huge pages when the kernel grants them, so the direct write's
///   page pinning and the copies touch one page instead of 256; others (and any beyond the pool's
///   bound) come from the node's heap (`malloc`, aligned inside), which `PieceMemory` keeps warm. The
///   memory goes back when the last reference goes.
public final class PieceBuffer: @unchecked Sendable, ContiguousBytes, Equatable, CustomStringConvertible {
    /// Alignment of the bytes: a page, a multiple of every logical block size (512 or 4096), as
    /// direct I/O needs.
    public static let alignment = 4096

    /// The bytes the buffer holds.
    public let count: Int
    private let base: UnsafeMutableRawPointer
    /// Whether `base` is a slot of `PieceBufferPool.shared` (else it came from the heap).
    private let pooled: Bool
    /// What `malloc` returned, for a buffer from the heap (`base` is aligned inside it).
    private let allocation: UnsafeMutableRawPointer?

    /// An unfilled buffer of `count` bytes: its producer fills it (`fill`) before sharing it.
    public init(count: Int) {
        precondition(count >= 0, "a piece buffer cannot be \(count) bytes")
        self.count = count
        if let slot = PieceBufferPool.shared.take(count) {
            base = slot
            pooled = true
            allocation = nil
            return
        }
        pooled = false
        // A plain `malloc` a page larger, aligned inside: `posix_memalign` split the heap's free chunks
        // around each aligned block, freed pieces could not be reused for the next, and the daemon's
        // peak memory on a cold 1 GiB read went from 80 to 219 MiB (`bench/results/read-20261202-073522.txt`).
        guard let memory = malloc(count + Self.alignment) else { fatalError("out of memory for a \(count)-byte piece buffer") }
        allocation = memory
        let address = UInt(bitPattern: memory)
        base = UnsafeMutableRawPointer(bitPattern: (address + UInt(Self.alignment) - 1) / UInt(Self.alignment) * UInt(Self.alignment))!
    }

    /// A buffer holding a copy of `bytes` (pieces from peers, tests).
    public convenience init<Bytes: ContiguousBytes>(copying bytes: Bytes) {
        let n = bytes.withUnsafeBytes { $0.count }
        self.init(count: n)
        bytes.withUnsafeBytes { fill(at: 0, from: $0) }
    }

    deinit {
        if pooled { PieceBufferPool.shared.give(base) } else { free(allocation) }
    }

    /// Copies `source` to `offset`. Only the buffer's producer calls this, before sharing it.
    public func fill(at offset: Int, from source: UnsafeRawBufferPointer) {
        precondition(offset >= 0 && offset + source.count <= count, "fill past the end of a piece buffer")
        guard let from = source.baseAddress, source.count > 0 else { return }
        (base + offset).copyMemory(from: from, byteCount: source.count)
    }

    /// Hands `body` the whole buffer to fill (a `pread` of a stored piece). Only the buffer's producer
    /// calls this, before sharing it.
    public func fill<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// A copy of the bytes as an array (for callers that keep `[UInt8]`: the swarm's peer server).
    public var bytes: [UInt8] {
        withUnsafeBytes { [UInt8]($0) }
    }

    /// The whole buffer as a slice.
    public var whole: PieceSlice { PieceSlice(self, 0..<count) }

    public static func == (a: PieceBuffer, b: PieceBuffer) -> Bool {
        a === b || (a.count == b.count && memcmp(a.base, b.base, a.count) == 0)
    }

    public var description: String { "PieceBuffer(\(count) bytes)" }
}

/// Part of a piece buffer: what a read is answered with, without copying the piece.
public struct PieceSlice: Sendable, ContiguousBytes, Equatable {
    public let buffer: PieceBuffer
    public let range: Range<Int>

    public init(_ buffer: PieceBuffer, _ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= buffer.count, "slice \(range) of a \(buffer.count)-byte piece")
        self.buffer = buffer
        self.range = range
    }

    public var count: Int { range.count }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// A copy of the bytes as an array.
    public var bytes: [UInt8] { withUnsafeBytes { [UInt8]($0) } }

    public static func == (a: PieceSlice, b: PieceSlice) -> Bool {
        a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
    }
}

extension Array where Element == PieceSlice {
    /// The bytes of every slice, one after the other (tests, and callers that need one array).
    public var joinedBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(reduce(0) { $0 + $1.count })
        for slice in self { slice.withUnsafeBytes { out.append(contentsOf: $0) } }
        return out
    }
}
