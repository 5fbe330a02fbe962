@testable import DOControlPlane
import DOCore
import Foundation
import XCTest

/// The documented example answers of do-protocol.md decode with our models, and ours round-trip.
final class ModelTests: XCTestCase {
    private func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(json.utf8))
    }

    private func roundTrip<T: Codable & Equatable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try JSONEncoder().encode(value)
        XCTAssertEqual(try JSONDecoder().decode(T.self, from: data), value, file: file, line: line)
    }

    func testContentPolicyOfSection2_3Decodes() throws {
        let json = """
        {"ContentId":"DO-pnfBh6zEGx3sxf6WBId825S6VQpwJTWIaAWU-cBsHD0=",
         "HashOfHashes":"pnfBh6zEGx3sxf6WBId825S6VQpwJTWIaAWU/cBsHD0=",
         "PiecesHashFileCdnUrls":["https://swdd02.manage.microsoft.com/x/y.intunewin.bin.phf"],
         "ContentCdnUrls":[],"IsSecure":false,"IsInternal":false,"Rank":0,
         "Policies":{"ForegroundQosBps":6710886,"BackgroundQosBps":2621440,"MaxCacheAgeSecs":86400,
                     "ExpireAtSecsSinceEpoch":"","DownloadToExpire":86400}}
        """
        let policy = try decode(ContentPolicy.self, json)
        XCTAssertEqual(policy.contentId, "DO-pnfBh6zEGx3sxf6WBId825S6VQpwJTWIaAWU-cBsHD0=")
        XCTAssertEqual(policy.hashOfHashes, "pnfBh6zEGx3sxf6WBId825S6VQpwJTWIaAWU/cBsHD0=")
        XCTAssertEqual(policy.piecesHashFileCdnUrls, ["https://swdd02.manage.microsoft.com/x/y.intunewin.bin.phf"])
        XCTAssertEqual(policy.contentCdnUrls, [])
        XCTAssertFalse(policy.isSecure)
        XCTAssertEqual(policy.rank, 0)
        XCTAssertEqual(policy.policies, ContentPolicy.Policies(foregroundQosBps: 6_710_886, backgroundQosBps: 2_621_440,
                                                               maxCacheAgeSecs: 86_400, downloadToExpire: 86_400))
        // The ID is DO's mapping of the HashOfHashes (`/` -> `-`).
        XCTAssertEqual(try ContentId(policy.contentId).hashOfHashes?.base64, policy.hashOfHashes)
    }

    func testContentPolicyAcceptsTheSameValuesWrittenAsStringsAndEmpties() throws {
        let json = """
        {"ContentId":"x","HashOfHashes":"pnfBh6zEGx3sxf6WBId825S6VQpwJTWIaAWU/cBsHD0=","ContentCdnUrls":"",
         "IsSecure":"False","Rank":"0","Policies":{"ForegroundQosBps":"6710886","ExpireAtSecsSinceEpoch":null},
         "SomethingNew":{"nested":[1,2,3]}}
        """
        let policy = try decode(ContentPolicy.self, json)
        XCTAssertEqual(policy.policies.foregroundQosBps, 6_710_886)
        XCTAssertNil(policy.policies.expireAtSecsSinceEpoch)
        XCTAssertEqual(policy.piecesHashFileCdnUrls, [])
        XCTAssertFalse(policy.isSecure)
    }

    func testJoinBodyOfSection2_6DecodesVerbatimAndStaysAllStrings() throws {
        let json = TestSupport.joinBodyOfSection2_6
        let join = try decode(JoinRequest.self, json)
        XCTAssertEqual(join.altCatalogId, "http://tlu.dl.delivery.mp.microsoft.com/filestreamingservice/files/<guid>")
        XCTAssertEqual(join.peerId, "e08e8e26fd833d4097b3a62b66adc67b00000000")
        XCTAssertEqual(join.reportedIp, "192.168.1.8")
        XCTAssertEqual(join.subnetMask, "255.255.255.0")
        XCTAssertEqual(join.ipv6, "fe80::240c:cca8:88ed:fdce")
        XCTAssertEqual(join.clientDialectVersionRevision, "12")
        XCTAssertEqual(join.left, "73473792")
        XCTAssertEqual(join.peersWanted, "255")
        XCTAssertEqual(join.groupId, "")
        XCTAssertEqual(join.scope, "1")
        XCTAssertEqual(join.profile, "768")
        XCTAssertEqual(join.seq, "0")
        XCTAssertNil(join.contentId)
        XCTAssertNil(join.port)

        // Re-encoded: the same keys, every value a string.
        let original = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        let ours = try JSONSerialization.jsonObject(with: JSONEncoder().encode(join)) as! [String: Any]
        XCTAssertEqual(Set(ours.keys), Set(original.keys))
        XCTAssertTrue(ours.values.allSatisfy { $0 is String })
        try roundTrip(join)
    }

    func testJoinBodyWithANumberWhereDOSendsAStringIsRefused() {
        XCTAssertThrowsError(try decode(JoinRequest.self, #"{"PeerId":"e08e8e26fd833d4097b3a62b66adc67b00000000","Port":7680}"#))
    }

    func testGeoAndKeyValueAnswersWithDOsFieldsDecode() throws {
        let geo = try decode(GeoResponse.self, """
        {"ExternalIpAddress":"203.0.113.7","CountryCode":"DE","Version":"26A6D4D6994E8DA5",
         "KeyValue_EndpointFullUri":"https://kv601.prod.do.dsp.mp.microsoft.com/all","CacheId":"7",
         "ContentCert":false,"DownloadModeFailSafe":"","CompactVersion":"abc","CacheHost":""}
        """)
        XCTAssertEqual(geo.keyValueEndpointFullUri, "https://kv601.prod.do.dsp.mp.microsoft.com/all")
        XCTAssertEqual(geo.externalIpAddress, "203.0.113.7")
        XCTAssertEqual(geo.countryCode, "DE")
        XCTAssertEqual(geo.version, "26A6D4D6994E8DA5")
        XCTAssertEqual(geo.cacheId, "7")
        XCTAssertNil(geo.cacheHost, "an empty CacheHost means none")

        let kv = try decode(KeyValueResponse.self, """
        {"ContentPolicy_EndpointUri":"https://cp601.prod.do.dsp.mp.microsoft.com",
         "ContentPolicy_EndpointFullUri":"https://cp601.prod.do.dsp.mp.microsoft.com/content/{contentId}/contentpolicy",
         "Discovery_EndpointFullUri":"https://disc601.prod.do.dsp.mp.microsoft.com/content/{contentId}/discovery",
         "Client_RegisteredCallersFilterList":["WU Client Download","IntuneAppDownload","BeginLoadRange.*"],
         "MinFileSizeForPeering":"10485760"}
        """)
        XCTAssertEqual(kv.contentPolicyEndpointUri, "https://cp601.prod.do.dsp.mp.microsoft.com")
        XCTAssertEqual(kv.contentPolicyEndpointFullUri, "https://cp601.prod.do.dsp.mp.microsoft.com/content/{contentId}/contentpolicy")
        XCTAssertEqual(kv.discoveryEndpointFullUri, "https://disc601.prod.do.dsp.mp.microsoft.com/content/{contentId}/discovery")
        XCTAssertNil(kv.publishEndpointFullUri)
        XCTAssertEqual(kv.policies.minFileSizeForPeering, 10_485_760)
    }

    func testKeyValueWritesPoliciesFlatNextToTheEndpoints() throws {
        let kv = KeyValueResponse(contentPolicyEndpointUri: "http://h", contentPolicyEndpointFullUri: "http://h/c/{contentId}",
                                  discoveryEndpointFullUri: "http://h/d/{contentId}", publishEndpointFullUri: "http://h/p",
                                  policies: .dofsDefaults)
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(kv)) as! [String: Any]
        XCTAssertEqual(object["ForegroundQosBps"] as? Int, 6_710_886)
        XCTAssertEqual(object["MinFileSizeForPeering"] as? Int, 10 << 20)
        XCTAssertEqual(object["ContentPolicy_EndpointFullUri"] as? String, "http://h/c/{contentId}")
        try roundTrip(kv)
    }

    func testOurAnswersRoundTrip() throws {
        try roundTrip(GeoResponse(keyValueEndpointFullUri: "http://h/all", externalIpAddress: "127.0.0.1", countryCode: "ZZ",
                                  version: "0123ABCD", cacheHost: "cache.test:8080", cacheId: "7"))
        try roundTrip(ContentPolicy(contentId: "DO-x", hashOfHashes: "pnfBh6zEGx3sxf6WBId825S6VQpwJTWIaAWU/cBsHD0=",
                                    piecesHashFileCdnUrls: ["http://h/a.phf"], contentCdnUrls: ["http://h/a"],
                                    policies: .dofsDefaults, contentLength: 12, pieceSize: 1 << 20))
        try roundTrip([DiscoveryEntry(collectiveArray: "http://h/array/DO-x/")])
        try roundTrip(ErrorBody(error: "why"))
        let (publish, _) = TestSupport.publishRequest(seed: 1)
        try roundTrip(publish)
        try roundTrip(PublishResponse(contentId: "DO-x", created: true, contentPolicyUrl: "http://h/c", piecesHashFileUrl: nil))
    }

    func testJoinAnswerIsSection9Item4sFormat() throws {
        let json = #"{"Peers":[{"PeerId":"e08e8e26fd833d4097b3a62b66adc67b00000000","Ip":"192.168.1.8","Port":7680}],"ReannounceSecs":300}"#
        let answer = try decode(JoinResponse.self, json)
        XCTAssertEqual(answer, JoinResponse(peers: [JoinPeer(peerId: "e08e8e26fd833d4097b3a62b66adc67b00000000",
                                                             ip: "192.168.1.8", port: 7680)], reannounceSecs: 300))
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(answer)) as! [String: Any]
        let peer = (object["Peers"] as! [[String: Any]])[0]
        XCTAssertEqual(peer["Port"] as? Int, 7680)
        XCTAssertEqual(object["ReannounceSecs"] as? Int, 300)
    }

    func testJoinAnswersHandWrittenBytesAreTheEncodersBytesAndOddStringsFallBackToIt() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let peers = [JoinPeer(peerId: "e08e8e26fd833d4097b3a62b66adc67b00000000", ip: "192.168.1.8", port: 7680),
                     JoinPeer(peerId: String(repeating: "0", count: 40), ip: "2001:db8::1", port: 1),
                     JoinPeer(peerId: "ff", ip: "a/b<c>&d~", port: 65_535, joinedMs: 1_764_790_000_123),
                     JoinPeer(peerId: "0a", ip: "10.0.0.1", port: 2, joinedMs: 1)]
        for count in 0...peers.count {
            for joined in [nil, Int64(1_764_790_000_000)] {
                let answer = JoinResponse(peers: Array(peers.prefix(count)), reannounceSecs: 300, joinedMs: joined)
                let written = try XCTUnwrap(answer.jsonBytes())
                XCTAssertEqual(String(decoding: written, as: UTF8.self),
                               String(decoding: try encoder.encode(answer), as: UTF8.self), "\(count) peers, joined \(joined as Any)")
                XCTAssertEqual(try JSONDecoder().decode(JoinResponse.self, from: Data(written)), answer, "read back")
            }
        }
        // A `JoinedMs` that is not a positive integer is no first-join time, and costs nothing else.
        let odd = #"{"JoinedMs":"soon","Peers":[{"Ip":"h","JoinedMs":-5,"PeerId":"ab","Port":1}],"ReannounceSecs":3}"#
        let read = try JSONDecoder().decode(JoinResponse.self, from: Data(odd.utf8))
        XCTAssertEqual(read, JoinResponse(peers: [JoinPeer(peerId: "ab", ip: "h", port: 1)], reannounceSecs: 3))
        for odd in ["a\"b", "back\\slash", "tab\t", "\u{7F}", "é"] {
            XCTAssertNil(JoinResponse(peers: [JoinPeer(peerId: "00", ip: odd, port: 1)], reannounceSecs: 1).jsonBytes(),
                         "\(odd.debugDescription) needs escaping: the encoder writes it")
        }
    }

    func testPublishRequestCarriesThePHFAsAnObjectAndAcceptsItAsAString() throws {
        let (publish, phf) = TestSupport.publishRequest(seed: 2)
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(publish)) as! [String: Any]
        let embedded = object["PiecesHashFile"] as! [String: Any]
        XCTAssertEqual(embedded["HashOfHashes"] as? String, phf.hashOfHashes.base64)
        XCTAssertEqual((embedded["Pieces"] as? [String])?.count, phf.pieces.count)

        let asString = """
        {"ContentId":"\(phf.contentId)","HashOfHashes":"\(phf.hashOfHashes.base64)","ContentLength":\(phf.layout.contentLength),
         "PieceSize":\(phf.layout.pieceSize),"Url":"http://h/x","PiecesHashFile":\(JSONTextQuote.quote(String(decoding: phf.jsonBytes(), as: UTF8.self)))}
        """
        XCTAssertEqual(try decode(PublishRequest.self, asString).piecesHashFile, phf)
    }

    func testQueryValuesArePercentEncodedWholeAndDecodeBack() {
        let url = "http://tlu.dl.delivery.mp.microsoft.com/files/a b?P1=1&P2=402|404&P4=x/y+z=="
        let built = QueryString.append([("altCatalogId", url), ("profile", "768")], to: "http://cp/content/test/contentpolicy")
        XCTAssertEqual(built.split(separator: "?").count, 2, "the embedded URL's ? is encoded")
        let parsed = QueryString.parse(String(built.split(separator: "?", maxSplits: 1)[1]))
        XCTAssertEqual(parsed?.first?.value, url)
        XCTAssertEqual(parsed?.last?.value, "768")
        XCTAssertNil(QueryString.parse("a=%zz"))
        XCTAssertEqual(EndpointTemplate.expand("http://h/v9/cp/{contentId}/policy", contentId: "DO-a="), "http://h/v9/cp/DO-a=/policy")
        XCTAssertEqual(EndpointTemplate.expand("http://h/{contentId}", contentId: "a/b c"), "http://h/a%2Fb%20c")
    }
}

/// JSON string quoting for building test documents by hand.
enum JSONTextQuote {
    static func quote(_ s: String) -> String {
        String(decoding: try! JSONEncoder().encode(s), as: UTF8.self)
    }
}
