import Foundation
import XCTest

extension DofsMount {
    /// `/by-url/` + the URL percent-encoded as one path component (only RFC 3986 unreserved bytes kept).
    func byURL(_ url: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        let encoded = url.utf8.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
        return "\(mountpoint)/by-url/\(encoded)"
    }
}

extension MountTestCase {
    /// Writes `bytes` as `name` in the fault origin's docroot and publishes it with its content URL in
    /// `mode` and its PHF served correctly.
    func publish(_ bytes: [UInt8], as name: String, on origin: FaultOrigin, mode: FaultOrigin.Mode,
                 query: String = "") throws -> DofsCLI.Published {
        try TestContent.write(bytes, to: origin.docroot + "/" + name)
        return try DofsCLI.publish(file: origin.docroot + "/" + name, url: origin.url(name, mode: mode) + query,
                                   phfOut: origin.docroot + "/" + name + ".phf", phfURL: origin.url(name + ".phf", mode: .ok),
                                   logDirectory: scratch.file("logs"))
    }

    /// Runs `dofs ARGS` to completion (60 s at most).
    func dofs(_ arguments: [String], timeout: TimeInterval = 60) throws -> ChildProcess.Outcome {
        try ChildProcess.run(DofsCLI.binaryPath, arguments, logDirectory: scratch.file("logs"), timeout: timeout)
    }

    /// Seconds `body` took.
    func timed<T>(_ body: () throws -> T) rethrows -> (T, TimeInterval) {
        let start = Date()
        let value = try body()
        return (value, Date().timeIntervalSince(start))
    }
}

/// Files and bytes under a cache folder.
enum CacheFolder {
    /// Bytes in piece files (verified, simple and staged), and the disk blocks of pack files (whose
    /// evicted ranges are holes: their length says nothing).
    ///
    /// Counted by inode: a piece renamed from `tmp/` to its final folder while the walk runs is seen
    /// under both names, and must count once.
    static func pieceBytes(_ cacheDir: String) -> Int {
        var total = 0
        var seen = Set<UInt>()
        guard let walker = FileManager.default.enumerator(atPath: cacheDir + "/pieces") else { return 0 }
        while let rel = walker.nextObject() as? String {
            var st = stat()
            if stat(cacheDir + "/pieces/" + rel, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, seen.insert(UInt(st.st_ino)).inserted {
                if rel.hasPrefix("packs/") {
                    if rel.hasSuffix(".pack") { total += Int(st.st_blocks) * 512 }
                } else {
                    total += Int(st.st_size)
                }
            }
        }
        return total
    }

    /// Temporary files a crash can leave: staged pieces and interrupted metadata saves.
    static func temporaryFiles(_ cacheDir: String) -> [String] {
        let fm = FileManager.default
        let staged = ((try? fm.contentsOfDirectory(atPath: cacheDir + "/pieces/tmp")) ?? []).map { "pieces/tmp/" + $0 }
        var metadata: [String] = []
        if let walker = fm.enumerator(atPath: cacheDir + "/metadata") {
            while let rel = walker.nextObject() as? String {
                if rel.contains(".tmp-") { metadata.append("metadata/" + rel) }
            }
        }
        return staged + metadata
    }
}
