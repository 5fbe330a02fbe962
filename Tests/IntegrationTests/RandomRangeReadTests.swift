import Foundation
import XCTest

/// Arbitrary positional reads (any size, any offset, across piece boundaries and past EOF) return
/// exactly the source bytes.
final class RandomRangeReadTests: MountTestCase {
    func testTwoHundredRandomPreadsMatchTheSourceBytes() throws {
        let MiB = TestContent.MiB
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 20 * MiB + 12_345, seed: 21)
        let published = try publish(content, as: "twenty.bin", on: origin)
        let mount = try mount(catalog: [CatalogEntry(name: "twenty.bin", published: published)])

        var rng = SeededGenerator(seed: 2024)
        let size = content.count
        var reads: [(offset: Int, length: Int)] = [(size, 1), (size - 1, 10), (size + 5 * MiB, 4096), (0, 1),
                                                   (MiB - 1, 2), (3 * MiB, 3 * MiB), (size - 3 * MiB, 3 * MiB)]
        while reads.count < 200 {
            // Sizes spread over 1 B ... 3 MiB on a log scale; a tenth of the offsets land past EOF.
            let length = max(1, Int(pow(2.0, Double.random(in: 0...log2(Double(3 * MiB)), using: &rng))))
            let offset = Int.random(in: 0...9, using: &rng) == 0 ? Int.random(in: size...(size + MiB), using: &rng)
                                                                  : Int.random(in: 0..<size, using: &rng)
            reads.append((offset, length))
        }
        let path = mount.mountpoint + "/twenty.bin"
        let plan = reads
        let failures: [String] = try withDeadline(180, "200 preads on \(path)") {
            let file: ReadOnlyFile
            do { file = try ReadOnlyFile(path) } catch { return ["\(error)"] }
            var failures = [String]()
            for (i, r) in plan.enumerated() {
                switch file.read(offset: r.offset, length: r.length) {
                case .failure(let error):
                    failures.append("read #\(i) (\(r.length) B at \(r.offset)): \(error)")
                case .success(let got):
                    let want = content.expected(offset: r.offset, length: r.length)
                    if got != want {
                        let diff = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                        failures.append("read #\(i) (\(r.length) B at \(r.offset)): \(got.count) bytes, expected \(want.count), "
                                        + "first difference at +\(diff.map(String.init) ?? "length")")
                    }
                }
            }
            return failures
        }
        XCTAssertTrue(failures.isEmpty, "\(failures.count) of 200 preads were wrong:\n" + failures.prefix(10).joined(separator: "\n"))
    }
}
