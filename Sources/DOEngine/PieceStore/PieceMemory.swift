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
    /// Freed memory kept mapped at most (per heap top): one readahead window of 1 MiB pieces
    /// (`EngineConfiguration.maxReadaheadPieces`), the memory a reader just gave back and the next
    /// window takes again.
    public static let keptFreeBytes = 16 << 20

    /// Applies the settings; false when the C library refused them (nothing changes then).
    @discardableResult
    public static func keepFreedBuffers() -> Bool {
        clinux_malloc_keep_freed(largestHeapAllocation, keptFreeBytes) == 0
    }
}
