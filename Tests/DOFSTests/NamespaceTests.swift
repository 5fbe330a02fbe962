import DOCore
import DOEngine
@testable import DOFS
import XCTest

/// `/by-url/` stays cheap however many names are looked up: listings are built once per change and
/// served by index, failed names leave the tree, and failures are remembered for a bounded time and number.
final class NamespaceTests: XCTestCase {
    func testListingTwentyThousandLookedUpNamesPageByPageIsLinear() {
        let namespace = Namespace(catalog: Catalog())
        let folder = byURLFolder(namespace)
        let long = String(repeating: "x", count: 900)
        for i in 0..<20_000 {
            let url = "http://127.0.0.1/\(long)/\(i)"
            _ = namespace.lookedUpNode(.url, key: url, origin: .url(url))
        }
        // What `ls` does: one readdir per buffer, each asking for the listing again (here: 4 names per call).
        let started = ContinuousClock.now
        var seen = 0
        var offset = 0
        while let listing = namespace.listing(of: folder), offset < listing.count {
            seen += min(4, listing.count - offset)
            offset += 4
        }
        let elapsed = ContinuousClock.now - started
        print("[unit] listing 20,000 names of 900+ bytes in pages of 4: \(elapsed)")
        XCTAssertEqual(seen, 20_000)
        XCTAssertLessThan(elapsed, .seconds(5), "5,000 readdir calls over 20,000 names must not re-sort the folder each time")
    }

    func testAForgottenNameLeavesTheListingAndTheTree() {
        let namespace = Namespace(catalog: Catalog())
        let folder = byURLFolder(namespace)
        let kept = namespace.lookedUpNode(.url, key: "http://a/kept", origin: .url("http://a/kept"))
        let failed = namespace.lookedUpNode(.url, key: "http://a/failed", origin: .url("http://a/failed"))
        XCTAssertEqual(namespace.listing(of: folder)?.count, 2)
        namespace.forget(.url, key: "http://a/failed", node: failed)
        XCTAssertEqual(namespace.listing(of: folder)?.map(\.ino), [kept.ino])
        XCTAssertNil(namespace.node(failed.ino))
        let again = namespace.lookedUpNode(.url, key: "http://a/failed", origin: .url("http://a/failed"))
        XCTAssertNotEqual(again.ino, failed.ino, "inode numbers are never reused")
    }

    func testNegativeAnswersExpireAndAreBoundedInNumber() {
        let negative = NegativeLookups(ttlSeconds: 0.2, capacity: 100)
        for i in 0..<1_000 { negative.record("url \(i)", errno: EIO) }
        XCTAssertEqual(negative.count, 100, "only the newest answers are kept")
        XCTAssertNil(negative.errno(for: "url 0"))
        XCTAssertEqual(negative.errno(for: "url 999"), EIO)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertNil(negative.errno(for: "url 999"), "an answer expires")
    }

    private func byURLFolder(_ namespace: Namespace) -> UInt64 {
        namespace.child(of: Namespace.rootIno, named: Namespace.byURLName)!
    }
}
