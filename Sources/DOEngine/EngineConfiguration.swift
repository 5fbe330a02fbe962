/// Tunables of the piece engine, with the reason for each default.
public struct EngineConfiguration: Sendable {
    /// A read that cannot be served within this many seconds fails with EIO instead of hanging.
    /// 60 s outlasts a slow origin's retries but not a dead one.
    public var readDeadlineSeconds: Double = 60
    /// After a read of a piece fails (deadline or error), further reads of that piece fail at once for
    /// this long. The kernel answers a failed readahead by asking for the same page again at once; that
    /// retry must not wait a whole deadline again. 5 s outlasts such retries by far, yet a reader that
    /// tries again later gets a fresh fetch.
    public var failedPieceHoldSeconds = 5.0
    /// Most failed pieces remembered per content: bounds the memory a failing content can take.
    public var maxHeldFailures = 4096
    /// Tries per piece across all sources before the read fails. Four rides out a restarting origin
    /// (with the back-off below, about 2 s in all) without turning one bad source into minutes of waiting.
    public var maxAttemptsPerPiece = 4
    /// First back-off between tries of one piece, doubled each time up to `maxBackoffSeconds`.
    public var initialBackoffSeconds = 0.25
    public var maxBackoffSeconds = 5.0
    /// Largest readahead window for a sequential reader, in pieces. 16 MiB in flight keeps a loopback or
    /// LAN link busy while bounding memory (each in-flight piece is buffered once).
    public var maxReadaheadPieces = 16
    /// Window a sequential reader starts with; it doubles with every sequential read up to the maximum.
    public var initialReadaheadPieces = 2
    /// Largest pieces hash file accepted: 32 MiB holds ~700,000 piece hashes (a 700 GiB content).
    public var maxPiecesHashFileBytes = 32 << 20
    /// A content that fell to simple mode only because the control plane could not be asked is asked
    /// again after this many seconds, so it turns verified soon after the control plane is back.
    public var revalidateSimpleSeconds = 10.0
    /// How long opening a verified content waits, once its pieces hash file is in hand, for the HEAD
    /// that learns the origin's `Last-Modified` (the file's date). On a LAN the answer comes with the
    /// PHF; 0.5 s keeps a slow or dead origin from holding up a lookup for a date.
    public var modificationTimeWaitSeconds = 0.5
    /// Pieces a whole-content fetch (`dofs prefetch`) keeps in flight: as many as a sequential reader's
    /// largest readahead window, so a prefetch loads the link as a reader would, and no more memory.
    public var prefetchParallelPieces = 16
    /// Bytes of verified pieces a content's readers may be answered with before their disk write ended
    /// (`PendingWrites`). A reply used to wait for its piece's direct write, so a cold read went at
    /// the disk's pace; 16 MiB (a readahead window) lets the writes run behind the replies, and past it
    /// the disk paces the read again, so memory stays bounded. Small pieces go behind too: theirs is
    /// a write to memory, but waiting for it took the reply through two thread hand-offs. 0 waits for
    /// every write.
    public var writeBehindBytes = 16 << 20
    /// Complete contents of at least this size get a whole copy that FUSE passthrough serves
    /// (`WholeCopies`). A copy costs a file, a second copy of the bytes on disk and a re-hash; smaller
    /// contents (a tree of small files) are read once, each from one piece in a pack, where that buys
    /// nothing. 8 MiB is where a reread's time starts to be the FUSE server's, not the open's.
    public var wholeCopyMinBytes = 8 << 20
    /// How the piece cache writes and keeps pieces (see `PieceStoreConfiguration` for each default).
    public var pieceStore = PieceStoreConfiguration()
    /// Budgets and hedging of the piece scheduler (see `SchedulerConfiguration` for each default).
    public var scheduler = SchedulerConfiguration()

    public init() {}
}
