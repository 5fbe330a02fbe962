@testable import DOControlPlane
import DOCore
import Foundation
import XCTest

/// The PostgreSQL registry's per-instance memory of found contents (`RegistryLookupCache`).
final class RegistryLookupCacheTests: XCTestCase {
    private func content(_ url: String) throws -> RegisteredContent {
        RegisteredContent(contentId: try ContentId("DO-cache-test"), hashOfHashes: SHA256Digest(base64: String(repeating: "A", count: 43) + "=")!,
                          layout: PieceLayout(contentLength: 10, pieceSize: 1 << 20), urls: [url], piecesHashFileUrls: [],
                          hasStoredPiecesHashFile: false, registeredAt: 0)
    }

    func testAFoundContentIsKeptUntilALocalPublishAndALookupOlderThanThePublishStoresNothing() throws {
        let cache = RegistryLookupCache()
        let key = RegistryLookupCache.Key(id: "DO-cache-test", url: nil)
        XCTAssertNil(cache.content(key))
        cache.store(try content("http://a/"), for: key, generation: cache.generation)
        XCTAssertEqual(cache.content(key)?.urls, ["http://a/"])
        XCTAssertNil(cache.content(RegistryLookupCache.Key(id: "DO-cache-test", url: "http://a/")), "a lookup by URL is another key")

        let before = cache.generation
        cache.invalidate()
        XCTAssertNil(cache.content(key), "a publish through this instance empties it")
        cache.store(try content("http://stale/"), for: key, generation: before)
        XCTAssertNil(cache.content(key), "an answer read before the publish is not kept")
        cache.store(try content("http://b/"), for: key, generation: cache.generation)
        XCTAssertEqual(cache.content(key)?.urls, ["http://b/"])
    }

    func testAKeptContentExpiresAfterItsLifetime() throws {
        let cache = RegistryLookupCache()
        let key = RegistryLookupCache.Key(id: "DO-cache-test", url: nil)
        cache.store(try content("http://a/"), for: key, generation: cache.generation)
        Thread.sleep(forTimeInterval: Double(RegistryLookupCache.lifetime.components.seconds) + 0.3)
        XCTAssertNil(cache.content(key), "a change published elsewhere is seen after the lifetime")
    }
}
