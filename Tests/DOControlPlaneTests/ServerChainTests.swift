@testable import DOControlPlane
import DOCore
import DOHTTP
import Foundation
import XCTest

/// The whole chain against a server started in-process, through DOHTTP on loopback.
final class ServerChainTests: XCTestCase {
    private var server: ServerFixture!

    override func setUp() async throws {
        server = try await ServerFixture.start("chain") { $0.cacheHost = "cache.test:8080" }
    }

    override func tearDown() async throws {
        await server.stop()
    }

    func testGeoThenAllThenPolicyByIdAndByURLThenDiscoveryThenJoin() async throws {
        let client = server.client()
        let (publish, phf) = TestSupport.publishRequest(seed: 10)
        let published = try await client.publish(publish)
        XCTAssertTrue(published.created)
        XCTAssertEqual(published.contentId, phf.contentId.rawValue)

        let geo = try await client.geo()
        XCTAssertEqual(geo.keyValueEndpointFullUri, server.baseURL + "/all")
        let kv = try await client.keyValue()
        XCTAssertEqual(kv.contentPolicyEndpointFullUri, server.baseURL + "/content/{contentId}/contentpolicy")
        XCTAssertEqual(kv.discoveryEndpointFullUri, server.baseURL + "/content/{contentId}/discovery")
        XCTAssertEqual(kv.policies, ContentPolicy.Policies.dofsDefaults)

        let byId = try await client.contentPolicy(contentId: phf.contentId, altCatalogId: nil)
        let policy = try XCTUnwrap(byId)
        XCTAssertEqual(policy.contentId, phf.contentId.rawValue)
        XCTAssertEqual(policy.hashOfHashes, phf.hashOfHashes.base64)
        XCTAssertEqual(policy.contentCdnUrls, [publish.url])
        XCTAssertEqual(policy.piecesHashFileCdnUrls,
                       [server.baseURL + "/content/\(phf.contentId)/phf", publish.piecesHashFileUrl!])
        XCTAssertEqual(policy.contentLength, phf.layout.contentLength)
        XCTAssertEqual(policy.pieceSize, phf.layout.pieceSize)
        XCTAssertEqual(policy.policies.minFileSizeForPeering, 10 << 20)
        XCTAssertEqual(policy.policies.foregroundQosBps, 6_710_886)
        XCTAssertNotNil(policy.policies.backgroundQosBps)
        XCTAssertNotNil(policy.policies.maxCacheAgeSecs)
        XCTAssertNotNil(policy.policies.downloadToExpire)

        let byURL = try await client.contentPolicy(contentId: nil, altCatalogId: publish.url)
        XCTAssertEqual(byURL, policy)

        // The stored PHF is served, parses, and is trusted by the policy's HashOfHashes.
        let phfResponse = try await server.get(policy.piecesHashFileCdnUrls[0])
        XCTAssertEqual(phfResponse.status, 200)
        let served = try PiecesHashFile(json: phfResponse.body)
        XCTAssertEqual(served, phf)
        XCTAssertNoThrow(try served.verify(against: SHA256Digest(base64: policy.hashOfHashes)!, requireRecompute: true))
        let head = try await TestSupport.http.send(HTTPRequest(url: policy.piecesHashFileCdnUrls[0], method: .head))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("content-length"), String(phf.jsonBytes().count))

        let discovery = try await client.discovery(contentId: nil, altCatalogId: publish.url)
        XCTAssertEqual(discovery, [DiscoveryEntry(collectiveArray: server.baseURL + "/array/\(phf.contentId)/")])
        let array = discovery[0].collectiveArray

