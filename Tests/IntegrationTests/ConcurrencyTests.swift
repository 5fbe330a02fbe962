import DOCore
import Foundation
import XCTest

/// Many readers of one cold file share the fetches: each piece comes from the origin once.
final class ConcurrencyTests: MountTestCase {
    func testEightConcurrentReadersOfAColdFileGetCorrectBytesAndEachPieceIsFetchedOnce() throws {
        let MiB = TestContent.MiB
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 16 * MiB + 4321, seed: 71)
        let published = try publish(content, as: "shared.bin", on: origin)
        let mount = try mount(catalog: [CatalogEntry(name: "shared.bin", published: published)])
        let path = mount.mountpoint + "/shared.bin"
        let layout = PieceLayout(contentLength: content.count)

        // Eight threads, released together; each reads the whole file, starting at a different piece
        // and wrapping around, so that they collide on pieces in every order. Half of them use O_DIRECT,
        // so their reads reach dofs as they are instead of being merged in the kernel's page cache.
        let readers = 8
        let gate = DispatchGroup()
        gate.enter()
        let results = (0..<readers).map { _ in ResultBox<String>() }
        let finished = DispatchGroup()
        for r in 0..<readers {
            finished.enter()
            Thread {
                defer { finished.leave() }
                gate.wait()
                let file: ReadOnlyFile
                do { file = try ReadOnlyFile(path, direct: r % 2 == 1) } catch { return results[r].set("\(error)") }
                let startPiece = (r * 2) % layout.pieceCount
                for step in 0..<layout.pieceCount {
                    let piece = (startPiece + step) % layout.pieceCount
                    let range = layout.range(ofPiece: piece)
                    switch file.read(offset: range.lowerBound, length: range.count) {
                    case .failure(let e): return results[r].set("piece \(piece): \(e)")
                    case .success(let bytes) where bytes != Array(content[range]):
                        return results[r].set("piece \(piece): WRONG BYTES (\(bytes.count) B)")
                    case .success: continue
                    }
                }
                results[r].set("ok")
            }.start()
        }
        gate.leave()
        XCTAssertEqual(finished.wait(timeout: .now() + 120), .success, "8 readers did not finish within 120 s")
        for (r, result) in results.enumerated() {
            XCTAssertEqual(result.value, "ok", "reader \(r)")
        }

        let requests = origin.requests(matching: "/shared.bin").gets
        print("[it] concurrency: \(requests.count) GETs, \(requests.bodyBytes) B for a \(content.count) B file")
        for piece in 0..<layout.pieceCount {
            let first = layout.range(ofPiece: piece).lowerBound
            let covering = requests.filter { $0.requestedBytes(contentLength: content.count)?.contains(first) == true }
            XCTAssertEqual(covering.count, 1, "piece \(piece) must be fetched exactly once, requests covering it: \(covering)")
        }
        XCTAssertLessThanOrEqual(requests.bodyBytes, content.count + 64 * 1024,
                                 "origin sent \(requests.bodyBytes) B for a \(content.count) B file read by 8 readers")
    }
}
