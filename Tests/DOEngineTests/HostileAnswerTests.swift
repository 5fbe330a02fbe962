import DOCore
@testable import DOEngine
import Logging
import XCTest

/// Answers no real server gives are refused with a reason, and repeated errors do not flood the log.
final class HostileAnswerTests: XCTestCase {
    func testAbsurdContentLengthsAreRefusedAndMissingOnesSaidSo() {
        let url = "http://127.0.0.1:1/x"
        XCTAssertEqual(try OriginProbe.contentLength("1048576", url: url), 1 << 20)
        for claimed in ["1000000000000000000", "9223372036854775808", "99999999999999999999999"] {
            XCTAssertThrowsError(try OriginProbe.contentLength(claimed, url: url)) { error in
                guard case .unsupportedSize(_, let c) = error as? FetchError else { return XCTFail("\(claimed): \(error)") }
                XCTAssertEqual(c, claimed)
                XCTAssertTrue("\(error)".contains("beyond what dofs supports"), "\(error)")
            }
        }
        for missing in [nil, "", "-1", "12abc"] {
            XCTAssertThrowsError(try OriginProbe.contentLength(missing, url: url)) { error in
                guard case .unknownSize? = error as? FetchError else { return XCTFail("\(String(describing: missing)): \(error)") }
            }
        }
    }

    func testPieceMathLimits() {
        XCTAssertTrue(PieceLayout.supports(contentLength: PieceLayout.maxPieceCount * PieceLayout.defaultPieceSize))
        XCTAssertFalse(PieceLayout.supports(contentLength: PieceLayout.maxPieceCount * PieceLayout.defaultPieceSize + 1))
        XCTAssertFalse(PieceLayout.supports(contentLength: Int.max))
        XCTAssertFalse(PieceLayout.supports(contentLength: -1))
    }

    func testErrorMessagesNeverShowURLCredentials() {
        let error = FetchError.httpStatus(url: "http://alice:s3cret@127.0.0.1:8080/file", status: 500)
        XCTAssertFalse("\(error)".contains("s3cret"), "\(error)")
        XCTAssertTrue("\(error)".contains("http://***@127.0.0.1:8080/file"), "\(error)")
    }

    func testAbsoluteCatalogNamesAreRefused() {
        let json = #"[{"name": "/etc/passwd", "url": "http://127.0.0.1/x"}]"#
        XCTAssertThrowsError(try Catalog.parse(Array(json.utf8))) { error in
            XCTAssertTrue("\(error)".contains("absolute"), "\(error)")
        }
    }

    func testARepeatedErrorIsLoggedOnceThenCounted() {
        let lines = CapturedLines()
        let logger = Logger(label: "test") { _ in CapturingHandler(lines: lines) }
        let log = RepeatingLog(intervalSeconds: 0.3)
        for i in 0..<500 { log.log(logger, .error, kind: "disk full", "cannot store piece \(i)") }
        log.log(logger, .error, kind: "other", "another kind is logged on its own")
        XCTAssertEqual(lines.all, ["cannot store piece 0", "another kind is logged on its own"])
        Thread.sleep(forTimeInterval: 0.4)
        log.log(logger, .error, kind: "disk full", "cannot store piece 500")
        XCTAssertEqual(lines.all.last, "cannot store piece 500 (499 more like this in the last 0.3 s)")
    }
}

private final class CapturedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

private struct CapturingHandler: LogHandler {
    let lines: CapturedLines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { lines.add("\(event.message)") }
}
