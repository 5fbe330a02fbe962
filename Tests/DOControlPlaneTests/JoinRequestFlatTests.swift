@testable import DOControlPlane
import Foundation
import XCTest

/// The join body's fast path (`JoinRequest.flat`) reads what it reads exactly as `JSONDecoder` does,
/// and leaves everything else to the decoder.
final class JoinRequestFlatTests: XCTestCase {
    private func decoded(_ text: String) -> JoinRequest? { try? JSONDecoder().decode(JoinRequest.self, from: Data(text.utf8)) }

    func testFlatBodiesReadAsTheDecoderReadsThem() throws {
        let bodies = [
            #"{"ContentId":"bench-7","PeerId":"00000000000000000000000000000000000000a1","Port":"7680","Scope":"3","PeersWanted":"50","Uploaded":"0","Downloaded":"0","Left":"0","JoinRequestEvent":"0","Seq":"12"}"#,
            " {\n\t\"PeerId\" : \"ab\" ,\r\n \"ReportedIp\":\"10.0.0.1\", \"SubnetMask\":\"255.255.255.0\", \"GroupId\":\"g 1/2\" } \n",
            #"{"AltCatalogId":"http://example.com/a?b=c&d","ClientCompactVersion":"10.0.19041","Unknown":"ignored","Profile":""}"#,
            "{}",
        ]
        for body in bodies {
            let fast = try XCTUnwrap(JoinRequest.flat(Array(body.utf8)), "read by the fast path: \(body)")
            XCTAssertEqual(fast, decoded(body), body)
        }
        XCTAssertEqual(JoinRequest.flat(Array(bodies[0].utf8))?.peersWanted, "50")
    }

    func testBodiesOutsideTheFastPathAreLeftToTheDecoder() {
        let bodies = [
            #"{"PeerId":"a\"b"}"#,                    // an escape
            #"{"PeerId":"ä"}"#,                        // not ASCII
            #"{"PeerId":12}"#,                         // not a string: the decoder refuses it
            #"{"Extra":{"x":"y"},"PeerId":"ab"}"#,     // nested (the decoder ignores it)
            #"{"PeerId":"ab","PeerId":"cd"}"#,         // a key twice
            #"{"PeerId":"ab"} x"#,                     // trailing bytes
            #"{"PeerId":"ab",}"#,                      // a trailing comma
            #"{"PeerId":"ab""#,                        // cut short
            "[]", "", "\"PeerId\"",
        ]
        for body in bodies { XCTAssertNil(JoinRequest.flat(Array(body.utf8)), body) }
    }

    func testWhateverTheFastPathReadsTheDecoderReadsTheSame() {
        let base = Array(#"{"ContentId":"c-1","PeerId":"0123456789abcdef0123456789abcdef01234567","Port":"7680","Scope":"2","GroupId":"g"}"#.utf8)
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]":,\ "aZ09"#.utf8)
        var read = 0
        for _ in 0..<3_000 {
            var body = base
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let at = Int.random(in: 0..<body.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: body.remove(at: at)
                case 1: body.insert(alphabet.randomElement(using: &generator)!, at: at)
                default: body[at] = alphabet.randomElement(using: &generator)!
                }
            }
            guard let fast = JoinRequest.flat(body) else { continue }
            read += 1
            let text = String(decoding: body, as: UTF8.self)
            XCTAssertEqual(fast, decoded(text), "the fast path read what the decoder reads otherwise: \(text)")
        }
        XCTAssertGreaterThan(read, 100, "some mutated bodies are still flat")
    }
}
