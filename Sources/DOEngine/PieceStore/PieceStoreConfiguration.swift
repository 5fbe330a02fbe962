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
    /// ahead of a reader are answered from memory, not read back from the disk. 16 MiB is a sequential
    /// reader's largest readahead window (`EngineConfiguration.maxReadaheadPieces` pieces of 1 MiB):
    /// the reader lets each piece go once read, so what is held is the window's unread part. A smaller
    /// tier drops, oldest first, exactly the pieces nearest the reader: with 8 MiB, half the pieces of
    /// a cold 1 GiB read were read back from the disk (`bench/results/read-20261202-032936.perf.txt`:
    /// `splice` from piece files beside the `writev` from memory). It costs no more memory than the
    /// window's fetches take in flight: a piece is held here instead of in flight, not as well.
    public var recentPieceBytes = 16 << 20

    /// Verified pieces up to this size are appended to pack files, not written to a file each
    /// (`PiecePacks`): a cold `cat` of 2,000 small files spent 15-35% of the daemon's CPU creating
    /// their piece files (ext4 inode allocation) and renaming them. 128 KiB holds the one piece of
    /// most small files; larger pieces (a large content's 1 MiB ones) are written directly past the
    /// page cache, where a file per MiB costs little. 0: a file per piece, as before packs.
    public var packedPieceMaxBytes = 128 << 10
    /// A run starts a new pack past this size: a pack is never deleted while one of its pieces is kept
    /// (evicted ranges are punched out instead), so packs stay few and none grows without bound.
    public var packBytes = 256 << 20

    public init() {}
}
