import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private temporary directory for one test (`/tmp/dofs-it-XXXXXX`, symlinks resolved so paths match
/// /proc/mounts). `remove()` deletes it, but never while anything is still mounted below it.
final class ScratchDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/dofs-it-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made, let resolved = realpath(made, nil) else {
            throw ChildProcess.Failure(description: "mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = String(cString: resolved)
        free(resolved)
    }

    /// Creates (with parents) and returns `<scratch>/<name>`.
    func directory(_ name: String) throws -> String {
        let p = "\(path)/\(name)"
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Deletes the directory tree; returns false (and keeps it) if a mount is still below it.
    @discardableResult
    func remove() -> Bool {
        if !MountTable.mountpoints(under: path).isEmpty { return false }
        try? FileManager.default.removeItem(atPath: path)
        return true
    }
}
