import DOCore
import XCTest

final class RedactedURLTests: XCTestCase {
    func testUserInfoIsReplacedAndEverythingElseKept() {
        XCTAssertEqual(RedactedURL.redacted("https://user:secret@cdn.example/a/b?x=1"), "https://***@cdn.example/a/b?x=1")
        XCTAssertEqual(RedactedURL.redacted("http://token@127.0.0.1:8080/f"), "http://***@127.0.0.1:8080/f")
    }

    func testURLsWithoutUserInfoComeBackUnchangedEvenWithAnAtSignInThePathOrQuery() {
        for url in ["http://127.0.0.1:8080/tree/d0/e0/f00000.dat", "https://cdn.example/a@b/c", "https://cdn.example/?who=a@b", "not a url"] {
            XCTAssertEqual(RedactedURL.redacted(url), url)
        }
    }
}