        let first = JoinRequest(contentId: phf.contentId.rawValue, peerId: String(repeating: "a1", count: 20),
                                reportedIp: "10.0.0.1", subnetMask: "255.255.255.0", left: "0", scope: "1", port: "7681")
        let firstAnswer = try await client.join(collectiveArray: array, request: first)
        XCTAssertEqual(firstAnswer.peers, [])
        XCTAssertEqual(firstAnswer.reannounceSecs, 300)
        let second = JoinRequest(contentId: phf.contentId.rawValue, peerId: String(repeating: "b2", count: 20),
                                 reportedIp: "10.0.0.2", subnetMask: "255.255.255.0", scope: "1")
        let secondAnswer = try await client.join(collectiveArray: array, request: second)
        // Listed at the address its join came from, not the ReportedIp it claimed (no trusted proxy here).
        XCTAssertEqual(secondAnswer.peers.map(\.peerId), [String(repeating: "a1", count: 20)])
        XCTAssertEqual(secondAnswer.peers.map(\.ip), ["127.0.0.1"])
        XCTAssertEqual(secondAnswer.peers.map(\.port), [7681])
        XCTAssertNotNil(secondAnswer.peers.first?.joinedMs, "with when it first joined")
    }

    func testGeoNamesTheRequestersAddressTheCacheHostAndAHexVersion() async throws {
        let response = try await server.get("/geo?doClientVersion=10.1.0.12&profile=768")
        XCTAssertEqual(response.status, 200)
        XCTAssertTrue(response.header("content-type")?.hasPrefix("application/json") ?? false)
        let geo = try TestSupport.decode(GeoResponse.self, response.body)
        XCTAssertEqual(geo.externalIpAddress, "127.0.0.1")
        XCTAssertEqual(geo.cacheHost, "cache.test:8080")
        XCTAssertEqual(geo.countryCode, "ZZ")
        let version = try XCTUnwrap(geo.version)
        XCTAssertFalse(version.isEmpty)
        XCTAssertNotNil(Hex.decode(version))
    }

    func testUnknownContentIs404WithAReasonAndNilForTheClient() async throws {
        let unknown = try ContentId("DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc=")
        assertRejected(try await server.get("/content/\(unknown)/contentpolicy"), status: 404, reasonContains: "not registered")
        assertRejected(try await server.get("/content/test/contentpolicy?altCatalogId=" + PercentEncoding.encode("http://o.test/none")),
                       status: 404, reasonContains: "http://o.test/none")
        let client = server.client()
        let byId = try await client.contentPolicy(contentId: unknown, altCatalogId: nil)
        XCTAssertNil(byId)
        let byURL = try await client.contentPolicy(contentId: nil, altCatalogId: "http://o.test/none")
        XCTAssertNil(byURL)
        let discovery = try await client.discovery(contentId: nil, altCatalogId: "http://o.test/none")
        XCTAssertEqual(discovery, [])
        let opaque = try await client.discovery(contentId: try ContentId("some-windows-update-id"), altCatalogId: nil)
        XCTAssertEqual(opaque, [], "an unregistered opaque ID has no swarm")
    }

    func testAnUnregisteredDofsIdStillGetsASwarmSinceItNamesItsContentByHash() async throws {
        let id = try ContentId("DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc=")
        let discovery = try await server.client().discovery(contentId: id, altCatalogId: nil)
        XCTAssertEqual(discovery.map(\.collectiveArray), [server.baseURL + "/array/\(id)/"])
    }

    func testRegisteringAgainIsIdempotentAndAddsURLs() async throws {
        let client = server.client()
        let (publish, phf) = TestSupport.publishRequest(seed: 11)
        let first = try await client.publish(publish)
        XCTAssertTrue(first.created)
        var mirror = publish
        mirror.url = "https://mirror.test/content.bin"
        mirror.piecesHashFile = nil
        mirror.piecesHashFileUrl = nil
        mirror = mirror.resigned()
        let second = try await client.publish(mirror)
        XCTAssertFalse(second.created)
        XCTAssertEqual(second.piecesHashFileUrl, server.baseURL + "/content/\(phf.contentId)/phf", "the stored PHF is kept")
        let policy = try await client.contentPolicy(contentId: nil, altCatalogId: "https://mirror.test/content.bin")
        XCTAssertEqual(policy?.contentCdnUrls, [publish.url, mirror.url])
    }

    func testDOsVerbatimJoinBodyIsAcceptedAndItsDefaultsApply() async throws {
        let id = TestSupport.piecesHashFile(TestSupport.content(length: 10, seed: 12)).contentId
        let response = try await server.post("/array/\(id)/join/", Array(TestSupport.joinBodyOfSection2_6.utf8))
        XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self))
        XCTAssertEqual(try TestSupport.decode(JoinResponse.self, response.body).peers, [])
        let other = JoinRequest(peerId: String(repeating: "c3", count: 20), reportedIp: "192.168.1.9", subnetMask: "255.255.255.0")
        let answer = try await server.client().join(collectiveArray: server.baseURL + "/array/\(id)/", request: other)
        XCTAssertEqual(answer.peers.map { JoinPeer(peerId: $0.peerId, ip: $0.ip, port: $0.port) },
                       [JoinPeer(peerId: "e08e8e26fd833d4097b3a62b66adc67b00000000", ip: "127.0.0.1", port: 7680)])
    }
}

