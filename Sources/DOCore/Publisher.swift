import Foundation

/// Hashes a local file into pieces: the input to a pieces hash file.
public enum Publisher {
    public enum Failure: Error, CustomStringConvertible {
        case cannotOpen(path: String, errno: Int32)
        case readFailed(path: String, errno: Int32)
        case changedWhileReading(path: String)

        public var description: String {
            switch self {
            case .cannotOpen(let p, let e): return "cannot open \(p): \(String(cString: strerror(e)))"
            case .readFailed(let p, let e): return "cannot read \(p): \(String(cString: strerror(e)))"
            case .changedWhileReading(let p): return "\(p) changed size while it was being hashed"
            }
        }
    }

    /// Reads `path` piece by piece and returns its pieces hash file.
    public static func hashFile(atPath path: String, pieceSize: Int = PieceLayout.defaultPieceSize) throws -> PiecesHashFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure.cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure.readFailed(path: path, errno: errno) }
        let layout = PieceLayout(contentLength: Int(st.st_size), pieceSize: pieceSize)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(pieceSize, 1), alignment: 4096)
        defer { buffer.deallocate() }
        var pieces = [SHA256Digest]()
        pieces.reserveCapacity(layout.pieceCount)
        for index in 0..<layout.pieceCount {
            let range = layout.range(ofPiece: index)
            var filled = 0
            while filled < range.count {
                let n = pread(fd, buffer.baseAddress! + filled, range.count - filled, off_t(range.lowerBound + filled))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure.readFailed(path: path, errno: errno)
                }
                if n == 0 { throw Failure.changedWhileReading(path: path) }
                filled += n
            }
            pieces.append(SHA256.hash(UnsafeRawBufferPointer(rebasing: buffer[0..<filled])))
        }
        return PiecesHashFile(layout: layout, pieces: pieces)
    }
}
