import CLinux

/// How the node's allocator treats piece buffers: reused warm, in one heap.
///
/// Why: a piece arrives into a new 1 MiB buffer (the HTTP body). glibc's malloc serves buffers of that
/// size with a fresh `mmap`, or trims them back to the kernel when they are freed, so every piece cost
/// page faults and the kernel zeroing 256 new pages: 5% of the daemon's CPU on a cold 1 GiB read
/// (`clear_page_erms`, `bench/results/read-20261202-005530.perf.txt`), gone once freed buffers stay
/// mapped (`read-20261202-032936.perf.txt`). The allocator is then the pool of piece buffers: a freed
/// piece's memory goes to the next piece. What it may keep unused is bounded (`keptFreeBytes`).
///
/// One heap (`arenas`): glibc gives threads heaps of their own (up to 8 per core), and piece buffers
/// were allocated on one thread (the HTTP loop) and freed on others, so each heap kept its own
/// scattered free pieces. Since 2026-12-02 pieces of the common size (1 MiB) live in
/// `PieceBufferPool`'s huge-page slots instead; the heap still serves other piece sizes and the rest. With one heap the daemon's peak memory on
/// a cold 1 GiB read went from 105.6 to 86.5 MiB at the same CPU (3.01 and 3.07 CPU-s,
/// `bench/results/read-20261202-040204.txt`, set by `GLIBC_TUNABLES` for that run).
///
/// Process-wide: the node applies it first thing, before its threads start, since threads that
/// already have a heap keep it.
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

    /// Heaps the allocator makes: one (see above). Small allocations stay fast without a heap per
    /// thread, since glibc serves them from a per-thread cache first.
    public static let arenas = 1

    /// Applies the settings; false when the C library refused one of them.
    @discardableResult
    public static func configureAllocator() -> Bool {
        clinux_malloc_keep_freed(largestHeapAllocation, keptFreeBytes, Int32(arenas)) == 0
    }
}
