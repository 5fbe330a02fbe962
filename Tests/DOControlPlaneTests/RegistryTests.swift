@testable import DOControlPlane
import DOCore
import DOHTTP
import Foundation
import XCTest

/// The registry: durable, usable without HTTP, one content per URL, metadata never silently changed.
final class RegistryTests: XCTestCase {
    private var folder: String!

    override func setUp() {
        folder = TestSupport.scratchDirectory("registry")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testRegisteredContentIsFoundByIdAndByURLWithoutAnyServer() throws {
        let registry = try Registry(dataDirectory: folder)
        let (publish, phf) = TestSupport.publishRequest(seed: 40)
        XCTAssertEqual(try registry.register(Registration(validating: publish)), .created)
        let byId = try XCTUnwrap(try registry.content(id: phf.contentId))
        XCTAssertEqual(byId.hashOfHashes, phf.hashOfHashes)
        XCTAssertEqual(byId.layout, phf.layout)
        XCTAssertEqual(byId.urls, [publish.url])
        XCTAssertEqual(byId.piecesHashFileUrls, [publish.piecesHashFileUrl!])
        XCTAssertTrue(byId.hasStoredPiecesHashFile)
        XCTAssertEqual(try registry.content(url: publish.url), byId)
        XCTAssertEqual(try registry.piecesHashFile(id: phf.contentId), phf.jsonBytes())
        XCTAssertNil(try registry.content(url: "http://o.test/unknown"))
        XCTAssertNil(try registry.content(id: try ContentId("unknown")))
        XCTAssertEqual(try registry.count(), 1)
    }

    func testWritesAreOnDiskForAnotherConnectionImmediately() throws {
        let writer = try Registry(dataDirectory: folder)
        let reader = try Registry(dataDirectory: folder)
        let (publish, phf) = TestSupport.publishRequest(seed: 41)
        try writer.register(Registration(validating: publish))
        XCTAssertEqual(try reader.content(id: phf.contentId)?.urls, [publish.url])
        // WAL mode, as promised.
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/" + Registry.fileName + "-wal"))
    }

    func testReopeningKeepsEverything() throws {
        let (publish, phf) = TestSupport.publishRequest(seed: 42)
        do {
            let registry = try Registry(dataDirectory: folder)
            try registry.register(Registration(validating: publish))
            registry.close()
            XCTAssertThrowsError(try registry.count()) { XCTAssertEqual($0 as? RegistryError, .closed) }
        }
        let reopened = try Registry(dataDirectory: folder)
        XCTAssertEqual(try reopened.content(url: publish.url)?.contentId, phf.contentId)
        XCTAssertEqual(try reopened.piecesHashFile(id: phf.contentId), phf.jsonBytes())
    }

    func testAURLMovesToTheContentLastRegisteredForIt() throws {
        let registry = try Registry(dataDirectory: folder)
        let url = "http://o.test/latest.iso"
        let (v1, phf1) = TestSupport.publishRequest(seed: 43, url: url)
        let (v2, phf2) = TestSupport.publishRequest(seed: 44, url: url)
        try registry.register(Registration(validating: v1))
        try registry.register(Registration(validating: v2))
        XCTAssertEqual(try registry.content(url: url)?.contentId, phf2.contentId)
        XCTAssertEqual(try registry.content(id: phf1.contentId)?.urls, [], "the old content keeps its metadata")
    }

    func testConflictingMetadataIsRefusedAndNothingChanges() throws {
        let registry = try Registry(dataDirectory: folder)
        let hoh = TestSupport.piecesHashFile(TestSupport.content(length: 10, seed: 45)).hashOfHashes.base64
        let first = PublishRequest(contentId: "wu-1234", hashOfHashes: hoh, contentLength: 10, pieceSize: 1 << 20, url: "http://o.test/a")
        try registry.register(Registration(validating: first))
        var second = first
        second.contentLength = 11
        second.url = "http://o.test/b"
        XCTAssertThrowsError(try registry.register(Registration(validating: second))) { error in
            guard case .conflict(let id, let detail) = error as? RegistryError else { return XCTFail("\(error)") }
            XCTAssertEqual(id, "wu-1234")
            XCTAssertTrue(detail.contains("ContentLength"))
        }
        XCTAssertNil(try registry.content(url: "http://o.test/b"), "the refused registration left nothing behind")
    }

    func testValidationRefusesWhatItShould() {
        let (good, phf) = TestSupport.publishRequest(seed: 46)
        func refused(_ change: (inout PublishRequest) -> Void) -> RegistrationError? {
            var request = good
            change(&request)
            do {
                _ = try Registration(validating: request)
                return nil
            } catch {
                return error
            }
        }
        XCTAssertNil(refused { _ in })
        XCTAssertEqual(refused { $0.contentId = "a b" }, .invalidContentId("a b"))
        XCTAssertEqual(refused { $0.hashOfHashes = "abc" }, .invalidHashOfHashes("abc"))
        XCTAssertEqual(refused { $0.pieceSize = 0 }, .invalidPieceSize(0))
        XCTAssertEqual(refused { $0.contentLength = -1 }, .invalidContentLength(-1))
        XCTAssertEqual(refused { $0.piecesHashFileUrl = "ftp://x/y" }, .invalidURL(field: "PiecesHashFileUrl", value: "ftp://x/y"))
        // A DO- ID must encode the HashOfHashes, with or without a PHF.
        let other = TestSupport.piecesHashFile(TestSupport.content(length: 5, seed: 47))
        XCTAssertEqual(refused { $0.piecesHashFile = nil; $0.contentId = other.contentId.rawValue },
                       .contentIdMismatch(contentId: other.contentId.rawValue, expected: phf.contentId.rawValue))
    }
}

/// The registry behind a running server survives the server's restart.
final class RestartTests: XCTestCase {
    func testRegistrySurvivesAStopAndAStartOnTheSameDataFolder() async throws {
        let server = try await ServerFixture.start("restart")
        addTeardownBlock { await server.stop() }
        let (publish, phf) = TestSupport.publishRequest(seed: 50)
        let published = try await server.client().publish(publish)
        XCTAssertTrue(published.created)

        let oldGeo = server.baseURL + "/geo"
        try await server.restart()
        do {
            _ = try await TestSupport.http.send(HTTPRequest(url: oldGeo))
            XCTFail("the stopped server still answers")
        } catch {
            XCTAssertEqual(error, .connectFailed(url: oldGeo, detail: "Couldn't connect to server"))
        }

        let client = server.client()
        let policy = try await client.contentPolicy(contentId: nil, altCatalogId: publish.url)
        XCTAssertEqual(policy?.contentId, phf.contentId.rawValue)
        XCTAssertEqual(policy?.hashOfHashes, phf.hashOfHashes.base64)
        let stored = try await server.get("/content/\(phf.contentId)/phf")
        XCTAssertEqual(stored.body, phf.jsonBytes())
    }

    func testAServerCannotStartOnAnAddressInUseAndSaysSo() async throws {
        let server = try await ServerFixture.start("inuse")
        addTeardownBlock { await server.stop() }
        let otherData = TestSupport.scratchDirectory("inuse2")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: otherData) }
        do {
            _ = try await ControlPlaneServer.start(host: "127.0.0.1", port: server.running.port,
                                                   dataDir: otherData, logger: TestSupport.logger)
            XCTFail("a second server bound the same port")
        } catch {
            guard case .cannotListen = error else { return XCTFail("\(error)") }
        }
    }
}
