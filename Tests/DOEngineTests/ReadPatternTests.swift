import DOCore
import DOEngine
import XCTest

final class ReadPatternTests: XCTestCase {
    let mib = 1 << 20
    let layout = PieceLayout(contentLength: 100 << 20)

    private func config(initial: Int = 2, max: Int = 16) -> EngineConfiguration {
        var c = EngineConfiguration()
        c.initialReadaheadPieces = initial
        c.maxReadaheadPieces = max
        return c
    }

    func testSequentialReaderWindowGrowsToTheMaximum() {
        let p = ReadPattern(config: config())
        var windows: [Int] = []
        for i in 0..<8 { windows.append(p.record(offset: i * mib, length: mib, layout: layout).count) }
        XCTAssertEqual(windows, [2, 4, 8, 16, 16, 16, 16, 16])
        XCTAssertEqual(p.record(offset: 8 * mib, length: mib, layout: layout), 9..<25)
    }

    func testRandomReaderGetsNoReadahead() {
        let p = ReadPattern(config: config())
        XCTAssertEqual(p.record(offset: 50 * mib + 7, length: 4096, layout: layout), 0..<0)
        XCTAssertEqual(p.record(offset: 10 * mib, length: 4096, layout: layout), 0..<0)
    }

    func testSeekResetsTheWindow() {
        let p = ReadPattern(config: config())
        for i in 0..<5 { _ = p.record(offset: i * mib, length: mib, layout: layout) }
        XCTAssertEqual(p.record(offset: 70 * mib, length: mib, layout: layout), 0..<0)
        XCTAssertEqual(p.record(offset: 71 * mib, length: mib, layout: layout).count, 2)
    }

    func testWindowStopsAtTheEndOfTheContent() {
        let small = PieceLayout(contentLength: 3 * mib)
        let p = ReadPattern(config: config())
        XCTAssertEqual(p.record(offset: 0, length: mib, layout: small), 1..<3)
        XCTAssertEqual(p.record(offset: 2 * mib, length: mib, layout: small), 3..<3)
    }
}
