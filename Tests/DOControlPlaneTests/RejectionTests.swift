@testable import DOControlPlane
import DOCore
import DOHTTP
import Foundation
import XCTest

/// Bad input gets a 4xx with a reason, never a crash, and the server keeps serving.
final class RejectionTests: XCTestCase {
    private var server: ServerFixture!
    private let peer = String(repeating: "ab", count: 20)

    override func setUp() async throws {
        server = try await ServerFixture.start("reject") { $0.maxPublishBodyBytes = 256 << 10 }
    }

    override func tearDown() async throws {
        // Whatever came before, the server still answers.
        let geo = try await server.get("/geo")
        XCTAssertEqual(geo.status, 200)
        await server.stop()
    }

    private var arrayURL: String { "/array/DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc=/join/" }

    func testMalformedJSONIsRefusedWithTheReason() async throws {
        assertRejected(try await server.post("/publish", Array("{\"ContentId\": ".utf8)), status: 400, reasonContains: "JSON")
        assertRejected(try await server.post(arrayURL, Array("not json at all".utf8)), status: 400, reasonContains: "JSON")
        assertRejected(try await server.post(arrayURL, []), status: 400, reasonContains: "empty body")
        assertRejected(try await server.post(arrayURL, Array("[1,2]".utf8)), status: 400, reasonContains: "join body")
    }

    func testWrongTypesAreRefusedNamingTheField() async throws {
        let (publish, _) = TestSupport.publishRequest(seed: 30)
        var object = try JSONSerialization.jsonObject(with: Data(TestSupport.json(publish))) as! [String: Any]
        object["ContentLength"] = "200000"
        assertRejected(try await server.post("/publish", Array(try JSONSerialization.data(withJSONObject: object))),
                       status: 400, reasonContains: "ContentLength")
        object = try JSONSerialization.jsonObject(with: Data(TestSupport.json(publish))) as! [String: Any]
        object.removeValue(forKey: "Url")
        assertRejected(try await server.post("/publish", Array(try JSONSerialization.data(withJSONObject: object))),
                       status: 400, reasonContains: "Url")
        let numericScope = #"{"PeerId":"\#(peer)","Scope":1}"#
        assertRejected(try await server.post(arrayURL, Array(numericScope.utf8)), status: 400, reasonContains: "Scope")
    }

    func testBadJoinValuesAreRefusedNamingTheField() async throws {
        let cases: [(JoinRequest, String)] = [
            (JoinRequest(peerId: "xyz"), "PeerId"),
            (JoinRequest(), "PeerId"),
            (JoinRequest(peerId: peer, port: "70000"), "Port"),
            (JoinRequest(peerId: peer, peersWanted: "-1"), "PeersWanted"),
            (JoinRequest(peerId: peer, scope: "7"), "Scope"),
            (JoinRequest(peerId: peer, reportedIp: "10.0.0.300"), "ReportedIp"),
            (JoinRequest(peerId: peer, reportedIp: "10.0.0.3", subnetMask: "/24"), "SubnetMask"),
        ]
        for (join, field) in cases {
            assertRejected(try await server.post(arrayURL, TestSupport.json(join)), status: 400, reasonContains: field)
        }
    }

    func testOversizedBodiesAreRefusedBeforeBeingRead() async throws {
        let huge = Array(("{\"PeerId\":\"" + String(repeating: "a", count: 2 << 20) + "\"}").utf8)
        assertRejected(try await server.post(arrayURL, huge), status: 413, reasonContains: "larger than")
        // This server caps registrations at 256 KiB.
        let padded = Array(("{\"Padding\":\"" + String(repeating: "p", count: 300 << 10) + "\"}").utf8)
        assertRejected(try await server.post("/publish", padded), status: 413, reasonContains: "larger than")
    }

