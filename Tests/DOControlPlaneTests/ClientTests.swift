@testable import DOControlPlane
import DOCore
import Foundation
import Hummingbird
import Synchronization
import XCTest

/// The client against a DO-style control plane with a URL layout of its own: it must follow only the
/// URLs the answers give it, and survive an outage of geo / key-value with its last-known-good copy.
final class ClientTests: XCTestCase {
    func testClientFollowsOnlyTheURLsItIsGiven() async throws {
        let app = try await ForeignControlPlane.start()
        addTeardownBlock { await app.stop() }
        let client = ControlPlaneClient(configuration: .init(geoURL: app.base + "/v9/locate"), http: TestSupport.http,
                                        logger: TestSupport.logger)

        let byId = try await client.contentPolicy(contentId: try ContentId(ForeignControlPlane.knownId), altCatalogId: nil)
        XCTAssertEqual(byId?.contentId, ForeignControlPlane.knownId)
        let byURL = try await client.contentPolicy(contentId: nil, altCatalogId: ForeignControlPlane.knownURL)
        XCTAssertEqual(byURL?.contentId, ForeignControlPlane.knownId)
        let unknown = try await client.contentPolicy(contentId: try ContentId("nope"), altCatalogId: nil)
        XCTAssertNil(unknown)
        let discovery = try await client.discovery(contentId: nil, altCatalogId: ForeignControlPlane.knownURL)
        XCTAssertEqual(discovery.map(\.collectiveArray), [app.base + "/v9/swarm/42/"])
        let answer = try await client.join(collectiveArray: discovery[0].collectiveArray,
                                           request: JoinRequest(peerId: String(repeating: "0", count: 40)))
        XCTAssertEqual(answer.peers.first?.ip, "10.0.0.99")

        let seen = app.requests()
        let paths = seen.map(\.path)
        XCTAssertEqual(paths, ["/v9/locate", "/v9/kv/settings", "/v9/cp/\(ForeignControlPlane.knownId)/policy",
                               "/v9/cp/test/policy", "/v9/cp/nope/policy", "/v9/disc/test/peers", "/v9/swarm/42/join/"],
                       "geo and key-value once, then only the URLs the answers named")
        let geoQuery = seen[0].query
        XCTAssertEqual(geoQuery["profile"], "768")
        XCTAssertNotNil(geoQuery["doClientVersion"])
        let kvQuery = seen[1].query
        XCTAssertEqual(kvQuery["countryCode"], "AU")
        XCTAssertEqual(kvQuery["CacheId"], "7")
        XCTAssertEqual(kvQuery["profile"], "768")
        XCTAssertEqual(seen[3].query["altCatalogId"], ForeignControlPlane.knownURL, "the URL arrives intact")
        XCTAssertEqual(seen[3].query["countryCode"], "AU")
        XCTAssertEqual(seen[5].query["partitionId"], "0")
        XCTAssertEqual(seen[5].query["altCatalogId"], ForeignControlPlane.knownURL)
    }

    func testLastKnownGoodCarriesAFreshClientThroughAGeoAndKeyValueOutage() async throws {
        let app = try await ForeignControlPlane.start()
        addTeardownBlock { await app.stop() }
        let state = TestSupport.scratchDirectory("lkg")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: state) }
        let config = ControlPlaneClientConfiguration(geoURL: app.base + "/v9/locate", stateDirectory: state)

        let first = ControlPlaneClient(configuration: config, http: TestSupport.http, logger: TestSupport.logger)
        let warm = try await first.contentPolicy(contentId: try ContentId(ForeignControlPlane.knownId), altCatalogId: nil)
        XCTAssertNotNil(warm)
        XCTAssertTrue(FileManager.default.fileExists(atPath: state + "/keyValueLKG.json"))

        app.setServiceMapDown(true)
        let restarted = ControlPlaneClient(configuration: config, http: TestSupport.http, logger: TestSupport.logger)
        let policy = try await restarted.contentPolicy(contentId: try ContentId(ForeignControlPlane.knownId), altCatalogId: nil)
        XCTAssertEqual(policy?.contentId, ForeignControlPlane.knownId)

        // Without a saved copy the outage is an error that says what failed.
        let amnesiac = ControlPlaneClient(configuration: .init(geoURL: app.base + "/v9/locate"), http: TestSupport.http,
                                          logger: TestSupport.logger)
        let id = try ContentId(ForeignControlPlane.knownId)
        do {
            _ = try await amnesiac.contentPolicy(contentId: id, altCatalogId: nil)
            XCTFail("no service map, yet an answer")
        } catch {
            guard case .httpStatus(_, 503, _) = error else { return XCTFail("\(error)") }
        }
    }

    func testAnExpiredServiceMapIsStillUsedWhileItsRefreshFails() async throws {
        let app = try await ForeignControlPlane.start()
        addTeardownBlock { await app.stop() }
        var config = ControlPlaneClientConfiguration(geoURL: app.base + "/v9/locate")
        config.keyValueLifetimeSeconds = 0
        config.retryAfterFailureSeconds = 0
        let client = ControlPlaneClient(configuration: config, http: TestSupport.http, logger: TestSupport.logger)
        _ = try await client.keyValue()
        app.setServiceMapDown(true)
        for _ in 0..<3 {
            let policy = try await client.contentPolicy(contentId: try ContentId(ForeignControlPlane.knownId), altCatalogId: nil)
            XCTAssertNotNil(policy)
        }
    }

    func testUnreachableAndNonJSONControlPlanesGiveClearErrors() async throws {
        let closed = ControlPlaneClient(configuration: .init(geoURL: "http://127.0.0.1:9/geo"), http: TestSupport.http,
                                        logger: TestSupport.logger)
        do {
            _ = try await closed.keyValue()
            XCTFail("an answer from a closed port")
        } catch {
            guard case .unreachable(let url, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(url.hasPrefix("http://127.0.0.1:9/geo?"))
        }

        let app = try await ForeignControlPlane.start()
        addTeardownBlock { await app.stop() }
        let portal = ControlPlaneClient(configuration: .init(geoURL: app.base + "/portal"), http: TestSupport.http,
                                        logger: TestSupport.logger)
        do {
            _ = try await portal.keyValue()
            XCTFail("HTML taken for a geo answer")
        } catch {
            guard case .malformedAnswer(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("HTML"))
        }
        let client = ControlPlaneClient(configuration: .init(geoURL: app.base + "/v9/locate"), http: TestSupport.http,
                                        logger: TestSupport.logger)
        do {
            _ = try await client.publish(TestSupport.publishRequest(seed: 1).0)
            XCTFail("published without a Publish_EndpointFullUri")
        } catch {
            XCTAssertEqual(error, .missingEndpoint("Publish_EndpointFullUri"))
        }
        do {
            _ = try await client.contentPolicy(contentId: nil, altCatalogId: nil)
            XCTFail("looked up nothing")
        } catch {
            guard case .invalidRequest = error else { return XCTFail("\(error)") }
        }
    }
}

