import DOCore
import XCTest

final class ContentIdTests: XCTestCase {
    func testDOIdRoundTripsToItsHashOfHashes() throws {
        let hoh = SHA256Digest(base64: "q+OsiNzEudi8Rf5LXw0YFNzv/ZmhCZWj/77mtEgeDVc=")!
        let id = ContentId(hashOfHashes: hoh)
        XCTAssertEqual(id.rawValue, "DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc=")
        XCTAssertEqual(id.hashOfHashes, hoh)
        XCTAssertEqual(try ContentId(id.rawValue), id)
    }

    func testOtherPublishersIdsAreOpaqueButValid() throws {
        XCTAssertNoThrow(try ContentId("ec523d49c4f7c3c4444f0d9b952286ce40fdcee4"))
        XCTAssertNoThrow(try ContentId("test"))
        XCTAssertNil(try ContentId("test").hashOfHashes)
    }

    func testMalformedIdsAreRefused() {
        for bad in ["", ".", "..", "a/b", "a b", "DO-\u{0}", String(repeating: "a", count: 201), "é"] {
            XCTAssertThrowsError(try ContentId(bad), "'\(bad)' should be refused")
        }
    }

    func testHexAndBase64Strictness() {
        XCTAssertNil(SHA256Digest(base64: "q+OsiNzEudi8Rf5LXw0YFNzv/ZmhCZWj/77mtEgeDVc"))  // no padding
        XCTAssertNil(SHA256Digest(hex: String(repeating: "g", count: 64)))
        XCTAssertNotNil(SHA256Digest(hex: String(repeating: "A", count: 64)))
    }
}
