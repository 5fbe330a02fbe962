import DOCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Deterministic pseudo-random content (SplitMix64), so any failure reproduces with the same bytes.
enum TestContent {
    static let MiB = 1 << 20

    static func bytes(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            let words = count / 8
            let p = raw.baseAddress!
            for i in 0..<words {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                p.storeBytes(of: z ^ (z >> 31), toByteOffset: i * 8, as: UInt64.self)
            }
            for i in (words * 8)..<count {
                state &+= 0x9E37_79B9_7F4A_7C15
                p.storeBytes(of: UInt8(truncatingIfNeeded: state >> 17), toByteOffset: i, as: UInt8.self)
            }
        }
        return out
    }

    /// Writes `bytes` to `path` (creating parent folders) and returns them.
    @discardableResult
    static func write(_ bytes: [UInt8], to path: String) throws -> [UInt8] {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw ChildProcess.Failure(description: "cannot write \(path)")
        }
        return bytes
    }

    /// Flips every bit of the byte at `offset` of the file at `path`, in place.
    static func flipByte(in path: String, at offset: Int) throws {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw PosixError(operation: "open", path: path, code: errno) }
        defer { close(fd) }
        var b: UInt8 = 0
        guard pread(fd, &b, 1, off_t(offset)) == 1 else { throw PosixError(operation: "pread", path: path, code: errno) }
        b ^= 0xFF
        guard pwrite(fd, &b, 1, off_t(offset)) == 1 else { throw PosixError(operation: "pwrite", path: path, code: errno) }
    }

    static func sha256(_ bytes: [UInt8]) -> String { SHA256.hash(bytes).hex }
}

extension Array where Element == UInt8 {
    /// This slice of the content, clipped to its end (a read past EOF returns fewer or no bytes).
    func expected(offset: Int, length: Int) -> [UInt8] {
        guard offset < count else { return [] }
        return Array(self[offset..<Swift.min(count, offset + length)])
    }
}

/// A seeded random number generator (SplitMix64) for reproducible offsets and sizes.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
