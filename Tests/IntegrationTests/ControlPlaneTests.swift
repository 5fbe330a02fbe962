import DOCore
import Foundation
import XCTest

/// Mounts that ask a control plane (do-protocol.md section 2): a standalone `dofs control-plane`, one
/// behind a TLS proxy, the one embedded in `dofs mount`, and none (download mode 99). Published content
/// opens verified under `/by-id/` and `/by-url/`; whatever cannot be trusted falls back to simple mode
/// with the reason, and never turns into verified pieces.
final class ControlPlaneTests: MountTestCase {
    private let MiB = TestContent.MiB
    private var controlPlanes: [ControlPlaneProcess] = []

    override func tearDown() {
        if (testRun?.totalFailureCount ?? 0) > 0 {
            for cp in controlPlanes {
                print("---- dofs control-plane stderr (port \(cp.port), \(cp.isRunning ? "running" : "stopped")):")
                print(cp.logTail(60))
            }
        }
        controlPlanes.removeAll()
        super.tearDown()
    }

    // MARK: Helpers

    private var logs: String { scratch.file("logs") }

    /// A `dofs control-plane` on loopback, stopped (by PID) in tearDown after the mounts are gone.
    private func startControlPlane(name: String = "control-plane", port: Int? = nil,
                                   extraArguments: [String] = []) throws -> ControlPlaneProcess {
        let cp = try ControlPlaneProcess(scratch: scratch, name: name, port: port, extraArguments: extraArguments)
        controlPlanes.append(cp)
        addCleanup { cp.stop() }
        return cp
    }

    /// Writes `bytes` as docroot file `name`, publishes it (PHF written beside it on the origin and
    /// announced there) and registers it as `registration` says.
    private func publishRegistered(_ bytes: [UInt8], as name: String, on origin: NginxOrigin,
                                   registration: DofsCLI.Registration) throws -> DofsCLI.Published {
        try TestContent.write(bytes, to: origin.path(name))
        let registered = try DofsCLI.publish(file: origin.path(name), url: origin.url(name), phfOut: origin.path(name + ".phf"),
                                             phfURL: origin.url(name + ".phf"), registration: registration, logDirectory: logs)
        XCTAssertNotNil(registered.registeredAt, "dofs publish with a registration must print RegisteredAt")
        return registered.published
    }

