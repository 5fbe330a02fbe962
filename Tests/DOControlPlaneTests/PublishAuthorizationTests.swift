@testable import DOControlPlane
import DOCore
import DOHTTP
import Foundation
import XCTest

/// Who may say what a content is: only listed publisher keys register over HTTP, each registration
/// signed; a URL stays with the key that registered it; policies carry the signatures.
final class PublishAuthorizationTests: XCTestCase {
    private var server: ServerFixture!

    override func setUp() async throws {
        // Two accepted publishers: the usual test publisher and a second one, both honest.
        server = try await ServerFixture.start("publish-auth") {
            $0.publisherKeys = PublisherKeyring([TestSupport.publisher.publicKey, Self.second.publicKey])
        }
    }

    override func tearDown() async throws {
        await server.stop()
    }

    static let second = try! PublisherPrivateKey.generate()

    func testAnUnsignedRegistrationIsRefusedWith401AndNothingIsRegistered() async throws {
        let (publish, phf) = TestSupport.publishRequest(seed: 60, signer: nil)
        assertRejected(try await server.post("/publish", TestSupport.json(publish)), status: 401, reasonContains: "signature")
        assertRejected(try await server.get("/content/\(phf.contentId)/contentpolicy"), status: 404, reasonContains: "not registered")
    }

    func testAnUnknownKeyOrABadSignatureIsRefusedWith403() async throws {
        let (stranger, phf) = TestSupport.publishRequest(seed: 61, signer: TestSupport.otherPublisher)
        assertRejected(try await server.post("/publish", TestSupport.json(stranger)), status: 403, reasonContains: "not one this control plane accepts")

        // Signed by an accepted key, then changed in flight: the URL now points elsewhere.
        var tampered = TestSupport.publishRequest(seed: 61).0
        tampered.url = "http://evil.test/victim.bin"
        assertRejected(try await server.post("/publish", TestSupport.json(tampered)), status: 403, reasonContains: "does not match")

        // A signature copied from another registration.
        var copied = TestSupport.publishRequest(seed: 61).0
        copied.publisher = TestSupport.publishRequest(seed: 62).0.publisher
        assertRejected(try await server.post("/publish", TestSupport.json(copied)), status: 403, reasonContains: "does not match")

        // Half a signature is malformed input.
        var half = TestSupport.json(TestSupport.publishRequest(seed: 61, signer: nil).0)
        half.removeLast()
        half += Array(#","PublisherKeyId":"abc"}"#.utf8)
        assertRejected(try await server.post("/publish", half), status: 400, reasonContains: "PublisherSignature")
        assertRejected(try await server.get("/content/\(phf.contentId)/contentpolicy"), status: 404, reasonContains: "not registered")
    }

    func testAControlPlaneWithoutPublisherKeysAcceptsNoRegistrationOverHTTP() async throws {
        let closed = try await ServerFixture.start("publish-closed") { $0.publisherKeys = PublisherKeyring([]) }
        let (publish, _) = TestSupport.publishRequest(seed: 63)
        assertRejected(try await closed.post("/publish", TestSupport.json(publish)), status: 403, reasonContains: "--publisher-key")
        await closed.stop()
    }

    func testAURLRegisteredByOneKeyCannotBeRepointedByAnotherButItsOwnKeyMayRepointIt() async throws {
        let url = "http://origin.test/victim.bin"
        let (victim, victimPHF) = TestSupport.publishRequest(seed: 64, url: url)
        let registered = try await server.post("/publish", TestSupport.json(victim))
        XCTAssertEqual(registered.status, 201)

        // The second publisher (accepted, but not the URL's owner) tries to take the URL over.
        let (evil, evilPHF) = TestSupport.publishRequest(seed: 65, url: url, signer: Self.second)
        assertRejected(try await server.post("/publish", TestSupport.json(evil)), status: 409, reasonContains: "only that key")
        let policy = try await server.client().contentPolicy(contentId: nil, altCatalogId: url)
        XCTAssertEqual(policy?.contentId, victimPHF.contentId.rawValue, "the URL still names the genuine content")
        let refused = try await server.client().contentPolicy(contentId: evilPHF.contentId, altCatalogId: nil)
        XCTAssertNil(refused, "nothing of the refused registration was kept")

        // The owner re-points its URL to a new version of the file.
        let (update, updatePHF) = TestSupport.publishRequest(seed: 66, url: url)
        let updated = try await server.post("/publish", TestSupport.json(update))
        XCTAssertEqual(updated.status, 201)
        let moved = try await server.client().contentPolicy(contentId: nil, altCatalogId: url)
        XCTAssertEqual(moved?.contentId, updatePHF.contentId.rawValue)
    }

    func testAPolicyCarriesEachURLsSignatureAndTheyVerify() async throws {
        let (publish, phf) = TestSupport.publishRequest(seed: 67)
        let first = try await server.post("/publish", TestSupport.json(publish))
        XCTAssertEqual(first.status, 201)
        var mirror = publish
        mirror.url = "http://mirror.test/copy.bin"
        mirror.piecesHashFile = nil
        let second = try await server.post("/publish", TestSupport.json(try mirror.signed(with: Self.second)))
        XCTAssertEqual(second.status, 200)

        let answer = try await server.client().contentPolicy(contentId: phf.contentId, altCatalogId: nil)
        let policy = try XCTUnwrap(answer)
        let signatures = try XCTUnwrap(policy.publisherSignatures)
        XCTAssertEqual(signatures.map(\.url), [publish.url, mirror.url])
        XCTAssertEqual(signatures.map(\.keyId), [TestSupport.publisher.publicKey.keyId, Self.second.publicKey.keyId])
        let ring = PublisherKeyring([TestSupport.publisher.publicKey, Self.second.publicKey])
        for signature in signatures {
            let statement = PublisherStatement(contentId: policy.contentId, hashOfHashes: policy.hashOfHashes,
                                               contentLength: try XCTUnwrap(policy.contentLength),
                                               pieceSize: try XCTUnwrap(policy.pieceSize), url: signature.url)
            XCTAssertEqual(ring.check(statement, signature.publisherSignature), .valid, signature.url)
        }
    }
}

/// URL ownership in the registry itself, which `dofs publish --local` writes without any server.
final class RegistryOwnershipTests: XCTestCase {
    private var folder: String!

