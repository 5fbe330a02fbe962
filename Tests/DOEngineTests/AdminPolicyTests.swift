@testable import DOEngine
import DOCore
import DOSwarm
import Logging
import XCTest

/// DO's policies by DO's names and units: what a policy file may say, what it may not, and what wins.
final class AdminPolicyTests: XCTestCase {
    private func layer(_ json: String) throws -> PolicyLayer {
        try PolicyLayer(json: Array(json.utf8), file: "policy.json")
    }

    private func refusal(_ json: String) -> String {
        do {
            _ = try layer(json)
            return "(accepted)"
        } catch {
            return "\(error)"
        }
    }

    func testAPolicyFileInDOsNamesAndUnitsIsRead() throws {
        let l = try layer("""
        {"DOCacheHost": "cache1,cache2:8080", "DODelayCacheServerFallbackForeground": 10,
         "DOMaxForegroundDownloadBandwidth": 8192, "DOMaxCacheAge": "86400", "DOMinFileSizeToCache": 50,
         "DOSetHoursToLimitBackgroundDownloadBandwidth": {"StartHour": 8, "EndHour": 17, "InsidePercentage": 20, "OutsidePercentage": 90}}
        """)
        let p = AdminPolicy.defaults.merging(l, from: .file("policy.json"))
        XCTAssertEqual(p.cacheHosts, ["cache1", "cache2:8080"])
        XCTAssertEqual(p.delayCacheServerFallbackForegroundSeconds, 10)
        XCTAssertEqual(p.maxCacheAgeSeconds, 86_400)
        XCTAssertEqual(p.minFileSizeToCacheBytes, 50 << 20)
        XCTAssertEqual(p.downloadLimit(.foreground, hour: 3, measuredBytesPerSecond: nil), 8192 * 1024)
        XCTAssertEqual(p.downloadLimit(.background, hour: 9, measuredBytesPerSecond: 1000), 200)
        XCTAssertEqual(p.downloadLimit(.background, hour: 20, measuredBytesPerSecond: 1000), 900)
        XCTAssertEqual(p.settings[.cacheHost]?.source, .file("policy.json"))
        XCTAssertEqual(p.settings[.downloadMode]?.source, .default)
    }