    /// Files (not folders) below `directory`, as paths relative to it; none when it does not exist.
    private func files(under directory: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            if case .success(let a) = FileIO.attributes("\(directory)/\(relative)"), !a.isDirectory { found.append(relative) }
        }
        return found.sorted()
    }

    /// A well-formed dofs content ID that nothing was published under.
    private var unpublishedContentId: String {
        ContentId(hashOfHashes: SHA256.hash(Array("never published \(UUID())".utf8))).rawValue
    }

    // MARK: 1. Standalone control plane

    func testPublishedContentReadsVerifiedByIdAndByURLAndUnknownNamesDoNot() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let content = TestContent.bytes(count: 3 * MiB + 1234, seed: 301)
        let published = try publishRegistered(content, as: "a.bin", on: origin, registration: .controlPlane(cp.baseURL))
        let plain = try TestContent.write(TestContent.bytes(count: MiB + 77, seed: 302), to: origin.path("plain.bin"))
        let m = try mount(extraArguments: ["--control-plane", cp.baseURL])

        let idPath = byID(m, published.ContentId)
        XCTAssertEqual(try stat(idPath).get().size, content.count, "by-id size from the PHF")
        try assertVerifiedRead(idPath, content, contentId: published.ContentId, "a.bin by id")
        XCTAssertEqual(try xattr(idPath, "user.dofs.url").get(), published.Url, "by-id content comes from the published URL")

        let urlPath = byURL(m, published.Url)
        try assertVerifiedRead(urlPath, content, contentId: published.ContentId, "a.bin by URL")
        XCTAssertEqual(try xattr(urlPath, "user.dofs.url").get(), published.Url)
        XCTAssertEqual(origin.requests(matching: "/a.bin.phf").count, 0,
                       "the control plane stored the PHF, so its own copy is fetched first, not the origin's")

        assertFails(try stat(byID(m, unpublishedContentId)), with: [ENOENT], "by-id of a content nobody published")

        try assertSimpleRead(byURL(m, origin.url("plain.bin")), plain, reasonContains: ["does not know"],
                             "an unpublished URL on the same origin")

        // Where verified content lands in the cache (what test 3 checks stays empty), once flushed by the unmount.
        XCTAssertEqual(try m.unmount(), .exited(0))
        let stored = CacheInspection.verifyContentAddressedFiles(under: scratch.file("cache") + "/pieces")
        XCTAssertEqual(stored.checked, 4, "a.bin's 4 pieces, stored as verified (3 files, the last 1,234 bytes in a pack)")
        XCTAssertEqual(stored.mismatches, [])
        XCTAssertEqual(files(under: scratch.file("cache") + "/metadata").filter { $0.hasSuffix(".phf") }.count, 1,
                       "a.bin's PHF, kept as trusted metadata")
    }

    // MARK: 2. Control plane killed, then back

    func testControlPlaneKilledMidRunKeepsVerifiedContentThenNewURLsTurnVerifiedWhenItIsBack() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let seen = TestContent.bytes(count: 5 * MiB + 321, seed: 311)
        let unseen = TestContent.bytes(count: 2 * MiB + 17, seed: 312)
        let a = try publishRegistered(seen, as: "seen.bin", on: origin, registration: .controlPlane(cp.baseURL))
        let b = try publishRegistered(unseen, as: "unseen.bin", on: origin, registration: .controlPlane(cp.baseURL))
        let cacheDir = scratch.file("cache")
        let cpArgs = ["--control-plane", cp.baseURL]

        // Open A verified and read a little of it, then the control plane dies.
        let first = try mount(cacheDir: cacheDir, extraArguments: cpArgs)
        let aFirst = byURL(first, a.Url)
        assertReads(try read(aFirst, offset: 0, length: 100_000), seen.expected(offset: 0, length: 100_000), "start of seen.bin")
        XCTAssertEqual(try xattr(aFirst, "user.dofs.mode").get(), "verified")
        cp.kill9()
        XCTAssertFalse(cp.isRunning)
        XCTAssertFalse(LoopbackPort.accepts(cp.port), "nothing may listen on the control plane's port after kill -9")

        try assertVerifiedRead(aFirst, seen, contentId: a.ContentId, "seen.bin, rest read with the control plane dead")
        try first.unmount()

        // A fresh mount on the same cache: A still opens verified by URL, from what the cache remembers.
        let second = try mount(cacheDir: cacheDir, extraArguments: cpArgs)
        try assertVerifiedRead(byURL(second, a.Url), seen, contentId: a.ContentId,
                               "seen.bin on a remount with the control plane down")

        // B was published but never opened: nothing to remember, so simple mode, still the right bytes.
        let bPath = byURL(second, b.Url)
        try assertSimpleRead(bPath, unseen, reasonContains: ["unreachable"], "unseen.bin with the control plane down")

        // The control plane comes back with its registry: B is asked again and turns verified.
        try cp.start()
        let restarted = Date()
        var lastMode = ""
        let turned = waitUntil(timeout: 15, interval: 0.25) {
            lastMode = (try? self.xattr(bPath, "user.dofs.mode", within: 5).get()) ?? "(getxattr failed)"
            return lastMode == "verified"
        }
        XCTAssertTrue(turned, "unseen.bin still \(lastMode) 15 s after the control plane came back; reason: "
                      + ((try? xattr(bPath, "user.dofs.mode_reason").get()) ?? "-"))
        print("unseen.bin turned \(lastMode) \(String(format: "%.1f", Date().timeIntervalSince(restarted))) s after the restart")
        if turned { try assertVerifiedRead(bPath, unseen, contentId: b.ContentId, "unseen.bin once verified") }
    }

    // MARK: 3. A PHF that does not match the HashOfHashes

    func testPiecesHashFileWithAnotherHashOfHashesIsRefusedAndTheURLReadsInSimpleMode() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let content = try TestContent.write(TestContent.bytes(count: 2 * MiB + 500, seed: 321), to: origin.path("x.bin"))
        let x = try DofsCLI.publish(file: origin.path("x.bin"), url: origin.url("x.bin"), phfOut: origin.path("x.bin.phf"),
                                    phfURL: origin.url("x.bin.phf"), logDirectory: logs)

        // Registered without the PHF itself, so the only PHF URL is the origin's.
        let registration = try TestPublisher.shared().registration(x)
        let posted = try Curl.postJSON(cp.baseURL + "/publish", json: JSONSerialization.data(withJSONObject: registration),
                                       logDirectory: logs)
        XCTAssertEqual(posted.status, 201, "POST /publish without PiecesHashFile: \(posted)")
        XCTAssertNil(posted.json?["PiecesHashFileUrl"] as? String, "no PHF stored, so none served by the control plane: \(posted)")
        let policy = try Curl.get(cp.baseURL + "/content/\(x.ContentId)/contentpolicy", logDirectory: logs)
        XCTAssertEqual(policy.status, 200, "\(policy)")
        XCTAssertEqual(policy.json?["PiecesHashFileCdnUrls"] as? [String], [x.PiecesHashFileUrl],
                       "the client may only try the origin's PHF: \(policy)")

        // The origin's PHF now belongs to other content of the same length (consistent shape, other HashOfHashes).
        let otherFile = try scratch.directory("other") + "/y.bin"
        try TestContent.write(TestContent.bytes(count: content.count, seed: 322), to: otherFile)
        let y = try DofsCLI.publish(file: otherFile, url: origin.url("y.bin"), phfOut: origin.path("x.bin.phf"), logDirectory: logs)
        XCTAssertNotEqual(y.HashOfHashes, x.HashOfHashes)

        let cacheDir = scratch.file("cache")
        let m = try mount(cacheDir: cacheDir, extraArguments: ["--control-plane", cp.baseURL])
        let path = byURL(m, x.Url)
        XCTAssertEqual(try stat(path).get().size, content.count, "size from the origin")
        let reason = try assertSimpleRead(path, content, reasonContains: ["refused"], "x.bin with a foreign PHF")
        XCTAssertTrue(reason.contains(x.PiecesHashFileUrl) || reason.lowercased().contains("hashofhashes"),
                      "the reason should say which PHF or what was refused: \(reason)")
        XCTAssertGreaterThan(origin.requests(matching: "/x.bin.phf").count, 0, "the origin's (foreign) PHF was fetched")
        assertFails(try readWhole(byID(m, x.ContentId), within: 30), with: [EIO, ENOENT],
                    "by-id has no unverified fallback: refused metadata must fail the read")
        XCTAssertEqual(try m.unmount(), .exited(0), "unmount (flushes the piece store)")

        XCTAssertEqual(CacheInspection.verifyContentAddressedFiles(under: cacheDir + "/pieces").checked, 0,
                       "no piece of x.bin may be stored as verified (neither a file nor packed)")
        XCTAssertEqual(files(under: cacheDir + "/metadata").filter { $0.hasSuffix(".phf") }, [],
                       "the refused PHF must not be kept as trusted metadata")
        XCTAssertFalse(files(under: cacheDir + "/pieces/simple").isEmpty, "the simple-mode read was cached as simple pieces")
    }

    // MARK: 4. The registry is durable

    func testRegistrySurvivesSIGKILLOfTheControlPlane() throws {
        let origin = try startOrigin()
        let cp = try startControlPlane()
        let contents = [TestContent.bytes(count: 300_000, seed: 331), TestContent.bytes(count: MiB + 5, seed: 332),
                        TestContent.bytes(count: 2 * MiB, seed: 333)]
        let published = try contents.enumerated().map { i, bytes in
            try publishRegistered(bytes, as: "r\(i).bin", on: origin, registration: .controlPlane(cp.baseURL))
        }

        cp.kill9()
        XCTAssertFalse(LoopbackPort.accepts(cp.port), "the control plane must be down")
        try cp.start()

        for p in published {
            let byId = try Curl.get(cp.baseURL + "/content/\(p.ContentId)/contentpolicy", logDirectory: logs)
            XCTAssertEqual(byId.status, 200, "content policy of \(p.ContentId) after kill -9: \(byId)")
            XCTAssertEqual(byId.json?["ContentId"] as? String, p.ContentId)
            XCTAssertEqual(byId.json?["HashOfHashes"] as? String, p.HashOfHashes)
            let byUrl = try Curl.get(cp.baseURL + "/content/test/contentpolicy", query: [("altCatalogId", p.Url)], logDirectory: logs)
            XCTAssertEqual(byUrl.status, 200, "content policy of \(p.Url) after kill -9: \(byUrl)")
            XCTAssertEqual(byUrl.json?["ContentId"] as? String, p.ContentId)
            let phf = try Curl.get(cp.baseURL + "/content/\(p.ContentId)/phf", logDirectory: logs)
            XCTAssertEqual(phf.status, 200, "stored PHF of \(p.ContentId) after kill -9: \(phf)")
            XCTAssertEqual(phf.json?["HashOfHashes"] as? String, p.HashOfHashes)
        }

        let m = try mount(extraArguments: ["--control-plane", cp.baseURL])
        try assertVerifiedRead(byID(m, published[2].ContentId), contents[2], contentId: published[2].ContentId,
                               "r2.bin by id after the control plane's restart")
    }

    // MARK: 5. HTTPS

    func testControlPlaneBehindATLSProxyIsTrustedOnlyWithItsCA() throws {
        let origin = try startOrigin()
        let certs = try TestCertificates.make(in: try scratch.directory("tls"), logDirectory: logs)
        let cpPort = try LoopbackPort.free()
        let proxy = try TLSProxy(scratch: scratch, certificates: certs, upstreamPort: cpPort)
        addCleanup { proxy.stop() }
        _ = try startControlPlane(port: cpPort, extraArguments: ["--public-url", proxy.baseURL, "--trusted-proxy", "127.0.0.1"])

        // The setup itself: the proxy answers with the CA, is refused without it, and the chain names it.
        let geo = try Curl.get(proxy.baseURL + "/geo", caFile: certs.caFile, logDirectory: logs)
        XCTAssertEqual(geo.status, 200, "GET /geo through the TLS proxy: \(geo)")
        XCTAssertTrue((geo.json?["KeyValue_EndpointFullUri"] as? String ?? "").hasPrefix(proxy.baseURL + "/"),
                      "URLs handed out start with --public-url: \(geo)")
        XCTAssertEqual(try Curl.get(proxy.baseURL + "/geo", logDirectory: logs).status, 0,
                       "without the test CA, TLS verification must fail")

        // Register through the proxy, the PHF included.
        let content = try TestContent.write(TestContent.bytes(count: 2 * MiB + 999, seed: 341), to: origin.path("s.bin"))
        let s = try DofsCLI.publish(file: origin.path("s.bin"), url: origin.url("s.bin"), phfOut: origin.path("s.bin.phf"),
                                    phfURL: origin.url("s.bin.phf"), logDirectory: logs)
        let phf = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: origin.path("s.bin.phf"))))
        let registration = try TestPublisher.shared().registration(s, piecesHashFile: phf)
        let posted = try Curl.postJSON(proxy.baseURL + "/publish", json: JSONSerialization.data(withJSONObject: registration),
                                       caFile: certs.caFile, logDirectory: logs)
        XCTAssertEqual(posted.status, 201, "POST /publish through the TLS proxy: \(posted)")
        XCTAssertTrue((posted.json?["ContentPolicyUrl"] as? String ?? "").hasPrefix(proxy.baseURL + "/"), "\(posted)")

        // With the CA: verified.
        let trusted = try mount(cacheDir: scratch.file("cache-with-ca"),
                                extraArguments: ["--control-plane", proxy.baseURL, "--ca-file", certs.caFile])
        try assertVerifiedRead(byID(trusted, s.ContentId), content, contentId: s.ContentId, "s.bin by id over HTTPS with the CA")
        try assertVerifiedRead(byURL(trusted, s.Url), content, contentId: s.ContentId, "s.bin by URL over HTTPS with the CA")

        // Without it (system CAs only): the control plane cannot be asked, so nothing is verified.
        let untrusted = try mount(cacheDir: scratch.file("cache-without-ca"), readDeadline: 20,
                                  extraArguments: ["--control-plane", proxy.baseURL])
        assertFails(try readWhole(byID(untrusted, s.ContentId), within: 40), with: [EIO, ENOENT],
                    "by-id over HTTPS with an unknown CA")
        let reason = try assertSimpleRead(byURL(untrusted, s.Url), content, reasonContains: ["unreachable"],
                                          "s.bin by URL over HTTPS with an unknown CA")
        print("mode_reason without the CA: \(reason)")
        XCTAssertTrue(["ssl", "tls", "certificate", "issuer"].contains { reason.lowercased().contains($0) },
                      "the reason should point at TLS verification: \(reason)")
    }

    // MARK: 6. Embedded control plane

    func testEmbeddedControlPlaneServesWhatPublishLocalRegistered() throws {
        let origin = try startOrigin()
        let registry = try scratch.directory("registry")
        let content = TestContent.bytes(count: 2 * MiB + 3, seed: 351)
        let e = try publishRegistered(content, as: "e.bin", on: origin, registration: .local(dataDirectory: registry))
        let m = try mount(extraArguments: ["--control-plane-data", registry])
        try assertVerifiedRead(byID(m, e.ContentId), content, contentId: e.ContentId, "e.bin by id (embedded control plane)")
        try assertVerifiedRead(byURL(m, e.Url), content, contentId: e.ContentId, "e.bin by URL (embedded control plane)")
    }

    // MARK: 7. Download mode 99

    func testDownloadMode99AsksNoControlPlaneButCatalogIntegrityStillVerifies() throws {
        let origin = try startOrigin()
        let cacheDir = scratch.file("cache")
        // Registered where the mount's embedded control plane would look, had it one.
        let registry = try scratch.directory("cache-control-plane")
        let registeredContent = TestContent.bytes(count: MiB + 4321, seed: 361)
        let registered = try publishRegistered(registeredContent, as: "p.bin", on: origin, registration: .local(dataDirectory: registry))
        let catalogContent = TestContent.bytes(count: 2 * MiB + 1, seed: 362)
        let inCatalog = try publish(catalogContent, as: "c.bin", on: origin)

        let m = try mount(cacheDir: cacheDir, catalog: [CatalogEntry(name: "c.bin", published: inCatalog)],
                          readDeadline: 20, extraArguments: ["--download-mode", "99"])
        try assertSimpleRead(byURL(m, registered.Url), registeredContent, reasonContains: ["no control plane"],
                             "p.bin by URL in download mode 99")
        try assertVerifiedRead(m.mountpoint + "/c.bin", catalogContent, contentId: inCatalog.ContentId,
                               "catalog entry with integrity in download mode 99")
        assertFails(try stat(byID(m, registered.ContentId)), with: [EIO, ENOENT], "by-id needs a control plane")
    }
}
