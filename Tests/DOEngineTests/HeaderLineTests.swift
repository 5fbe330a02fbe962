@testable import DOHTTP
import XCTest

/// Response header lines as curl hands them over, parsed from their bytes.
final class HeaderLineTests: XCTestCase {
    private func parse(_ text: String) -> HeaderLine {
        Array(text.utf8).withUnsafeBytes { HeaderLine($0) }
    }

    func testHeaderNamesAreLowerCasedAndValuesLoseSurroundingBlanks() {
        XCTAssertEqual(parse("Content-Range: bytes 0-1048575/1073741824\r\n"),
                       .field(name: "content-range", value: "bytes 0-1048575/1073741824"))
        XCTAssertEqual(parse("ETAG:\t \"5f-abc\"  \r\n"), .field(name: "etag", value: "\"5f-abc\""))
        XCTAssertEqual(parse("X-Empty:\r\n"), .field(name: "x-empty", value: ""))
    }

    func testAColonInTheValueStaysInTheValue() {
        XCTAssertEqual(parse("Location: http://127.0.0.1:8080/a\r\n"), .field(name: "location", value: "http://127.0.0.1:8080/a"))
    }

    func testStatusLinesStartANewBlockAndOtherLinesAreIgnored() {
        XCTAssertEqual(parse("HTTP/1.1 206 Partial Content\r\n"), .status)
        XCTAssertEqual(parse("HTTP/2 200\r\n"), .status)
        XCTAssertEqual(parse("\r\n"), .other)
        XCTAssertEqual(parse("no colon here\r\n"), .other)
        XCTAssertEqual(parse(""), .other)
    }

    func testBytesThatAreNotUTF8AreRepairedNotTrusted() {
        let line: [UInt8] = Array("X-Odd: a".utf8) + [0xFF, 0xFE] + Array("b\r\n".utf8)
        guard case .field(let name, let value) = line.withUnsafeBytes({ HeaderLine($0) }) else { return XCTFail("not a field") }
        XCTAssertEqual(name, "x-odd")
        XCTAssertEqual(value, "a\u{FFFD}\u{FFFD}b")
    }
}
