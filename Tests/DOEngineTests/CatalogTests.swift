import DOCore
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

    func testARefusalNamesTheEntryItsNameAndTheField() {
        let cases: [(String, String)] = [
            (#"[{"name": "a", "url": "http://h/a"}, {"name": "images/big.iso", "url": "http://h/b", "integrity": {"PiecesHashFileUrl": "http://h/p"}}]"#,
             #"catalog: entry 1 ("images/big.iso"): field "integrity.HashOfHashes": missing"#),
            (#"[{"name": "a", "url": 5}]"#, #"catalog: entry 0 ("a"): field "url": must be a string"#),
            (#"[{"url": "http://h/a"}]"#, #"catalog: entry 0: field "name": missing"#),
            (#"[{"name": "a", "url": "ftp://h/a"}]"#, #"catalog: entry 0 ("a"): field "url": 'ftp://h/a' is not an http(s) URL"#),
            (#"[{"name": "a", "url": "http://h/a", "integrity": {"PiecesHashFileUrl": "http://h/p", "HashOfHashes": "short"}}]"#,
             #"catalog: entry 0 ("a"): field "integrity.HashOfHashes": 'short' is not base64 of 32 bytes"#),
            (#"[{"name": "a", "url": "http://h/a", "mtime": "soon"}]"#, #"catalog: entry 0 ("a"): field "mtime""#),
            (#"{"name": "a"}"#, "catalog: is not a JSON array of entries"),
        ]
        for (json, expected) in cases {
            XCTAssertThrowsError(try parse(json)) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "expected '\(expected)…', got '\(error)'")
            }
        }
    }

    func testLoadingNamesTheCatalogFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString).json").path
        try #"[{"name": "a", "url": true}]"#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try Catalog.load(path: path)) { error in
            XCTAssertEqual("\(error)", #"catalog \#(path): entry 0 ("a"): field "url": must be a string"#)
        }
    }

    func testAnEntryMayCarryItsModificationTimeAsRFC3339OrSeconds() throws {
        let c = try parse("""
        [{"name": "a", "url": "http://h/a", "mtime": "2020-01-02T03:04:05Z"},
         {"name": "b", "url": "http://h/b", "mtime": 1600000000},
         {"name": "c", "url": "http://h/c", "mtime": "2020-01-02T03:04:05.250+01:00"},
         {"name": "d", "url": "http://h/d"}]
        """)
        XCTAssertEqual(c.entries.map { $0.modificationTime?.timeIntervalSince1970 }, [1_577_934_245, 1_600_000_000, 1_577_930_645.25, nil])
    }

    // MARK: size and embedded pieces

    /// A one-piece content of `bytes`: its piece hash and HashOfHashes as a catalog writes them.
    private func onePiece(_ bytes: [UInt8]) -> (piece: String, hoh: String) {
        let piece = SHA256.hash(bytes)
        return (piece.base64, HashOfHashes.compute([piece]).base64)
    }

    func testAnEntryWithSizeAndEmbeddedPiecesCarriesACheckedPiecesHashFile() throws {
        let (piece, hoh) = onePiece(Array("hello".utf8))
        let c = try parse("""
        [{"name": "h.txt", "url": "http://h/h.txt", "size": 5, "mtime": 1600000000,
          "integrity": {"PiecesHashFileUrl": "http://h/h.txt.phf", "HashOfHashes": "\(hoh)", "Pieces": ["\(piece)"]}},
         {"name": "sized.bin", "url": "http://h/s", "size": 12345,
          "integrity": {"PiecesHashFileUrl": "http://h/s.phf", "HashOfHashes": "\(hoh)"}}]
        """)
        XCTAssertEqual(c.entries[0].size, 5)
        let phf = try XCTUnwrap(c.entries[0].embeddedPiecesHashFile)
        XCTAssertEqual(phf.layout.contentLength, 5)
        XCTAssertEqual(phf.pieces.map(\.base64), [piece])
        XCTAssertEqual(phf.hashOfHashes.base64, hoh)
        XCTAssertEqual(c.entries[1].size, 12345)
        XCTAssertNil(c.entries[1].embeddedPiecesHashFile, "no pieces given: the PHF is fetched at open")
    }

    func testEmbeddedPiecesThatDoNotMatchTheEntryAreRefusedNamingTheField() {
        let (piece, hoh) = onePiece(Array("hello".utf8))
        let (_, otherHoH) = onePiece(Array("other".utf8))
        let bad: [(String, String, String)] = [
            (#""size": 5, "integrity": {"PiecesHashFileUrl": "http://h/p", "HashOfHashes": "\#(otherHoH)", "Pieces": ["\#(piece)"]}"#,
             "integrity.Pieces", "pieces that do not hash to HashOfHashes"),
            (#""integrity": {"PiecesHashFileUrl": "http://h/p", "HashOfHashes": "\#(hoh)", "Pieces": ["\#(piece)"]}"#,
             "integrity.Pieces", "pieces without a size"),
            (#""size": 3000000, "integrity": {"PiecesHashFileUrl": "http://h/p", "HashOfHashes": "\#(hoh)", "Pieces": ["\#(piece)"]}"#,
             "integrity.Pieces", "fewer pieces than the size needs"),
            (#""size": 5, "recomputeHashOfHashes": false, "integrity": {"PiecesHashFileUrl": "http://h/p", "HashOfHashes": "\#(hoh)", "Pieces": ["\#(piece)"]}"#,
             "integrity.Pieces", "pieces that cannot be checked"),
            (#""size": -1"#, "size", "a negative size"),
            (#""size": 5, "integrity": {"PiecesHashFileUrl": "http://h/p", "HashOfHashes": "\#(hoh)", "PieceSize": 0, "Pieces": ["\#(piece)"]}"#,
             "integrity.PieceSize", "a zero piece size"),
        ]
        for (fields, field, why) in bad {
            XCTAssertThrowsError(try parse(#"[{"name": "x", "url": "http://h/x", \#(fields)}]"#), why) { error in
                XCTAssertTrue("\(error)".contains("field \"\(field)\""), "\(why): \(error)")
            }
        }
    }
}