/// A tiny DO-style control plane with its own URL layout (nothing like dofs's), recording every request.
final class ForeignControlPlane: Sendable {
    static let knownId = "DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc="
    static let knownURL = "http://tlu.dl.delivery.mp.microsoft.com/filestreamingservice/files/52fa8751?P1=1&P2=402|404&P4=a+b/c=="

    struct Seen: Sendable {
        let path: String
        let query: [String: String]
    }

    let base: String
    private let task: Task<Void, any Error>
    private let state: State

    private init(base: String, task: Task<Void, any Error>, state: State) {
        self.base = base
        self.task = task
        self.state = state
    }

    func requests() -> [Seen] { state.log.withLock { $0 } }
    func setServiceMapDown(_ value: Bool) { state.down.withLock { $0 = value } }

    func stop() async {
        task.cancel()
        _ = await task.result
    }

    static func start() async throws -> ForeignControlPlane {
        let state = State()
        let router = Router()
        router.add(middleware: Recorder(state: state))
        router.get("/v9/locate") { _, _ in
            if state.down.withLock({ $0 }) { throw HTTPError(.serviceUnavailable, message: "maintenance") }
            return json(#"{"KeyValue_EndpointFullUri":"\#(state.base)/v9/kv/settings","CountryCode":"AU","CacheId":"7","Version":"AB"}"#)
        }
        router.get("/v9/kv/settings") { _, _ in
            if state.down.withLock({ $0 }) { throw HTTPError(.serviceUnavailable, message: "maintenance") }
            return json("""
            {"ContentPolicy_EndpointFullUri":"\(state.base)/v9/cp/{contentId}/policy",
             "Discovery_EndpointFullUri":"\(state.base)/v9/disc/{contentId}/peers","Client_RegisteredCallersFilterList":[]}
            """)
        }
        router.get("/v9/cp/:id/policy") { request, context in
            let id = context.parameters.get("id") ?? ""
            let url = request.uri.queryParameters.get("altCatalogId")
            guard id == knownId || (id == "test" && url == knownURL) else {
                return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: #"{"Error":"unknown"}"#)))
            }
            return json(#"{"ContentId":"\#(knownId)","HashOfHashes":"q+OsiNzEudi8Rf5LXw0YFNzv/ZmhCZWj/77mtEgeDVc=","PiecesHashFileCdnUrls":[],"ContentCdnUrls":[],"IsSecure":false,"Rank":0,"Policies":{}}"#)
        }
        router.get("/v9/disc/:id/peers") { _, _ in json(#"[{"CollectiveArray":"\#(state.base)/v9/swarm/42/"}]"#) }
        router.post("/v9/swarm/42/join/") { _, _ in
            json(#"{"Peers":[{"PeerId":"\#(String(repeating: "1", count: 40))","Ip":"10.0.0.99","Port":7680}],"ReannounceSecs":60}"#)
        }
        router.get("/portal") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/html"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "<html>log in</html>")))
        }

        let (started, signal) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { signal.yield($0.localAddress?.port ?? 0) }, logger: TestSupport.logger)
        let task = Task { try await app.run() }
        var port = 0
        for await p in started { port = p; break }
        state.setBase("http://127.0.0.1:\(port)")
        return ForeignControlPlane(base: "http://127.0.0.1:\(port)", task: task, state: state)
    }

    private static func json(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// State the route closures share with the test.
    final class State: Sendable {
        let log = Mutex<[Seen]>([])
        let down = Mutex(false)
        private let baseURL = Mutex("")
        var base: String { baseURL.withLock { $0 } }
        func setBase(_ url: String) { baseURL.withLock { $0 = url } }
    }

    struct Recorder: RouterMiddleware {
        typealias Context = BasicRequestContext
        let state: State
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var query: [String: String] = [:]
            for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
            state.log.withLock { $0.append(Seen(path: request.uri.path, query: query)) }
            return try await next(request, context)
        }
    }
}
