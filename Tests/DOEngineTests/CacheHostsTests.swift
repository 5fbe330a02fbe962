@testable import DOEngine
import DOHTTP
import Logging
import XCTest

final class CacheHostsTests: XCTestCase {
    func testURLsAreRewrittenAsDODoes() {
        let plain = CacheHostURL.rewrite("http://dl.delivery.mp.microsoft.com/filestreamingservice/files/abc", cacheHost: "10.0.0.5")
        XCTAssertEqual(plain?.url, "http://10.0.0.5/filestreamingservice/files/abc?cacheHostOrigin=dl.delivery.mp.microsoft.com")
        let withQuery = CacheHostURL.rewrite("http://origin:8080/a/b.bin?P1=1&P2=x", cacheHost: "cache:81")
        XCTAssertEqual(withQuery?.url, "http://cache:81/a/b.bin?P1=1&P2=x&cacheHostOrigin=origin:8080")
        XCTAssertEqual(withQuery?.origin, "origin:8080")
        XCTAssertEqual(CacheHostURL.rewrite("http://origin:80/x", cacheHost: "c")?.origin, "origin", "port 80 is left out")
        XCTAssertNil(CacheHostURL.rewrite("https://origin/x", cacheHost: "c"), "https cannot go through a cache host")
        XCTAssertNil(CacheHostURL.rewrite("http://origin/x", cacheHost: "bad host"))
    }

    func testConnectFailureBansTheHostForEveryOriginAndA4xxOnlyForThatOrigin() {
        let hosts = CacheHosts(configuration: .init(hosts: ["a:1", "b:2"]), logger: Logger(label: "test"))
        XCTAssertEqual(hosts.available(forOrigin: "o1"), ["a:1", "b:2"])
        hosts.reportFailure(host: "a:1", origin: "o1", error: .transport(.connectFailed(url: "u", detail: "refused")))
        XCTAssertEqual(hosts.available(forOrigin: "o2"), ["b:2"])
        hosts.reportFailure(host: "b:2", origin: "o1", error: .httpStatus(url: "u", status: 403))
        XCTAssertEqual(hosts.available(forOrigin: "o1"), [])
        XCTAssertEqual(hosts.available(forOrigin: "o2"), ["b:2"])
    }

    func testBansExpire() {
        var config = CacheHosts.Configuration(hosts: ["a:1"])
        config.banSeconds = 0.05
        let hosts = CacheHosts(configuration: config, logger: Logger(label: "test"))
        hosts.reportFailure(host: "a:1", origin: "o", error: .transport(.timedOut(url: "u", detail: "slow")))
        XCTAssertEqual(hosts.available(forOrigin: "o"), [])
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertEqual(hosts.available(forOrigin: "o"), ["a:1"])
    }

    func testAHostSendingBadPiecesIsBannedForThatOriginAtTheThird() {
        let hosts = CacheHosts(configuration: .init(hosts: ["a:1"]), logger: Logger(label: "test"))
        XCTAssertFalse(hosts.reportBadPiece(host: "a:1", origin: "o"))
        XCTAssertFalse(hosts.reportBadPiece(host: "a:1", origin: "o"))
        XCTAssertTrue(hosts.reportBadPiece(host: "a:1", origin: "o"))
        XCTAssertEqual(hosts.available(forOrigin: "o"), [])
        XCTAssertEqual(hosts.available(forOrigin: "other"), ["a:1"])
    }
}