    func testUnknownPoliciesAreRefusedByName() {
        XCTAssertTrue(refusal(#"{"DOMaxCacheAgeDays": 3}"#).contains("DOMaxCacheAgeDays is not a DO policy"), refusal(#"{"DOMaxCacheAgeDays": 3}"#))
    }

    func testValuesInTheWrongUnitOrTypeAreRefusedNamingTheKeyAndTheUnit() {
        let unit = refusal(#"{"DOMaxForegroundDownloadBandwidth": "8MB/s"}"#)
        XCTAssertTrue(unit.contains("DOMaxForegroundDownloadBandwidth must be a whole number of KB/s"), unit)
        let fraction = refusal(#"{"DOMaxCacheAge": 1.5}"#)
        XCTAssertTrue(fraction.contains("DOMaxCacheAge must be a whole number of seconds"), fraction)
        let boolean = refusal(#"{"DORestrictPeerSelectionBy": true}"#)
        XCTAssertTrue(boolean.contains("DORestrictPeerSelectionBy"), boolean)
        let text = refusal(#"{"DOCacheHost": 5}"#)
        XCTAssertTrue(text.contains("DOCacheHost must be a string"), text)
        let range = refusal(#"{"DOMaxCacheSize": 150}"#)
        XCTAssertTrue(range.contains("DOMaxCacheSize 150 is outside 0...100"), range)
        let mode = refusal(#"{"DODownloadMode": 5}"#)
        XCTAssertTrue(mode.contains("DODownloadMode"), mode)
        let hours = refusal(#"{"DOSetHoursToLimitForegroundDownloadBandwidth": {"StartHour": 25, "EndHour": 1, "InsidePercentage": 1, "OutsidePercentage": 1}}"#)
        XCTAssertTrue(hours.contains("StartHour"), hours)
        XCTAssertTrue(refusal("[1, 2]").contains("not a JSON object"))
    }

    func testFlagsWinOverFilesAndFilesOverDefaults() throws {
        let file = try layer(#"{"DODownloadMode": 3, "DOGroupId": "site-a"}"#)
        let flags = PolicyLayer([.downloadMode: try PolicyLayer.parse("0", for: .downloadMode)])
        let p = AdminPolicy.defaults.merging(file, from: .file("a.json")).merging(flags, from: .flag)
        XCTAssertEqual(p.downloadMode, 0)
        XCTAssertEqual(p.settings[.downloadMode]?.source, .flag)
        XCTAssertEqual(p.groupId, "site-a")
        XCTAssertEqual(p.settings[.groupId]?.source, .file("a.json"))
        XCTAssertEqual(p.delayForegroundDownloadFromHttpSeconds, 5)
    }

    func testAnAbsoluteLimitWinsOverAPercentageAndNoLimitIsTheDefault() throws {
        XCTAssertNil(AdminPolicy.defaults.downloadLimit(.foreground, hour: 12, measuredBytesPerSecond: 1e9))
        let p = AdminPolicy.defaults.merging(try layer(#"{"DOPercentageMaxForegroundBandwidth": 50, "DOMaxBackgroundDownloadBandwidth": 1}"#),
                                             from: .flag)
        XCTAssertEqual(p.downloadLimit(.foreground, hour: 12, measuredBytesPerSecond: 1000), 500)
        XCTAssertNil(p.downloadLimit(.foreground, hour: 12, measuredBytesPerSecond: nil), "a percentage of nothing measured yet is no limit")
        XCTAssertEqual(p.downloadLimit(.background, hour: 12, measuredBytesPerSecond: 1000), 1024)
    }

    func testTheCacheCapIsTheSmallerOfThePercentageAndTheAbsoluteSize() throws {
        let p = AdminPolicy.defaults.merging(try layer(#"{"DOMaxCacheSize": 20, "DOAbsoluteMaxCacheSize": 1}"#), from: .flag)
        XCTAssertEqual(CacheCap.bytes(p, cacheFolder: "/", diskBytes: 100 << 30), 1 << 30)
        XCTAssertEqual(CacheCap.bytes(p, cacheFolder: "/", diskBytes: 4 << 30), (4 << 30) / 100 * 20)
        XCTAssertNil(CacheCap.bytes(.defaults, cacheFolder: "/", diskBytes: 4 << 30))
    }

    func testAMachineBelowDOsMinimumsDoesNotPeer() throws {
        XCTAssertNil(PeeringEligibility.refusal(.defaults, cacheFolder: "/", memoryBytes: 8 << 30, diskBytes: 64 << 30))
        let ram = PeeringEligibility.refusal(.defaults, cacheFolder: "/", memoryBytes: 2 << 30, diskBytes: 64 << 30)
        XCTAssertTrue(ram?.contains("DOMinRAMAllowedToPeer") ?? false, ram ?? "nil")
        let disk = PeeringEligibility.refusal(.defaults, cacheFolder: "/", memoryBytes: 8 << 30, diskBytes: 16 << 30)
        XCTAssertTrue(disk?.contains("DOMinDiskSizeAllowedToPeer") ?? false, disk ?? "nil")
    }

    func testEveryPolicyHasAFlagNamedAfterIt() {
        XCTAssertEqual(PolicyKey.minRAMAllowedToPeer.flag, "--min-ram-allowed-to-peer")
        XCTAssertEqual(PolicyKey.maxForegroundDownloadBandwidth.flag, "--max-foreground-download-bandwidth")
        XCTAssertEqual(PolicyKey.monthlyUploadDataCap.flag, "--monthly-upload-data-cap")
        XCTAssertEqual(Set(PolicyKey.allCases.map(\.flag)).count, PolicyKey.allCases.count)
    }
}

/// do-client's admin config may carry do-client's own settings: those are skipped there, never in dofs's file.
final class DoClientAdminConfigTests: XCTestCase {
    func testUnknownKeysOfDoClientsFileAreSkippedAndListed() throws {
        let json = Array(#"{"DOCacheHost": "mcc.corp", "ADUC_IoTConnectionString": "x"}"#.utf8)
        let layer = try PolicyLayer(json: json, file: "admin-config.json", allowingUnknownKeys: true)
        XCTAssertEqual(layer.values[.cacheHost], .text("mcc.corp"))
        XCTAssertEqual(layer.ignoredKeys, ["ADUC_IoTConnectionString"])
        XCTAssertThrowsError(try PolicyLayer(json: json, file: "dofs.json"))
    }
}

/// DORestrictPeerSelectionBy 1 narrows the service's LAN (the public address) to the mount's subnet.
final class PeerSelectionScopeTests: XCTestCase {
    private struct NoDirectory: ContentDirectory {
        func lookup(contentId: ContentId?, url: String?) async throws(DirectoryError) -> DirectoryAnswer? { nil }
        func announce(_ announcement: SwarmAnnouncement) async throws(DirectoryError) -> SwarmAnnouncementAnswer {
            SwarmAnnouncementAnswer(peers: [], reannounceSeconds: 60)
        }
    }

    private func swarm(restrict: Int) throws -> SessionSwarm {
        var config = PeeringConfiguration(downloadMode: 1, groupId: nil, peerId: .random(), reportedIp: "10.1.2.3", port: 7680)
        config.subnetMask = "255.255.255.0"
        config.policy = LivePolicy(AdminPolicy.defaults.merging(
            PolicyLayer([.restrictPeerSelectionBy: .integer(restrict)]), from: .flag))
        return SessionSwarm(contentId: try ContentId("DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc="),
                            hashOfHashes: SHA256.hash(Array("x".utf8)), layout: PieceLayout(contentLength: 1 << 20),
                            config: config, directory: NoDirectory(), logger: Logger(label: "test"))
    }

    func testSubnetRestrictionKeepsOnlyPeersOnOurSubnet() throws {
        let answer = SwarmAnnouncementAnswer(peers: [
            .init(peerId: PeerId.random().hex, host: "10.1.2.9", port: 7680),
            .init(peerId: PeerId.random().hex, host: "10.1.3.9", port: 7680),
        ], reannounceSeconds: 60)
        XCTAssertEqual(try swarm(restrict: 0).usablePeers(answer).map(\.host), ["10.1.2.9", "10.1.3.9"])
        XCTAssertEqual(try swarm(restrict: 1).usablePeers(answer).map(\.host), ["10.1.2.9"])
    }
}
