import Foundation
import XCTest

/// The user.dofs.* extended attributes describe a content file: identity, mode, cached pieces, sources.
final class XattrTests: MountTestCase {
    private let MiB = TestContent.MiB

    private func sources(_ path: String) throws -> [String: Int] {
        let text = try xattr(path, "user.dofs.sources").get()
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            XCTFail("user.dofs.sources is not a JSON object: \(text)")
            return [:]
        }
        return object.compactMapValues { ($0 as? NSNumber)?.intValue }
    }

    func testXattrsReportContentIdVerifiedModeAllPiecesAndCDNBytesAfterAFullRead() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 3 * MiB + MiB / 2, seed: 111)
        let published = try publish(content, as: "x.bin", on: origin)
        let mount = try mount(catalog: [CatalogEntry(name: "x.bin", published: published)])
        let path = mount.mountpoint + "/x.bin"

        XCTAssertEqual(try xattr(path, "user.dofs.content_id").get(), published.ContentId, "content_id is publish's ContentId")
        XCTAssertEqual(try xattr(path, "user.dofs.mode").get(), "verified")
        let before = try xattr(path, "user.dofs.pieces").get()
        XCTAssertTrue(before.hasSuffix("/4"), "TOTAL of a 3.5 MiB file is 4 pieces: \(before)")

        assertReads(try readWhole(path), content, "x.bin")
        XCTAssertEqual(try xattr(path, "user.dofs.pieces").get(), "4/4", "all pieces cached after a full read")
        let bySource = try sources(path)
        XCTAssertEqual(bySource["cdn"] ?? -1, content.count, "a cold full read fetches each byte from the CDN exactly once: \(bySource)")
        XCTAssertEqual(bySource["peer"] ?? 0, 0, "no peers in this test: \(bySource)")
    }

    func testPiecesXattrCountsCachedPiecesAfterARemount() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 2 * MiB + 1, seed: 112)
        let published = try publish(content, as: "y.bin", on: origin)
        let catalog = [CatalogEntry(name: "y.bin", published: published)]
        let first = try mount(catalog: catalog)
        assertReads(try readWhole(first.mountpoint + "/y.bin"), content, "y.bin, first mount")
        try first.unmount()

        let second = try mount(catalog: catalog)
        XCTAssertEqual(try xattr(second.mountpoint + "/y.bin", "user.dofs.pieces").get(), "3/3",
                       "pieces cached by the first mount count before any read")
        XCTAssertEqual(try xattr(second.mountpoint + "/y.bin", "user.dofs.content_id").get(), published.ContentId)
    }
}
