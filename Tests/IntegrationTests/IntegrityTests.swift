import DOCore
import Foundation
import XCTest

/// Verified mode never hands out bytes that do not hash to the pieces hash file, and refuses a pieces
/// hash file that the catalog's HashOfHashes does not vouch for.
final class IntegrityTests: MountTestCase {
    private let MiB = TestContent.MiB

    func testTamperedOriginPieceIsNeverServedAndOtherPiecesStillAre() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 6 * MiB, seed: 41)
        let published = try publish(content, as: "six.bin", on: origin)
        let k = 3
        try TestContent.flipByte(in: origin.path("six.bin"), at: k * MiB + 777)
        let mount = try mount(catalog: [CatalogEntry(name: "six.bin", published: published)], readDeadline: 20)
        let path = mount.mountpoint + "/six.bin"

        let start = Date()
        let tampered = try read(path, offset: k * MiB, length: MiB, within: 45)
        assertFails(tampered, with: [EIO], "reading tampered piece \(k)")
        if case .success(let bytes) = tampered, bytes != content.expected(offset: k * MiB, length: MiB) {
            XCTFail("dofs served \(bytes.count) bytes of piece \(k) that differ from the published content")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "a bad piece must fail after a bounded number of refetches")
        let refetches = origin.requests(matching: "/six.bin").rangeRequests
            .filter { $0.requestedBytes(contentLength: content.count)?.contains(k * MiB + 777) == true }
        XCTAssertGreaterThanOrEqual(refetches.count, 1, "piece \(k) was never requested")
        XCTAssertLessThanOrEqual(refetches.count, 10, "piece \(k) refetched without bound: \(refetches.count) times")

        for piece in (0..<6) where piece != k {
            assertReads(try read(path, offset: piece * MiB, length: MiB), content.expected(offset: piece * MiB, length: MiB),
                        "untampered piece \(piece)")
        }
        assertFails(try read(path, offset: k * MiB + 700, length: 100), with: [EIO], "a small read inside tampered piece \(k), later")
    }

    func testPiecesHashFileWithAnotherHashOfHashesThanTheCatalogIsRefused() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 3 * MiB, seed: 42)
        let published = try publish(content, as: "three.bin", on: origin)
        let wrong = SHA256.hash(Array("not the HashOfHashes of three.bin".utf8)).base64
        let entry = CatalogEntry(name: "three.bin", url: published.Url,
                                 integrity: .init(PiecesHashFileUrl: published.PiecesHashFileUrl, HashOfHashes: wrong))
        let mount = try mount(catalog: [entry], readDeadline: 10)
        let path = mount.mountpoint + "/three.bin"

        // Lookup may already fail with EIO; if it succeeds, open/read must.
        switch try read(path, offset: 0, length: 64 * 1024, within: 30) {
        case .success(let bytes):
            XCTFail("dofs served \(bytes.count) bytes although the PHF's HashOfHashes does not match the catalog")
        case .failure(let error):
            XCTAssertEqual(error.code, EIO, "expected EIO for an untrusted PHF, got \(error)")
        }
        assertFails(try readWhole(path, within: 30), with: [EIO], "whole-file read of three.bin")
        XCTAssertEqual(origin.requests(matching: "/three.bin").bodyBytes, 0,
                       "content bytes were fetched for a content whose PHF was refused")
    }

    func testContentReplacedOnTheOriginAfterPublishGivesEIO() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 2 * MiB + 5, seed: 43)
        let published = try publish(content, as: "moving.bin", on: origin)
        try TestContent.write(TestContent.bytes(count: content.count, seed: 4343), to: origin.path("moving.bin"))
        let mount = try mount(catalog: [CatalogEntry(name: "moving.bin", published: published)], readDeadline: 20)

        let result = try readWhole(mount.mountpoint + "/moving.bin", within: 45)
        assertFails(result, with: [EIO], "reading content that changed on the origin after publish")
    }
}
