import DOCore
import Foundation
import XCTest

/// DO parity (issue 13): the policies an administrator sets and the join's wire details, each shown
/// by what it changes in real mounts: a `--no-upload` mount still gets peer bytes; LAN mode is the
/// same public address (members behind two NATs are no peers in mode 1, and are in mode 3); a content
/// policy's DownloadMode 0 stops peering; DOMaxForegroundDownloadBandwidth paces a cold read; a policy
/// file edited under a running node applies; a file with an unknown policy or a wrong unit is refused.
final class DOPolicyTests: MountTestCase {
    private let MiB = TestContent.MiB
    private var logs: String { scratch.file("logs") }

    private struct Peer {
        let mount: DofsMount
        let host: String
    }

    private func startControlPlane(port: Int? = nil, _ extra: [String] = []) throws -> ControlPlaneProcess {
        let cp = try ControlPlaneProcess(scratch: scratch, port: port, extraArguments: ["--reannounce-secs", "2"] + extra)
        addCleanup { cp.stop() }
        return cp
    }

    private func publishRegistered(_ bytes: [UInt8], as name: String, on origin: NginxOrigin,
                                   controlPlane cp: ControlPlaneProcess) throws -> DofsCLI.Published {
        try DofsCLI.publishOnOrigin(bytes, as: name, on: origin, controlPlane: cp.baseURL, logDirectory: logs)
    }

    private func peerMount(_ host: String, controlPlane url: String, cache: String? = nil, _ extra: [String] = []) throws -> Peer {
        let port = try LoopbackSocket.freePort(host: host)
        let m = try mount(cacheDir: scratch.file(cache ?? "cache-\(host)"),
                          extraArguments: ["--control-plane", url, "--peer-listen", "\(host):\(port)"] + extra)
        return Peer(mount: m, host: host)
    }