/// Every URL handed out starts with the configured public URL (a TLS proxy in front).
final class PublicURLTests: XCTestCase {
    func testEveryHandedOutURLStartsWithThePublicURL() async throws {
        let server = try await ServerFixture.start("public") { $0.publicURL = "https://cp.example.net/dofs/" }
        addTeardownBlock { await server.stop() }
        let base = "https://cp.example.net/dofs"
        XCTAssertEqual(server.baseURL, base)
        let local = "http://127.0.0.1:\(server.running.port)"

        let geo = try TestSupport.decode(GeoResponse.self, try await server.get(local + "/geo").body)
        XCTAssertEqual(geo.keyValueEndpointFullUri, base + "/all")
        let kv = try TestSupport.decode(KeyValueResponse.self, try await server.get(local + "/all").body)
        XCTAssertEqual(kv.contentPolicyEndpointUri, base)
        XCTAssertEqual(kv.contentPolicyEndpointFullUri, base + "/content/{contentId}/contentpolicy")
        XCTAssertEqual(kv.discoveryEndpointFullUri, base + "/content/{contentId}/discovery")
        XCTAssertEqual(kv.publishEndpointFullUri, base + "/publish")

        let (publish, phf) = TestSupport.publishRequest(seed: 20)
        let registered = try await server.post(local + "/publish", TestSupport.json(publish))
        XCTAssertEqual(registered.status, 201)
        let policy = try TestSupport.decode(ContentPolicy.self, try await server.get(local + "/content/\(phf.contentId)/contentpolicy").body)
        XCTAssertEqual(policy.piecesHashFileCdnUrls.first, base + "/content/\(phf.contentId)/phf")
        let discovery = try TestSupport.decode([DiscoveryEntry].self, try await server.get(local + "/content/\(phf.contentId)/discovery").body)
        XCTAssertEqual(discovery.first?.collectiveArray, base + "/array/\(phf.contentId)/")
    }

    func testWithoutAPublicURLAServerOnEveryAddressNamesTheHostTheClientUsed() async throws {
        let server = try await ServerFixture.start("anyaddr") { $0.host = "0.0.0.0" }
        addTeardownBlock { await server.stop() }
        let geo = try TestSupport.decode(GeoResponse.self, try await server.get("http://127.0.0.1:\(server.running.port)/geo").body)
        XCTAssertEqual(geo.keyValueEndpointFullUri, "http://127.0.0.1:\(server.running.port)/all")
        let viaOtherName = try TestSupport.decode(GeoResponse.self, try await server.get("http://localhost:\(server.running.port)/geo").body)
        XCTAssertEqual(viaOtherName.keyValueEndpointFullUri, "http://localhost:\(server.running.port)/all")
    }
}
