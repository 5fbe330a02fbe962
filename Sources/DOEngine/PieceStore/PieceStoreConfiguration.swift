/// How the piece store writes and keeps pieces, with the reason for each default.
public struct PieceStoreConfiguration: Sendable {
    /// Write piece files past the page cache (`O_DIRECT`; see `PieceFileWriter`). The buffered copy
    /// was the largest cost of a cold read; a file system that refuses direct I/O gets buffered writes.
    public var directWrites = true
    /// Bytes of the latest committed pieces kept in memory (`RecentPieces`): 16 MiB is a sequential
    /// reader's largest readahead window (`EngineConfiguration.maxReadaheadPieces` pieces of 1 MiB), so
    /// the pieces fetched ahead of a reader are answered from memory, not read back from the disk.
    public var recentPieceBytes = 16 << 20

    public init() {}
}