    /// Reads `path` whole: the bytes must be `content`, verified; returns `user.dofs.sources`.
    private func readVerified(_ path: String, _ content: [UInt8], _ what: String,
                              file: StaticString = #filePath, line: UInt = #line) throws -> [String: Int] {
        let got = try readWhole(path, within: 90).get()
        XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content), "\(what): SHA-256", file: file, line: line)
        XCTAssertEqual(try xattr(path, "user.dofs.mode").get(), "verified", "\(what): mode", file: file, line: line)
        let s = DofsMount.sources(path) ?? [:]
        print("\(what): user.dofs.sources = \(s)")
        return s
    }

    // MARK: RestrictedUpload

    func testANoUploadMountJoinsWithRestrictedUploadAndTakesItsBytesFromPeers() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 16 * MiB
        let content = TestContent.bytes(count: size, seed: 1301)
        let published = try publishRegistered(content, as: "shared.bin", on: origin, controlPlane: cp)
        let seeder = try peerMount("127.0.0.2", controlPlane: cp.baseURL)
        _ = try readVerified("\(seeder.mount.mountpoint)/by-id/\(published.ContentId)", content, "the seeder")
        let leecher = try peerMount("127.0.0.3", controlPlane: cp.baseURL, ["--no-upload"])
        let s = try readVerified("\(leecher.mount.mountpoint)/by-id/\(published.ContentId)", content, "the --no-upload mount")
        XCTAssertGreaterThanOrEqual(s["peer"] ?? 0, size * 9 / 10, "a --no-upload mount takes its bytes from peers: \(s)")
        XCTAssertFalse(leecher.mount.log.contains("cannot join its swarm"), "its joins are accepted:\n\(leecher.mount.logTail())")
        XCTAssertFalse(cp.logTail(200).contains("\"Port\" is not"), "the control plane accepted the join")
    }

    // MARK: LAN = the same public address

    /// nginx in front of the control plane acting as two NATs: joins from 127.0.0.2 reach the control
    /// plane as coming from 203.0.113.2, those from 127.0.0.3 as 198.51.100.3 (X-Real-IP from a trusted
    /// proxy). ReportedIp (the 127.0.0.x address) is where peers are told to connect.
    private func natProxy(upstreamPort: Int, port: Int) throws {
        let home = try scratch.directory("nat-proxy")
        for sub in ["logs", "tmp"] { _ = try scratch.directory("nat-proxy/\(sub)") }
        try """
        \(NginxConfig.main(home: home, workerConnections: 256))
        http {
            access_log \(home)/logs/access.log;
            log_format bodies escape=none '$remote_addr $request_body';
            access_log \(home)/logs/bodies.log bodies;
            client_body_buffer_size 64k;
        \(NginxConfig.temporaryPaths(home: home))
            map $remote_addr $public_address {
                127.0.0.2 203.0.113.2;
                127.0.0.3 198.51.100.3;
                default $remote_addr;
            }
            server {
                listen 127.0.0.1:\(port);
                location / {
                    proxy_pass http://127.0.0.1:\(upstreamPort);
                    proxy_set_header X-Real-IP $public_address;
                }
            }
        }

        """.write(toFile: home + "/nginx.conf", atomically: true, encoding: .utf8)
        let nginx = try ChildProcess("nginx", ["-c", home + "/nginx.conf", "-p", home], stdoutPath: home + "/logs/stdout",
                                     stderrPath: home + "/logs/stderr")
        addCleanup { _ = nginx.stop(grace: 2) }
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.05) { LoopbackPort.accepts(port) }, "the NAT proxy listens")
    }

    func testMembersBehindDifferentPublicAddressesAreNoPeersInLANModeButAreInInternetMode() throws {
        let origin = try startOrigin()
        let (cpPort, proxyPort) = (try LoopbackPort.free(), try LoopbackPort.free())
        let cp = try startControlPlane(port: cpPort, ["--trusted-proxy", "127.0.0.1", "--public-url", "http://127.0.0.1:\(proxyPort)"])
        try natProxy(upstreamPort: cpPort, port: proxyPort)
        let proxied = "http://127.0.0.1:\(proxyPort)"
        let size = 12 * MiB
        for (mode, seed) in [("1", 1302), ("3", 1303)] {
            let content = TestContent.bytes(count: size, seed: UInt64(seed))
            let published = try publishRegistered(content, as: "mode\(mode).bin", on: origin, controlPlane: cp)
            let a = try peerMount("127.0.0.2", controlPlane: proxied, cache: "a\(mode)", ["--download-mode", mode])
            _ = try readVerified("\(a.mount.mountpoint)/by-id/\(published.ContentId)", content, "mode \(mode): the first home")
            let b = try peerMount("127.0.0.3", controlPlane: proxied, cache: "b\(mode)", ["--download-mode", mode])
            let s = try readVerified("\(b.mount.mountpoint)/by-id/\(published.ContentId)", content, "mode \(mode): the second home")
            if mode == "1" {
                XCTAssertEqual(s["peer"] ?? 0, 0, "LAN mode: another public address is not this LAN: \(s)")
                XCTAssertEqual(s["cdn"], size, "LAN mode: everything from the CDN: \(s)")
            } else {
                XCTAssertGreaterThanOrEqual(s["peer"] ?? 0, size * 9 / 10, "Internet mode: the other home is a peer: \(s)")
                try assertJoinBodies(contentId: published.ContentId, url: origin.url("mode3.bin"), size: size)
            }
        }
    }

    /// The join bodies the NAT proxy saw for `contentId`: DO's fields with real values. The first home
    /// served the second, so one of its re-announces counts Uploaded; the second took every byte from
    /// it, so its counters say Downloaded = size with DownloadedCdn 0.
    private func assertJoinBodies(contentId: String, url: String, size: Int) throws {
        let path = scratch.file("nat-proxy/logs/bodies.log")
        func joins(from address: String) -> [[String: String]] {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line -> [String: String]? in
                guard line.hasPrefix(address + " "), let brace = line.firstIndex(of: "{"),
                      let body = try? JSONSerialization.jsonObject(with: Data(line[brace...].utf8)) as? [String: String],
                      body["ContentId"] == contentId else { return nil }
                return body
            }
        }
        let served = waitUntil(timeout: 15, interval: 0.2) { joins(from: "127.0.0.2").contains { Int($0["Uploaded"] ?? "") ?? 0 >= size * 9 / 10 } }
        XCTAssertTrue(served, "the first home re-announces with Uploaded counted: \(joins(from: "127.0.0.2").map { $0["Uploaded"] ?? "-" })")
        let fetched = waitUntil(timeout: 15, interval: 0.2) {
            joins(from: "127.0.0.3").contains { $0["Downloaded"] == String(size) && $0["DownloadedCdn"] == "0" && $0["DownloadedDoinc"] == "0" }
        }
        XCTAssertTrue(fetched, "the second home's counters: \(joins(from: "127.0.0.3").map { ($0["Downloaded"] ?? "-", $0["DownloadedCdn"] ?? "-") })")
        guard let body = joins(from: "127.0.0.3").last else { return XCTFail("no join body from the second home in \(path)") }
        XCTAssertEqual(body["AltCatalogId"], url, "AltCatalogId is the content URL")
        XCTAssertEqual(body["SubnetMask"], "255.0.0.0", "the mask of lo, whose network holds 127.0.0.3")
        XCTAssertEqual(body["ReportedIp"], "127.0.0.3")
        XCTAssertEqual(body["RestrictedUpload"], "0")
        XCTAssertEqual(body["Scope"], "3")
        XCTAssertEqual([body["ClientDialectVersionMajor"], body["ClientDialectVersionMinor"], body["ClientDialectVersionBuild"],
                        body["ClientDialectVersionRevision"]].compactMap { $0 }.joined(separator: "."), "10.1.0.12")
        let access = (try? String(contentsOfFile: scratch.file("nat-proxy/logs/access.log"), encoding: .utf8)) ?? ""
        XCTAssertTrue(access.contains("doClientVersion=10.1.0.12"), "doClientVersion matches the dialect version")
        XCTAssertFalse(access.contains("doClientVersion=0.1.0.0"))
    }

    // MARK: The content policy's DownloadMode

    func testAContentPolicyWithDownloadMode0StopsPeeringForLANMounts() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane(["--content-download-mode", "0"])
        let size = 12 * MiB
        let content = TestContent.bytes(count: size, seed: 1304)
        let published = try publishRegistered(content, as: "nopeers.bin", on: origin, controlPlane: cp)
        let a = try peerMount("127.0.0.2", controlPlane: cp.baseURL)
        _ = try readVerified("\(a.mount.mountpoint)/by-id/\(published.ContentId)", content, "the first mount")
        let b = try peerMount("127.0.0.3", controlPlane: cp.baseURL)
        let s = try readVerified("\(b.mount.mountpoint)/by-id/\(published.ContentId)", content, "the second mount")
        XCTAssertEqual(s["peer"] ?? 0, 0, "the service allows no peering for this content: \(s)")
        XCTAssertEqual(s["cdn"], size, "\(s)")
        XCTAssertTrue(b.mount.log.contains("DOWNLOADMODE_SET_BY_CP"), "the mount says why:\n\(b.mount.logTail())")

        let shown = try ChildProcess.run(DofsCLI.binaryPath, ["config", "show", "--control-plane", cp.baseURL, "--content", published.ContentId],
                                         logDirectory: logs, timeout: 30)
        XCTAssertTrue(shown.succeeded, shown.stderr)
        let mode = shown.stdout.split(separator: "\n").first { $0.hasPrefix("DODownloadMode ") }.map(String.init) ?? ""
        XCTAssertTrue(mode.contains(" 0 ") && mode.hasSuffix("control plane"), "config show names the control plane: \(mode)")
    }

    // MARK: Peering minimums

    func testDOsPeeringMinimumsKeepContentOrAMachineOutOfSwarms() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let size = 12 * MiB
        // The first pair, with DO's defaults, shows that these mounts do peer when nothing stops them.
        for (n, flags) in [["--min-file-size-to-cache", "10"], ["--min-file-size-to-cache", "16"],
                           ["--min-ram-allowed-to-peer", "1000000"], ["--min-disk-size-allowed-to-peer", "1000000"]].enumerated() {
            let content = TestContent.bytes(count: size, seed: UInt64(1310 + n))
            let published = try publishRegistered(content, as: "min\(n).bin", on: origin, controlPlane: cp)
            let a = try peerMount("127.0.0.2", controlPlane: cp.baseURL, cache: "min-a\(n)", flags)
            _ = try readVerified("\(a.mount.mountpoint)/by-id/\(published.ContentId)", content, "\(flags[0]): the first mount")
            let b = try peerMount("127.0.0.3", controlPlane: cp.baseURL, cache: "min-b\(n)", flags)
            let s = try readVerified("\(b.mount.mountpoint)/by-id/\(published.ContentId)", content, "\(flags[0]): the second mount")
            if n == 0 {
                XCTAssertGreaterThanOrEqual(s["peer"] ?? 0, size * 9 / 10, "12 MiB over a 10 MB minimum: peers: \(s)")
            } else {
                XCTAssertEqual(s["peer"] ?? 0, 0, "\(flags.joined(separator: " ")): no peering: \(s)")
                XCTAssertEqual(s["cdn"], size, "\(s)")
            }
        }
    }

    // MARK: Cache age

    func testLoweringDOMaxCacheAgeUnderARunningNodeEvictsContentsUnusedForLonger() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 4 * MiB, seed: 1320)
        let published = try publish(content, as: "old.bin", on: origin)
        let policyFile = scratch.file("age.json")
        try #"{"DOMaxCacheAge": 0}"#.write(toFile: policyFile, atomically: true, encoding: .utf8)
        let m = try mount(catalog: [CatalogEntry(name: "old.bin", published: published)],
                          extraArguments: ["--download-mode", "99", "--config", policyFile])
        let path = m.mountpoint + "/old.bin"
        assertReads(try readWhole(path, within: 30), content, "old.bin")
        XCTAssertEqual(try xattr(path, "user.dofs.pieces").get(), "4/4")
        Thread.sleep(forTimeInterval: 2.2)
        try #"{"DOMaxCacheAge": 1}"#.write(toFile: policyFile, atomically: true, encoding: .utf8)
        XCTAssertTrue(waitUntil(timeout: 15, interval: 0.1) { (try? self.xattr(path, "user.dofs.pieces").get()) == "0/4" },
                      "a content unused for 2 s is evicted once DOMaxCacheAge is 1 s:\n\(m.logTail())")
        // The node logs the eviction once it is done, so the line may reach the log file just after it.
        XCTAssertTrue(waitUntil(timeout: 5, interval: 0.05) { m.log.contains("DOMaxCacheAge 1 s: evicted 1 content") }, m.logTail())
        assertReads(try readWhole(path, within: 30), content, "old.bin read again, from the origin")
    }

    // MARK: Bandwidth

    func testDOMaxForegroundDownloadBandwidthPacesAColdRead() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 32 * MiB, seed: 1305)
        let published = try publish(content, as: "paced.bin", on: origin)
        let catalog = [CatalogEntry(name: "paced.bin", published: published)]
        let paced = try mount(cacheDir: scratch.file("cache-paced"), catalog: catalog,
                              extraArguments: ["--download-mode", "99", "--max-foreground-download-bandwidth", "8192"])
        let started = Date()
        assertReads(try readWhole(paced.mountpoint + "/paced.bin", within: 60), content, "paced.bin at 8192 KB/s")
        let took = Date().timeIntervalSince(started)
        print("32 MiB cold read at DOMaxForegroundDownloadBandwidth 8192 KB/s: \(String(format: "%.2f", took)) s")
        XCTAssertGreaterThanOrEqual(took, 3.5, "32 MiB at 8 MiB/s cannot take less than 3.5 s (0.25 s of burst)")
        XCTAssertLessThan(took, 30, "and is not stalled either")
    }

    func testABackgroundPrefetchIsPacedByTheBackgroundLimitWhileReadsAreNot() throws {
        let origin = try startOrigin()
        let background = TestContent.bytes(count: 8 * MiB, seed: 1308), foreground = TestContent.bytes(count: 8 * MiB, seed: 1309)
        let a = try publish(background, as: "bg.bin", on: origin), b = try publish(foreground, as: "fg.bin", on: origin)
        let socket = scratch.file("bg.sock")
        let m = try mount(catalog: [CatalogEntry(name: "bg.bin", published: a), CatalogEntry(name: "fg.bin", published: b)],
                          extraArguments: ["--download-mode", "99", "--socket", socket, "--max-background-download-bandwidth", "2048"])
        let started = Date()
        let run = try ChildProcess.run(DofsCLI.binaryPath, ["prefetch", m.mountpoint + "/bg.bin", "--background", "--socket", socket],
                                       logDirectory: logs, timeout: 30)
        XCTAssertTrue(run.succeeded, run.stderr)
        var stamp = Date()
        assertReads(try readWhole(m.mountpoint + "/fg.bin", within: 30), foreground, "fg.bin read during the prefetch")
        let read = Date().timeIntervalSince(stamp)
        stamp = Date()
        XCTAssertTrue(waitUntil(timeout: 30, interval: 0.05) { (try? self.xattr(m.mountpoint + "/bg.bin", "user.dofs.pieces").get()) == "8/8" },
                      "the background prefetch finishes")
        let prefetched = Date().timeIntervalSince(started)
        print("8 MiB background prefetch at 2048 KB/s: \(String(format: "%.2f", prefetched)) s; an 8 MiB read meanwhile: \(String(format: "%.2f", read)) s")
        XCTAssertGreaterThanOrEqual(prefetched, 3.5, "8 MiB at 2 MiB/s in the background takes at least 3.75 s")
        XCTAssertLessThan(read, 3.0, "a read is foreground: not held to the background limit")
        assertReads(try readWhole(m.mountpoint + "/bg.bin", within: 30), background, "bg.bin after its prefetch")
    }

    // MARK: Policy files

    func testAPolicyFileEditedUnderARunningNodeAppliesWithoutARestart() throws {
        let origin = try startOrigin()
        let first = TestContent.bytes(count: 8 * MiB, seed: 1306), second = TestContent.bytes(count: 8 * MiB, seed: 1307)
        let a = try publish(first, as: "first.bin", on: origin), b = try publish(second, as: "second.bin", on: origin)
        let policyFile = scratch.file("dofs.json")
        try #"{"DOMaxForegroundDownloadBandwidth": 1024}"#.write(toFile: policyFile, atomically: true, encoding: .utf8)
        let m = try mount(catalog: [CatalogEntry(name: "first.bin", published: a), CatalogEntry(name: "second.bin", published: b)],
                          extraArguments: ["--download-mode", "99", "--config", policyFile])
        var started = Date()
        assertReads(try readWhole(m.mountpoint + "/first.bin", within: 60), first, "first.bin at 1024 KB/s")
        let slow = Date().timeIntervalSince(started)
        try #"{"DOMaxForegroundDownloadBandwidth": 0}"#.write(toFile: policyFile, atomically: true, encoding: .utf8)
        XCTAssertTrue(waitUntil(timeout: 15, interval: 0.1) { m.log.contains("policy re-read (a policy file changed)") },
                      "the node re-reads the file:\n\(m.logTail())")
        started = Date()
        assertReads(try readWhole(m.mountpoint + "/second.bin", within: 60), second, "second.bin with no limit")
        let fast = Date().timeIntervalSince(started)
        print("8 MiB at 1024 KB/s: \(String(format: "%.2f", slow)) s; after the edit: \(String(format: "%.2f", fast)) s")
        XCTAssertGreaterThanOrEqual(slow, 7.5, "8 MiB at 1 MiB/s takes at least 7.75 s")
        XCTAssertLessThan(fast, 5.0, "with the limit lifted, the next read is not paced (it would take 7.75 s)")
    }

    func testConfigShowPrintsEveryPolicyWithItsSourceAndRefusesUnknownKeysAndWrongUnits() throws {
        let good = scratch.file("good.json")
        try #"{"DOMaxCacheAge": 86400, "DOCacheHost": "cache.example"}"#.write(toFile: good, atomically: true, encoding: .utf8)
        let shown = try ChildProcess.run(DofsCLI.binaryPath, ["config", "show", "--config", good, "--download-mode", "3"],
                                         logDirectory: logs, timeout: 30)
        XCTAssertTrue(shown.succeeded, shown.stderr)
        let lines = shown.stdout.split(separator: "\n")
        func line(_ key: String) -> String { lines.first { $0.hasPrefix(key + " ") }.map(String.init) ?? "(missing \(key))" }
        XCTAssertTrue(line("DOMaxCacheAge").contains("86400") && line("DOMaxCacheAge").hasSuffix("file \(good)"), line("DOMaxCacheAge"))
        XCTAssertTrue(line("DODownloadMode").contains("3") && line("DODownloadMode").hasSuffix("flag"), line("DODownloadMode"))
        XCTAssertTrue(line("DOMinRAMAllowedToPeer").hasSuffix("default"), line("DOMinRAMAllowedToPeer"))
        XCTAssertEqual(lines.count, 21, "one line per DO policy:\n\(shown.stdout)")

        for (json, named) in [(#"{"DOMaxCacheAgeDays": 3}"#, "DOMaxCacheAgeDays"),
                              (#"{"DOMaxForegroundDownloadBandwidth": "8MB/s"}"#, "DOMaxForegroundDownloadBandwidth must be a whole number of KB/s")] {
            let bad = scratch.file("bad.json")
            try json.write(toFile: bad, atomically: true, encoding: .utf8)
            let refused = try ChildProcess.run(DofsCLI.binaryPath, ["config", "show", "--config", bad], logDirectory: logs, timeout: 30)
            XCTAssertFalse(refused.succeeded, "\(json) must be refused")
            XCTAssertTrue(refused.stderr.contains(named), "the refusal names \(named): \(refused.stderr)")
            let mount = try ChildProcess.run(DofsCLI.binaryPath, ["mount", scratch.file("never"), "--config", bad, "--download-mode", "99",
                                                                  "--socket", scratch.file("never.sock")],
                                             logDirectory: logs, timeout: 30)
            XCTAssertFalse(mount.succeeded, "a node does not start on \(json)")
            XCTAssertTrue(mount.stderr.contains(named), "dofs mount names \(named): \(mount.stderr)")
        }
    }
}
