import DOCore
import Foundation
import XCTest

/// Verified mode end to end: `dofs publish`, a catalog, a real mount, reads that match the source.
final class VerifiedReadTests: MountTestCase {
    private let MiB = TestContent.MiB

    func testPublishWritesAPiecesHashFileMatchingTheFileAndPrintsItsIdentity() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 5 * MiB + MiB / 2, seed: 11)
        let published = try publish(content, as: "five.bin", on: origin, defaultPHFURL: true)

        XCTAssertEqual(published.Url, origin.url("five.bin"))
        XCTAssertEqual(published.PiecesHashFileUrl, origin.url("five.bin") + ".phf", "default PHF URL is URL + .phf")
        XCTAssertEqual(published.ContentLength, content.count)
        XCTAssertEqual(published.PieceSize, PieceLayout.defaultPieceSize)

        let phfBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: origin.path("five.bin.phf"))))
        let phf = try PiecesHashFile(json: phfBytes)
        let layout = PieceLayout(contentLength: content.count)
        XCTAssertEqual(phf.layout, layout)
        XCTAssertEqual(phf.pieces, (0..<layout.pieceCount).map { SHA256.hash(Array(content[layout.range(ofPiece: $0)])) },
                       "PHF piece hashes must be SHA-256 of each 1 MiB piece")
        XCTAssertEqual(phf.hashOfHashes.base64, published.HashOfHashes)
        XCTAssertTrue(phf.isDofsHashOfHashes, "HashOfHashes must be SHA-256 over the raw piece hashes (do-protocol 9.1)")
        XCTAssertEqual(published.ContentId, phf.contentId.rawValue)
    }

    func testWholeFileReadOfAVerifiedFileMatchesByteForByte() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 5 * MiB + MiB / 2, seed: 12)
        let published = try publish(content, as: "five.bin", on: origin)
        let mount = try mount(catalog: [CatalogEntry(name: "five.bin", published: published)])

        let path = mount.mountpoint + "/five.bin"
        XCTAssertEqual(try stat(path).get().size, content.count, "stat size must be the exact content length")
        let got = try readWhole(path).get()
        assertSameBytes(got, content, "five.bin read through the mount")
        XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content))
    }

    func testEdgeSizedFilesHaveExactSizesAndContent() throws {
        let origin = try startOrigin()
        let sizes: [(String, Int)] = [("empty.bin", 0), ("one.bin", 1), ("two-mib.bin", 2 * MiB), ("mib-plus-one.bin", MiB + 1)]
        var entries = [CatalogEntry]()
        var contents = [String: [UInt8]]()
        for (i, (name, size)) in sizes.enumerated() {
            let bytes = TestContent.bytes(count: size, seed: 100 + UInt64(i))
            contents[name] = bytes
            entries.append(CatalogEntry(name: name, published: try publish(bytes, as: name, on: origin)))
        }
        let mount = try mount(catalog: entries)

        XCTAssertEqual(try list(mount.mountpoint).get().filter { !MountTestCase.virtualFolders.contains($0) }, sizes.map(\.0).sorted(),
                       "the root lists exactly the catalog names (besides by-url/by-id)")
        for (name, size) in sizes {
            let path = "\(mount.mountpoint)/\(name)"
            let attributes = try stat(path).get()
            XCTAssertEqual(attributes.size, size, "ls size of \(name)")
            XCTAssertFalse(attributes.isDirectory, "\(name) is a file")
            assertReads(try readWhole(path), contents[name]!, "\(name) (\(size) bytes)")
            assertReads(try read(path, offset: size, length: 4096), [], "a read at EOF of \(name) returns 0 bytes")
        }
        if let last = contents["mib-plus-one.bin"] {
            assertReads(try read(mount.mountpoint + "/mib-plus-one.bin", offset: MiB, length: 10), [last[MiB]],
                        "the 1-byte last piece of a 1 MiB + 1 file")
        }
    }

    func testCatalogNamesWithSlashesAppearAsFolders() throws {
        let origin = try startOrigin()
        let names = ["a/b/c.bin", "a/d.bin", "top.bin"]
        var contents = [String: [UInt8]]()
        var entries = [CatalogEntry]()
        for (i, name) in names.enumerated() {
            let bytes = TestContent.bytes(count: 70_000 + i * 1000, seed: 200 + UInt64(i))
            contents[name] = bytes
            let flat = name.replacingOccurrences(of: "/", with: "_")
            entries.append(CatalogEntry(name: name, published: try publish(bytes, as: flat, on: origin)))
        }
        let mount = try mount(catalog: entries)
        let root = mount.mountpoint

        XCTAssertEqual(try list(root).get().filter { !MountTestCase.virtualFolders.contains($0) }, ["a", "top.bin"])
        XCTAssertEqual(try stat(root + "/a").get().isDirectory, true, "a is a folder")
        XCTAssertEqual(try list(root + "/a").get(), ["b", "d.bin"])
        XCTAssertEqual(try stat(root + "/a/b").get().isDirectory, true, "a/b is a folder")
        XCTAssertEqual(try list(root + "/a/b").get(), ["c.bin"])
        for name in names {
            XCTAssertEqual(try stat("\(root)/\(name)").get().size, contents[name]!.count, "size of \(name)")
            assertReads(try readWhole("\(root)/\(name)"), contents[name]!, name)
        }
    }
}
