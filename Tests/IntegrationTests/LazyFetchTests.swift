import Foundation
import XCTest

/// dofs fetches only what a read needs: nothing is downloaded up front.
final class LazyFetchTests: MountTestCase {
    func testReading4KiBInTheMiddleOfACold64MiBFileFetchesOnlyNearbyPieces() throws {
        let MiB = TestContent.MiB
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 64 * MiB, seed: 31)
        let published = try publish(content, as: "big.bin", on: origin)
        let mount = try mount(catalog: [CatalogEntry(name: "big.bin", published: published)])
        let path = mount.mountpoint + "/big.bin"

        let offset = 32 * MiB + MiB / 2
        assertReads(try read(path, offset: offset, length: 4096), content.expected(offset: offset, length: 4096),
                    "4 KiB in the middle of big.bin")
        Thread.sleep(forTimeInterval: 1)   // let any readahead the read started reach the log

        let requests = origin.requests(matching: "/big.bin")
        print("[it] lazy: origin requests for one 4 KiB read: \(requests)")
        XCTAssertLessThanOrEqual(requests.rangeRequests.count, 3, "range requests for one 4 KiB read:\n\(requests)")
        XCTAssertEqual(requests.gets.count, requests.rangeRequests.count, "every GET must be a range request: \(requests)")
        XCTAssertLessThanOrEqual(requests.bodyBytes, 4 * MiB, "origin bytes for one 4 KiB read:\n\(requests)")
        XCTAssertTrue(requests.rangeRequests.contains { $0.requestedBytes(contentLength: content.count)?.contains(offset) == true },
                      "no request covered the byte that was read: \(requests)")

        let pieces = try xattr(path, "user.dofs.pieces").get()
        let parts = pieces.split(separator: "/").compactMap { Int($0) }
        XCTAssertEqual(parts.count, 2, "user.dofs.pieces must be HAVE/TOTAL, got \(pieces)")
        if parts.count == 2 {
            XCTAssertEqual(parts[1], 64, "TOTAL pieces of a 64 MiB file")
            XCTAssertGreaterThanOrEqual(parts[0], 1, "the piece that was read must be cached")
            XCTAssertLessThanOrEqual(parts[0], 4, "only pieces near the read may be cached, got \(pieces)")
        }
    }
}