    override func setUp() {
        folder = TestSupport.scratchDirectory("registry-owner")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testASignedURLRefusesUnsignedAndForeignRegistrationsAndAnUnsignedURLIsTakenOverBySigning() throws {
        let registry = try Registry(dataDirectory: folder)
        let url = "http://origin.test/owned.bin"
        try registry.register(Registration(validating: TestSupport.publishRequest(seed: 70, url: url).0))
        let unsigned = try Registration(validating: TestSupport.publishRequest(seed: 71, url: url, signer: nil).0)
        XCTAssertThrowsError(try registry.register(unsigned)) { error in
            XCTAssertEqual(error as? RegistryError,
                           .urlOwnedByAnotherPublisher(url: url, owner: TestSupport.publisher.publicKey.keyId))
        }
        let foreign = try Registration(validating: TestSupport.publishRequest(seed: 71, url: url, signer: TestSupport.otherPublisher).0)
        XCTAssertThrowsError(try registry.register(foreign))

        let free = "http://origin.test/free.bin"
        try registry.register(Registration(validating: TestSupport.publishRequest(seed: 72, url: free, signer: nil).0))
        let (claim, phf) = TestSupport.publishRequest(seed: 72, url: free, signer: TestSupport.otherPublisher)
        XCTAssertEqual(try registry.register(Registration(validating: claim)), .updated)
        XCTAssertEqual(try registry.content(id: phf.contentId)?.signatures.map(\.keyId), [TestSupport.otherPublisher.publicKey.keyId])
    }

    func testARegistryOfSchemaVersion1IsMigratedAndKeepsItsContent() throws {
        let path = folder + "/" + Registry.fileName
        let (publish, phf) = TestSupport.publishRequest(seed: 73, signer: nil)
        do {
            let db = try SQLiteConnection(path: path)
            try db.execute("""
                CREATE TABLE content (content_id TEXT PRIMARY KEY, hash_of_hashes TEXT NOT NULL, content_length INTEGER NOT NULL,
                                      piece_size INTEGER NOT NULL, phf BLOB, registered_at INTEGER NOT NULL);
                CREATE TABLE content_url (url TEXT PRIMARY KEY, content_id TEXT NOT NULL, added_at INTEGER NOT NULL);
                CREATE TABLE content_phf_url (content_id TEXT NOT NULL, url TEXT NOT NULL, added_at INTEGER NOT NULL,
                                              PRIMARY KEY (content_id, url));
                PRAGMA user_version = 1;
                """)
            try db.query("INSERT INTO content VALUES (?, ?, ?, ?, NULL, 1)",
                         [.text(phf.contentId.rawValue), .text(phf.hashOfHashes.base64),
                          .integer(Int64(phf.layout.contentLength)), .integer(Int64(phf.layout.pieceSize))])
            try db.query("INSERT INTO content_url VALUES (?, ?, 1)", [.text(publish.url), .text(phf.contentId.rawValue)])
            db.close()
        }
        let registry = try Registry(path: path)
        let found = try XCTUnwrap(try registry.content(url: publish.url))
        XCTAssertEqual(found.contentId, phf.contentId)
        XCTAssertEqual(found.signatures, [], "rows from version 1 are unsigned")
        // An unsigned URL of version 1 is taken over by its first signed registration.
        try registry.register(Registration(validating: TestSupport.publishRequest(seed: 73).0))
        XCTAssertEqual(try registry.content(url: publish.url)?.signatures.count, 1)
    }
}
