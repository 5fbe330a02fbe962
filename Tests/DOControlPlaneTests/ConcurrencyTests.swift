@testable import DOControlPlane
import DOCore
import DOHTTP
import Foundation
import XCTest

/// Many clients at once: every registration lands, every lookup answers right.
final class ConcurrencyTests: XCTestCase {
    func testFiftyConcurrentClientsRegisteringAndQuerying() async throws {
        let server = try await ServerFixture.start("concurrent")
        addTeardownBlock { await server.stop() }
        let clients = 50
        let https = (0..<5).map { _ in HTTPClient() }
        let base = server.baseURL

        let results = await withTaskGroup(of: String?.self) { group in
            for n in 0..<clients {
                group.addTask {
                    let client = ControlPlaneClient(controlPlaneURL: base, stateDirectory: nil, http: https[n % https.count],
                                                    logger: TestSupport.logger)
                    let (publish, phf) = TestSupport.publishRequest(seed: 1000 + UInt64(n), length: 70_000)
                    do {
                        let published = try await client.publish(publish)
                        guard published.created else { return "\(n): not created" }
                        let byId = try await client.contentPolicy(contentId: phf.contentId, altCatalogId: nil)
                        let byURL = try await client.contentPolicy(contentId: nil, altCatalogId: publish.url)
                        guard byId?.hashOfHashes == phf.hashOfHashes.base64, byURL == byId else { return "\(n): wrong policy" }
                        guard let array = try await client.discovery(contentId: phf.contentId, altCatalogId: nil).first else {
                            return "\(n): no array"
                        }
                        let join = JoinRequest(peerId: String(format: "%040x", n + 1), reportedIp: "10.0.0.\(n + 1)",
                                               subnetMask: "255.255.255.0")
                        let answer = try await client.join(collectiveArray: array.collectiveArray, request: join)
                        guard answer.peers.isEmpty else { return "\(n): peers of another content" }
                        return nil
                    } catch {
                        return "\(n): \(error)"
                    }
                }
            }
            var failures: [String] = []
            for await result in group { if let result { failures.append(result) } }
            return failures
        }
        XCTAssertEqual(results, [])
        let registry = try Registry(dataDirectory: server.dataDirectory)
        XCTAssertEqual(try registry.count(), clients)
    }
}
