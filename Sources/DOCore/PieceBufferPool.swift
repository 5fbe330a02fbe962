import Foundation
import Synchronization

/// Memory for piece buffers of about the common piece size, in 2 MiB regions the kernel may back with
/// huge pages, reused from piece to piece.
///
/// Why: the piece store writes a piece straight from its buffer with `O_DIRECT`, and the kernel pins
/// every page of it for the write: 256 pages per 1 MiB piece with 4 KiB pages
/// (`gup_fast_fallback`, 6% of a cold read's CPU, `bench/results/read-20261202-043744.perf.txt`). In a
/// region backed by one huge page the pinning takes the whole piece at once, and the copies into and
/// out of the buffer (curl, SHA-256, the FUSE reply) miss the TLB less. Regions are kept once made, so
/// no piece pays for fresh memory (faults, zeroing).
///
/// Bounded: at most `maxRegions` regions (`slotsPerRegion` pieces each) are ever made; beyond that, and
/// for pieces too small or too large for a slot, buffers come from the heap as before. A region's
/// slots are given back when their buffers are freed; regions are never unmapped (they are the pool).
final class PieceBufferPool: Sendable {
    /// The size of a huge page on x86-64 and arm64 with 4 KiB pages.
    static let regionBytes = 2 << 20
    /// Slots hold pieces of DO's default size (1 MiB); a piece of half a slot or less is not worth one.
    static let slotBytes = 1 << 20
    static var slotsPerRegion: Int { regionBytes / slotBytes }
    /// 20 regions hold 40 pieces of 1 MiB: a readahead window in flight (16) and one held in memory
    /// (`RecentPieces`, 16 MiB) with room for the writes and replies under way. More than that comes
    /// from the heap, so a node with many readers is not refused memory, only huge pages.
    static let maxRegions = 20

    static let shared = PieceBufferPool()

    private struct State {
        var free: [UInt] = []
        var regions = 0
        var exhausted = false
    }
    private let state = Mutex(State())

    /// Whether a buffer of `count` bytes is served from a slot.
    static func fits(_ count: Int) -> Bool { count > slotBytes / 2 && count <= slotBytes }

    /// A slot for a buffer of `count` bytes, or `nil` (the caller allocates from the heap).
    func take(_ count: Int) -> UnsafeMutableRawPointer? {
        guard Self.fits(count) else { return nil }
        return state.withLock { s -> UnsafeMutableRawPointer? in
            if s.free.isEmpty, !s.exhausted {
                if s.regions < Self.maxRegions, let region = Self.mapRegion() {
                    s.regions += 1
                    for i in 0..<Self.slotsPerRegion { s.free.append(UInt(bitPattern: region + i * Self.slotBytes)) }
                } else {
                    s.exhausted = true
                }
            }
            guard let slot = s.free.popLast() else { return nil }
            return UnsafeMutableRawPointer(bitPattern: slot)
        }
    }

    /// Gives back a slot `take` returned.
    func give(_ slot: UnsafeMutableRawPointer) {
        state.withLock { $0.free.append(UInt(bitPattern: slot)) }
    }

    /// Regions made so far.
    var regions: Int { state.withLock { $0.regions } }

    /// A 2 MiB-aligned anonymous region with huge pages asked for; `nil` when the kernel refuses the map.
    private static func mapRegion() -> UnsafeMutableRawPointer? {
        // Map twice the size and keep the aligned middle: mmap itself aligns to a page only.
        let span = 2 * regionBytes
        guard let raw = mmap(nil, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            return nil
        }
        let address = UInt(bitPattern: raw)
        let aligned = (address + UInt(regionBytes) - 1) / UInt(regionBytes) * UInt(regionBytes)
        let head = Int(aligned - address)
        if head > 0 { munmap(raw, head) }
        let tail = span - head - regionBytes
        let region = UnsafeMutableRawPointer(bitPattern: aligned)!
        if tail > 0 { munmap(region + regionBytes, tail) }
        // Advice only: without huge pages the region still works, with 4 KiB pages.
        _ = madvise(region, regionBytes, MADV_HUGEPAGE)
        return region
    }
}
