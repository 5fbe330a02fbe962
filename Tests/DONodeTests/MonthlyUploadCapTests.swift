@testable import DONode
import DOEngine
import Logging
import XCTest

/// DO's DOMonthlyUploadDataCap: counted for Internet peers (public addresses) only, and refused past it.
final class MonthlyUploadCapTests: XCTestCase {
    private func cap(gigabytes: Int) throws -> MonthlyUploadCap {
        let layer = PolicyLayer([.monthlyUploadDataCap: try PolicyLayer.parse(String(gigabytes), for: .monthlyUploadDataCap)])
        return MonthlyUploadCap(policy: LivePolicy(AdminPolicy.defaults.merging(layer, from: .flag)), logger: Logger(label: "test"))
    }

    func testUploadsToInternetPeersStopAtTheCapAndLANPeersAreNotCounted() async throws {
        let limiter = try cap(gigabytes: 1)
        let half = 1 << 29
        let first = await limiter.admit(bytes: half, to: "203.0.113.5")
        let second = await limiter.admit(bytes: half, to: "198.51.100.7")
        let third = await limiter.admit(bytes: 1, to: "203.0.113.5")
        XCTAssertTrue(first && second, "1 GB in all may go")
        XCTAssertFalse(third, "the byte past the cap is refused")
        let lan = await limiter.admit(bytes: half, to: "192.168.1.20")
        let loopback = await limiter.admit(bytes: half, to: "127.0.0.2")
        XCTAssertTrue(lan && loopback, "LAN peers are not counted against the cap")
    }

    func testACapOf0MeansNoCap() async throws {
        let limiter = try cap(gigabytes: 0)
        let admitted = await limiter.admit(bytes: 5 << 30, to: "203.0.113.5")
        XCTAssertTrue(admitted)
    }
}
