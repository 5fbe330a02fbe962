/// How the piece store writes and keeps pieces, with the reason for each default.
public struct PieceStoreConfiguration: Sendable {
    /// Write piece files past the page cache (`O_DIRECT`; see `PieceFileWriter`). The buffered copy
    /// was the largest cost of a cold read; a file system that refuses direct I/O gets buffered writes.
    public var directWrites = true
    /// Smaller pieces are written through the page cache all the same: a direct write waits for the
    /// disk, which for the pieces of small files (a few KiB each, one file per piece) cost more than the
    /// copy it saves (a cold `cat` of 2,000 small files took 4.4 s instead of 2.7 s,
    /// `bench/smallfiles-bench.sh`). From 256 KiB up, the copy is the larger cost.
    public var directWriteMinBytes = 256 << 10
    /// Bytes of the latest committed pieces kept in memory (`RecentPieces`), so that pieces fetched
    /// ahead of a reader are answered from memory, not read back from the disk. 8 MiB is half a
    /// sequential reader's largest readahead window (`EngineConfiguration.maxReadaheadPieces`): the
    /// reader lets each piece go once read, so the window's near half is held; 16 MiB took the
    /// daemon's peak memory past 120 MiB on a cold 1 GiB read (`bench/read-bench.sh`).
    public var recentPieceBytes = 8 << 20

    public init() {}
}
