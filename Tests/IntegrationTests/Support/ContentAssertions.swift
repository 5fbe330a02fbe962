import Foundation
import XCTest

/// Paths into a mount's virtual folders, and what a verified or a simple-mode read must look like.
extension MountTestCase {
    /// `/by-url/` + the URL percent-encoded as one path component (only RFC 3986 unreserved bytes kept).
    func byURL(_ mount: DofsMount, _ url: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        let encoded = url.utf8.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
        return "\(mount.mountpoint)/by-url/\(encoded)"
    }

    func byID(_ mount: DofsMount, _ contentId: String) -> String { "\(mount.mountpoint)/by-id/\(contentId)" }

    /// Reads the whole file and checks it byte for byte (and by SHA-256), then its mode and content ID.
    func assertVerifiedRead(_ path: String, _ content: [UInt8], contentId: String, _ what: String,
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        let got = try readWhole(path).get()
        assertSameBytes(got, content, what, file: file, line: line)
        XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content), "\(what): SHA-256", file: file, line: line)
        XCTAssertEqual(try xattr(path, "user.dofs.mode").get(), "verified", "\(what): mode", file: file, line: line)
        XCTAssertEqual(try xattr(path, "user.dofs.content_id").get(), contentId, "\(what): content_id", file: file, line: line)
    }

    /// Reads the whole file and checks it byte for byte; it must be in simple mode, without a content ID,
    /// and give a reason containing one of `reasonContains` (case-insensitive). Returns the reason.
    @discardableResult
    func assertSimpleRead(_ path: String, _ content: [UInt8], reasonContains: [String], _ what: String,
                                  file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let got = try readWhole(path).get()
        assertSameBytes(got, content, what, file: file, line: line)
        XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content), "\(what): SHA-256", file: file, line: line)
        XCTAssertEqual(try xattr(path, "user.dofs.mode").get(), "simple", "\(what): mode", file: file, line: line)
        assertFails(try xattr(path, "user.dofs.content_id"), with: [ENODATA], "\(what): simple mode has no content_id",
                    file: file, line: line)
        let reason = (try? xattr(path, "user.dofs.mode_reason").get()) ?? "(no user.dofs.mode_reason)"
        XCTAssertTrue(reasonContains.contains { reason.lowercased().contains($0.lowercased()) },
                      "\(what): mode_reason should mention \(reasonContains.joined(separator: " or ")): \(reason)",
                      file: file, line: line)
        return reason
    }
}
