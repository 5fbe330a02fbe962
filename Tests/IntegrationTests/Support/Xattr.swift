import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Extended attributes through `getxattr(2)`, which Swift's Glibc module does not export.
enum Xattr {
    private typealias GetXattr = @convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafeMutableRawPointer?, Int) -> Int

    /// The attribute's value as UTF-8 text, or the errno (`ENODATA` when it does not exist).
    static func get(_ path: String, _ name: String) -> Result<String, PosixError> {
        guard let symbol = dlsym(nil, "getxattr") else {
            return .failure(PosixError(operation: "dlsym getxattr", path: path, code: ENOSYS))
        }
        let getxattr = unsafeBitCast(symbol, to: GetXattr.self)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let n = buffer.withUnsafeMutableBytes { getxattr(path, name, $0.baseAddress, $0.count) }
        guard n >= 0 else { return .failure(PosixError(operation: "getxattr \(name)", path: path, code: errno)) }
        return .success(String(decoding: buffer[..<n], as: UTF8.self))
    }
}
