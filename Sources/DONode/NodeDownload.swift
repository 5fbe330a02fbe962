import DOCore
import DOEngine
import Foundation
import Synchronization

/// What `dofs get` names: a content ID (`DO-...` or any ID the control plane knows), or a URL.
public enum DownloadTarget: Sendable, Equatable, CustomStringConvertible {
    case contentId(ContentId)
    case url(String)

    /// A string that parses as a content ID is one; anything else must be an http(s) URL.
    public init?(_ text: String) {
        if HTTPURL.isValid(text) {
            self = .url(text)
        } else if let id = try? ContentId(text) {
            self = .contentId(id)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .contentId(let id): return id.rawValue
        case .url(let url): return RedactedURL.redacted(url)
        }
    }
}

extension Node {
    /// Fetches `target` whole through this node's engine (control plane, swarm, cache hosts, CDN, every
    /// piece verified as for a read) and writes it to `output`, atomically: the bytes go to a temporary
    /// file beside it, which is synced and renamed over `output` only when every byte is there. On any
    /// failure, or cancellation, the temporary file is removed and `output` is untouched.
    ///
    /// `progress` is called after each piece. The content stays open afterwards, so while the node runs
    /// its peer server shares the pieces and its swarm membership is renewed (`dofs get --seed-for`).
    /// A simple-mode content (a URL no trusted publisher vouches for) is written too; the outcome's
    /// `mode` says so.
    public func download(_ target: DownloadTarget, to output: String,
                         progress: @escaping @Sendable (PrefetchProgress) -> Void) async throws(NodeError) -> PrefetchOutcome {
        let name = target.description
        let session: ContentSession
        do {
            switch target {
            case .contentId(let id): session = try await engine.open(contentId: id)
            case .url(let url): session = try await engine.open(url: url)
            }
        } catch {
            throw .fetch(path: name, reason: "\(error)")
        }
        let started = ContinuousClock.now
        let before = session.traffic
        do throws(FetchError) {
            try await session.fetchWhole { p in
                progress(PrefetchProgress(path: name, piecesDone: p.piecesDone, piecesTotal: p.piecesTotal,
                                          bytesDone: p.bytesDone, bytesTotal: p.bytesTotal,
                                          fetched: session.traffic - before,
                                          elapsedSeconds: (ContinuousClock.now - started).seconds))
            }
        } catch {
            throw .fetch(path: name, reason: "\(error)")
        }
        let fetched = session.traffic - before
        try await AtomicFileWriter.write(to: output, length: session.layout.contentLength) { (offset, length) async throws(NodeError) -> [PieceSlice] in
            do throws(FetchError) {
                return try await session.read(offset: offset, length: length)
            } catch {
                throw .fetch(path: name, reason: "reading back piece at offset \(offset): \(error)")
            }
        }
        return outcome(output, session, fetched: fetched, since: started, background: false)
    }
}

/// Writes a file all or nothing: into `<name>.dofs-partial-<random>` in the same folder (created with
/// `O_EXCL`, mode 0644), synced, then renamed over the target and the folder synced. Whatever fails
/// (or a cancelled task) removes the temporary file; the target is never seen half-written.
enum AtomicFileWriter {
    /// How much is asked of `chunk` at a time: a piece's worth at DO's default piece size.
    static let chunkBytes = 1 << 20

    static func write(to path: String, length: Int,
                      chunk: (_ offset: Int, _ length: Int) async throws(NodeError) -> [PieceSlice]) async throws(NodeError) {
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let temporary = folder + "/." + (path as NSString).lastPathComponent + ".dofs-partial-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .output("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var renamed = false
        defer {
            if !renamed { unlink(temporary) }
        }
        do throws(NodeError) {
            var offset = 0
            while offset < length {
                if Task.isCancelled { throw NodeError.output("cancelled; \(path) left as it was") }
                let n = min(chunkBytes, length - offset)
                var written = 0
                for slice in try await chunk(offset, n) {
                    try writeAll(fd, slice, path: temporary)
                    written += slice.count
                }
                guard written == n else { throw NodeError.output("short read of the content at offset \(offset): \(written) of \(n) bytes") }
                offset += n
            }
            guard fsync(fd) == 0 else { throw NodeError.output("cannot sync \(temporary): \(String(cString: strerror(errno)))") }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            throw .output("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
        renamed = true
        let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            close(dir)
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: PieceSlice, path: String) throws(NodeError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .output("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }
}
