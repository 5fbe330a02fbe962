import DOHTTP
import XCTest

final class HTTPDateTests: XCTestCase {
    func testLastModifiedInIMFFixdateFormIsRead() {
        XCTAssertEqual(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT")?.timeIntervalSince1970, 784_111_777)
        XCTAssertEqual(HTTPDate.parse("Fri, 13 Feb 2009 23:31:30 GMT")?.timeIntervalSince1970, 1_234_567_890)
    }

    func testMalformedOrObsoleteDatesAreTreatedAsAbsent() {
        for text in ["", "yesterday", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                     "Sun, 06 Nov 1994 08:49:37 CET", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT"] {
            XCTAssertNil(HTTPDate.parse(text), text)
        }
    }
}