    func testBadContentIdsAndURLsAreRefused() async throws {
        assertRejected(try await server.get("/content/bad!id/contentpolicy"), status: 400, reasonContains: "not a valid content ID")
        assertRejected(try await server.get("/content/..%2Fetc/contentpolicy"), status: 400, reasonContains: "content ID")
        assertRejected(try await server.get("/content/\(String(repeating: "a", count: 201))/discovery"), status: 400,
                       reasonContains: "content ID")
        assertRejected(try await server.get("/content/test/contentpolicy?altCatalogId=ftp%3A%2F%2Fh%2Fx"), status: 400,
                       reasonContains: "altCatalogId")
        assertRejected(try await server.get("/content/test/contentpolicy?altCatalogId=%zz"), status: 400,
                       reasonContains: "percent-encoding")
        assertRejected(try await server.post("/array/bad!id/join/", TestSupport.json(JoinRequest(peerId: peer))),
                       status: 400, reasonContains: "content ID")
        var (publish, _) = TestSupport.publishRequest(seed: 32, includePHF: false)
        publish.url = "file:///etc/passwd"
        assertRejected(try await server.post("/publish", TestSupport.json(publish.resigned())), status: 422, reasonContains: "Url")
        publish = TestSupport.publishRequest(seed: 32, includePHF: false).0
        publish.contentId = "has space"
        assertRejected(try await server.post("/publish", TestSupport.json(publish.resigned())), status: 422, reasonContains: "ContentId")
    }

    func testARegistrationWhosePHFDisagreesIsRefused() async throws {
        let (good, phf) = TestSupport.publishRequest(seed: 33)
        let other = TestSupport.piecesHashFile(TestSupport.content(length: 200_000, seed: 34))

        // The PHF's HashOfHashes is not the one registered.
        var wrongHoH = good
        wrongHoH.piecesHashFile = other
        assertRejected(try await server.post("/publish", TestSupport.json(wrongHoH)), status: 422, reasonContains: "HashOfHashes")

        // Declares the right HashOfHashes, but its pieces hash to something else.
        var tampered = phf
        tampered.pieces[0] = other.pieces[0]
        var recomputeFails = good
        recomputeFails.piecesHashFile = tampered
        assertRejected(try await server.post("/publish", TestSupport.json(recomputeFails)), status: 422, reasonContains: "hash to")

        // Consistent PHF, but the content ID is not dofs's for it.
        var wrongId = good
        wrongId.contentId = "some-other-id"
        assertRejected(try await server.post("/publish", TestSupport.json(wrongId.resigned())), status: 422, reasonContains: "ContentId")

        // A length that disagrees with the PHF.
        var wrongLength = good
        wrongLength.contentLength += 1
        assertRejected(try await server.post("/publish", TestSupport.json(wrongLength.resigned())), status: 422, reasonContains: "ContentLength")

        // A PHF of the wrong shape.
        var object = try JSONSerialization.jsonObject(with: Data(TestSupport.json(good))) as! [String: Any]
        var embedded = object["PiecesHashFile"] as! [String: Any]
        embedded["Pieces"] = ["not base64"]
        object["PiecesHashFile"] = embedded
        assertRejected(try await server.post("/publish", Array(try JSONSerialization.data(withJSONObject: object))),
                       status: 400, reasonContains: "PiecesHashFile")

        // None of it was registered.
        assertRejected(try await server.get("/content/\(phf.contentId)/contentpolicy"), status: 404, reasonContains: "not registered")
    }

    func testARegistrationConflictingWithKnownMetadataIsRefused() async throws {
        let hoh1 = TestSupport.piecesHashFile(TestSupport.content(length: 100, seed: 35)).hashOfHashes.base64
        let hoh2 = TestSupport.piecesHashFile(TestSupport.content(length: 100, seed: 36)).hashOfHashes.base64
        let first = PublishRequest(contentId: "intune_1234", hashOfHashes: hoh1, contentLength: 100, pieceSize: 1 << 20, url: "http://o.test/a")
            .resigned()
        let registered = try await server.post("/publish", TestSupport.json(first))
        XCTAssertEqual(registered.status, 201)
        var second = first
        second.hashOfHashes = hoh2
        assertRejected(try await server.post("/publish", TestSupport.json(second.resigned())), status: 409, reasonContains: "HashOfHashes")
    }

    func testUnknownEndpointsWrongMethodsAndTypesGetJSONErrors() async throws {
        assertRejected(try await server.get("/nothing/here"), status: 404, reasonContains: "no such endpoint")
        assertRejected(try await server.get("/publish"), status: 404, reasonContains: "no such endpoint")
        let response = try await server.post(arrayURL, TestSupport.json(JoinRequest(peerId: peer)),
                                             headers: [(name: "Content-Type", value: "text/plain")])
        assertRejected(response, status: 415, reasonContains: "Content-Type")
    }
}
