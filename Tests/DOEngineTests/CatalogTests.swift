import DOEngine
import XCTest

final class CatalogTests: XCTestCase {
    private func parse(_ json: String) throws -> Catalog { try Catalog.parse(Array(json.utf8)) }

    private let hoh = "q+OsiNzEudi8Rf5LXw0YFNzv/ZmhCZWj/77mtEgeDVc="

    func testParsesEntriesWithAndWithoutIntegrity() throws {
        let c = try parse("""
        [{"name": "a/b/c.bin", "url": "http://127.0.0.1/c.bin",
          "integrity": {"PiecesHashFileUrl": "http://127.0.0.1/c.bin.phf", "HashOfHashes": "\(hoh)"}},
         {"name": "plain.txt", "url": "https://example.invalid/plain.txt"}]
        """)
        XCTAssertEqual(c.entries.count, 2)
        XCTAssertEqual(c.entries[0].path, ["a", "b", "c.bin"])
        XCTAssertEqual(c.entries[0].integrity?.hashOfHashes.base64, hoh)
        XCTAssertEqual(c.entries[0].integrity?.recomputeHashOfHashes, true)
        XCTAssertNil(c.entries[1].integrity)
    }

    func testRefusesBadCatalogsWithAReason() {
        let bad: [(String, String)] = [
            ("{}", "not a JSON array"),
            ("[{\"name\": \"x\"}]", "missing url"),
            ("[{\"name\": \"../x\", \"url\": \"http://h/x\"}]", "'..' in a name"),
            ("[{\"name\": \"\", \"url\": \"http://h/x\"}]", "empty name"),
            ("[{\"name\": \"x\", \"url\": \"ftp://h/x\"}]", "non-http URL"),
            ("[{\"name\": \"x\", \"url\": \"http://h/x\"}, {\"name\": \"x\", \"url\": \"http://h/y\"}]", "duplicate"),
            ("[{\"name\": \"x\", \"url\": \"http://h/x\"}, {\"name\": \"x/y\", \"url\": \"http://h/y\"}]", "file and folder"),
            ("[{\"name\": \"by-url\", \"url\": \"http://h/x\"}]", "reserved name"),
            ("[{\"name\": \"x\", \"url\": \"http://h/x\", \"integrity\": {\"PiecesHashFileUrl\": \"http://h/p\", \"HashOfHashes\": \"short\"}}]", "bad HashOfHashes"),
        ]
        for (json, why) in bad {
            XCTAssertThrowsError(try parse(json), why) { error in
                XCTAssertFalse("\(error)".isEmpty, why)
            }
        }
    }
}
