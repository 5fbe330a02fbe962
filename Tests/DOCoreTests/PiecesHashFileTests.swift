import DOCore
import XCTest

final class PiecesHashFileTests: XCTestCase {
    private let eicar = Array("EICAR-STANDARD-ANTIVIRUS-TEST-FILE".utf8)

    func testPieceHashIsBase64OfSHA256AsDODocuments() {
        XCTAssertEqual(SHA256.hash(eicar).base64, "lwNZmN/ezTZciFrht39kHBSZyfbBHDeqQpS1wosp1DY=")
    }

    func testSection9VectorEicar() {
        let phf = PiecesHashFile(layout: PieceLayout(contentLength: eicar.count), pieces: [SHA256.hash(eicar)])
        XCTAssertEqual(phf.hashOfHashes.base64, "q+OsiNzEudi8Rf5LXw0YFNzv/ZmhCZWj/77mtEgeDVc=")
        XCTAssertEqual(phf.contentId.rawValue, "DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc=")
    }

    func testSection9VectorOneMiBOfZerosPlusHello() throws {
        let content = [UInt8](repeating: 0, count: 1 << 20) + Array("hello".utf8)
        let path = NSTemporaryDirectory() + "dofs-zeros-hello-\(getpid())"
        FileManager.default.createFile(atPath: path, contents: Data(content))
        defer { unlink(path) }
        let phf = try Publisher.hashFile(atPath: path)
        XCTAssertEqual(phf.pieces.map(\.base64), ["MOFJVevxNSJm3C/4Bn5oEEYH51CrudOzZYK4r5Cfy1g=",
                                                  "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="])
        XCTAssertEqual(phf.hashOfHashes.base64, "buHwDcx4lLv9nxU5SNauNKu+RKobyINgUYeHrFOhUOQ=")
        XCTAssertEqual(phf.contentId.rawValue, "DO-buHwDcx4lLv9nxU5SNauNKu_RKobyINgUYeHrFOhUOQ=")
    }

    func testDOFivePieceVectorGivesDofsHashOfHashesNotDOs() {
        let pieces = ["WXdd9JFACfSvd8pL4CzlApi6zSFcMZvaEco9C+Zcjgc=", "7ZyMYuVE3K+gFOLr9YJstAno6vzOeLxh5fLQ8mHKt4g=",
                      "kEyeX2FsHicx3AN64BNqAbaPMG4N/4HoME4mYX4ahCk=", "r1xSeMQBrq4Lp/VMMEtdGRCLr9DzJrjW+T/yj/IBMt4=",
                      "8rPNGdVaZxgYMQ9SkBnjIWZ9TbIHb9zfGnM7Ub8xtb0="].map { SHA256Digest(base64: $0)! }
        XCTAssertEqual(HashOfHashes.compute(pieces).base64, "0ZjTaGW78ixSboC9kTh7km7hH4L9m3S9oZdir6iV45k=")
    }

    func testParsesARealDOPiecesHashFileAndTrustsItByComparisonOnly() throws {
        let json = """
        {"MajorVersion":1,"MinorVersion":0,"HashOfHashes":"bLR+YkW147Gf10YSrQ6lgW3AC9E1aDesK3TaSr0DHJA=",
         "ContentLength":244530,"PieceSize":1048576,"Pieces":["J/rmYNjGCeAgcDu0Y7ZgHmKBHcddsZl1vLfWjZWbUn0="]}
        """
        let phf = try PiecesHashFile(json: Array(json.utf8))
        XCTAssertEqual(phf.layout.pieceCount, 1)
        XCTAssertEqual(phf.layout.contentLength, 244530)
        let trusted = SHA256Digest(base64: "bLR+YkW147Gf10YSrQ6lgW3AC9E1aDesK3TaSr0DHJA=")!
        XCTAssertNoThrow(try phf.verify(against: trusted, requireRecompute: false))
        XCTAssertThrowsError(try phf.verify(against: trusted, requireRecompute: true))
        XCTAssertFalse(phf.isDofsHashOfHashes)
    }

    func testEmitThenParseRoundTripsInDOKeyOrder() throws {
        let phf = PiecesHashFile(layout: PieceLayout(contentLength: eicar.count), pieces: [SHA256.hash(eicar)])
        let text = String(decoding: phf.jsonBytes(), as: UTF8.self)
        XCTAssertEqual(text, #"{"MajorVersion":1,"MinorVersion":0,"HashOfHashes":"q+OsiNzEudi8Rf5LXw0YFNzv/ZmhCZWj/77mtEgeDVc=","ContentLength":34,"PieceSize":1048576,"Pieces":["lwNZmN/ezTZciFrht39kHBSZyfbBHDeqQpS1wosp1DY="]}"#)
        XCTAssertEqual(try PiecesHashFile(json: phf.jsonBytes()), phf)
    }

    func testRefusesMalformedPiecesHashFiles() {
        let good = PiecesHashFile(layout: PieceLayout(contentLength: 3_000_000), pieces: (0..<3).map { SHA256.hash([UInt8($0)]) })
        func mutate(_ change: (inout [String: Any]) -> Void) -> [UInt8] {
            var obj = try! JSONSerialization.jsonObject(with: Data(good.jsonBytes())) as! [String: Any]
            change(&obj)
            return [UInt8](try! JSONSerialization.data(withJSONObject: obj))
        }
        let cases: [(String, [UInt8], (MetadataError) -> Bool)] = [
            ("not JSON", Array("{".utf8), { if case .malformedJSON = $0 { true } else { false } }),
            ("missing Pieces", mutate { $0["Pieces"] = nil }, { if case .malformedJSON = $0 { true } else { false } }),
            ("version 2", mutate { $0["MajorVersion"] = 2 }, { $0 == .unsupportedVersion(major: 2, minor: 0) }),
            ("short hash", mutate { $0["HashOfHashes"] = "AAAA" }, { if case .invalidHashOfHashes = $0 { true } else { false } }),
            ("piece not base64", mutate { $0["Pieces"] = ["!", "!", "!"] }, { if case .invalidPieceHash(0, _) = $0 { true } else { false } }),
            ("too few pieces", mutate { $0["Pieces"] = Array(($0["Pieces"] as! [String]).prefix(2)) },
             { $0 == .pieceCountMismatch(expected: 3, found: 2) }),
            ("negative length", mutate { $0["ContentLength"] = -1 }, { $0 == .invalidContentLength(-1) }),
            ("zero piece size", mutate { $0["PieceSize"] = 0 }, { $0 == .invalidPieceSize(0) }),
            ("string length", mutate { $0["ContentLength"] = "3000000" }, { if case .malformedJSON = $0 { true } else { false } }),
        ]
        for (name, bytes, matches) in cases {
            XCTAssertThrowsError(try PiecesHashFile(json: bytes), name) { error in
                XCTAssertTrue(matches(error as! MetadataError), "\(name): \(error)")
            }
        }
    }

    func testHashOfHashesMismatchIsRefused() {
        let phf = PiecesHashFile(layout: PieceLayout(contentLength: eicar.count), pieces: [SHA256.hash(eicar)])
        let other = SHA256.hash(Array("other".utf8))
        XCTAssertThrowsError(try phf.verify(against: other, requireRecompute: false))
        var forged = phf
        forged.pieces = [other]  // pieces swapped, declared HashOfHashes kept
        XCTAssertNoThrow(try forged.verify(against: phf.hashOfHashes, requireRecompute: false))
        XCTAssertThrowsError(try forged.verify(against: phf.hashOfHashes, requireRecompute: true))
    }
}
