import CLinux

/// Lets freed piece buffers be reused warm instead of mapped afresh for every piece.
///
/// Why: a piece arrives into a new 1 MiB buffer (the HTTP body). glibc's malloc serves buffers of that
/// size with a fresh `mmap`, or trims them back to the kernel when they are freed, so every piece cost
/// page faults and the kernel zeroing 256 new pages: 5% of the daemon's CPU on a cold 1 GiB read
/// (`clear_page_erms`, `bench/results/read-20261202-005530.perf.txt`), gone once freed buffers stay
/// mapped (`read-20261202-032936.perf.txt`). The allocator is then the pool of piece buffers: a freed
/// piece's memory goes to the next piece. What it may keep unused is bounded (`keptFreeBytes`).
///
/// Process-wide and idempotent: the engine applies it when it opens its piece store.
public enum PieceMemory {
    /// Buffers up to this size come from the heap: pieces of up to 8 MiB (1 MiB is the usual size)
    /// with their HTTP body's few bytes of header; larger allocations are mapped and unmapped as before.
    public static let largestHeapAllocation = 8 << 20 + 64 << 10
    /// Freed memory kept mapped at most (at the top of each heap): glibc trims all of the excess once
    /// the free top reaches this, so it must exceed what a reader frees at once, the pieces in flight
    /// plus the recent-pieces tier (16 + 16 MiB). With 16 MiB the top was trimmed again and again and
    /// the page faults came back (`bench/results/read-20261202-035839.perf.txt`: 7% of the CPU in
    /// `exc_page_fault` under `CurlTransfer.appendBody`).
    public static let keptFreeBytes = 64 << 20

    /// Applies the settings; false when the C library refused them (nothing changes then).
    @discardableResult
    public static func keepFreedBuffers() -> Bool {
        clinux_malloc_keep_freed(largestHeapAllocation, keptFreeBytes) == 0
    }
}
