import Foundation
import XCTest

/// Verified pieces, and the pieces hash file, outlive the mount: a remount on the same cache directory
/// serves them without a single origin request.
final class PersistenceTests: MountTestCase {
    private let MiB = TestContent.MiB

    private func mountReadAndUnmount(_ catalog: [CatalogEntry], _ name: String, _ content: [UInt8], _ what: String) throws {
        let m = try mount(catalog: catalog)
        let got = try readWhole("\(m.mountpoint)/\(name)").get()
        assertSameBytes(got, content, what)
        XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content), what)
        XCTAssertEqual(try m.unmount(), .exited(0), "dofs -f must exit 0 after fusermount3 -u (\(what))")
        XCTAssertFalse(m.isMounted)
    }

    func testRemountOnTheSameCacheDirReadsWithZeroOriginRequests() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 6 * MiB + 99, seed: 51)
        let catalog = [CatalogEntry(name: "six.bin", published: try publish(content, as: "six.bin", on: origin))]

        try mountReadAndUnmount(catalog, "six.bin", content, "first mount (cold)")
        let afterFirst = origin.entries()
        XCTAssertGreaterThan(afterFirst.count, 0, "the cold read must have reached the origin")

        try mountReadAndUnmount(catalog, "six.bin", content, "second mount (cached)")
        let afterSecond = origin.entries()
        XCTAssertEqual(afterSecond.count, afterFirst.count,
                       "a remount must not contact the origin, new requests:\n\(afterSecond.dropFirst(afterFirst.count).map(\.description).joined(separator: "\n"))")
    }

    func testRemountReadsCachedContentWithTheOriginStopped() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 4 * MiB + 1, seed: 52)
        let catalog = [CatalogEntry(name: "four.bin", published: try publish(content, as: "four.bin", on: origin))]

        try mountReadAndUnmount(catalog, "four.bin", content, "mount with the origin up")
        origin.stop()
        XCTAssertFalse(LoopbackPort.accepts(origin.port), "the origin must be down for this test")

        let m = try mount(catalog: catalog, readDeadline: 15)
        let path = m.mountpoint + "/four.bin"
        XCTAssertEqual(try stat(path).get().size, content.count, "size known from the cached PHF")
        assertReads(try readWhole(path, within: 30), content, "four.bin from the cache with the origin stopped")
        XCTAssertEqual(try xattr(path, "user.dofs.pieces").get(), "5/5", "all pieces are in the local cache")
    }
}
