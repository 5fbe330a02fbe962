import DOCore
import Foundation
import XCTest

/// Who may say what a content is (README: Trust model), on real processes: a control plane that lists
/// its publishers, publishers that own their URLs, and mounts that believe only keys they pin, whoever
/// serves the policy.
final class TrustTests: MountTestCase {
    private let MiB = TestContent.MiB
    private var logs: String { scratch.file("logs") }

    private func startControlPlane(publisherKeys: [TestPublisher]) throws -> ControlPlaneProcess {
        let cp = try ControlPlaneProcess(scratch: scratch, extraArguments: publisherKeys.flatMap { ["--publisher-key", $0.publicKey] })
        addCleanup { cp.stop() }
        return cp
    }

    /// `dofs publish` of docroot file `name` (written from `bytes`) at `url`, signed with `key`.
    private func publish(_ bytes: [UInt8], as name: String, url: String, on origin: NginxOrigin, key: String?,
                         to cp: ControlPlaneProcess) throws -> ChildProcess.Outcome {
        let file = try scratch.directory("files") + "/" + name
        try TestContent.write(bytes, to: file)
        var args = ["publish", file, "--url", url, "--phf-out", origin.path(name + ".phf"), "--control-plane", cp.baseURL]
        if let key { args += ["--key", key] }
        return try ChildProcess.run(DofsCLI.binaryPath, args, logDirectory: logs, timeout: 60)
    }

    private func contentId(_ outcome: ChildProcess.Outcome) throws -> String {
        let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        return try XCTUnwrap(json?["ContentId"] as? String, outcome.stdout)
    }

    func testAnAttackerCannotRepointAPublishersURLNorPublishWithoutAnAcceptedKey() throws {
        let origin = try startOrigin()
        let owner = try TestPublisher.make(in: scratch.file("keys-owner"))
        let attacker = try TestPublisher.make(in: scratch.file("keys-attacker"))
        let stranger = try TestPublisher.make(in: scratch.file("keys-stranger"))
        let cp = try startControlPlane(publisherKeys: [owner, attacker])
        let genuine = try TestContent.write(TestContent.bytes(count: 3 * MiB + 5, seed: 801), to: origin.path("victim.bin"))
        let victimURL = origin.url("victim.bin")
        let published = try publish(genuine, as: "victim.bin", url: victimURL, on: origin, key: owner.privateKey, to: cp)
        XCTAssertTrue(published.succeeded, published.stderr)
        let genuineId = try contentId(published)

        let evil = TestContent.bytes(count: 2 * MiB, seed: 802)
        let unsigned = try publish(evil, as: "evil.bin", url: victimURL, on: origin, key: nil, to: cp)
        XCTAssertFalse(unsigned.succeeded)
        XCTAssertTrue(unsigned.stderr.contains("401"), unsigned.stderr)
        let unknown = try publish(evil, as: "evil.bin", url: victimURL, on: origin, key: stranger.privateKey, to: cp)
        XCTAssertFalse(unknown.succeeded)
        XCTAssertTrue(unknown.stderr.contains("403") && unknown.stderr.contains(stranger.keyId), unknown.stderr)
        // The attack of the issue: an accepted publisher registers its own file under the victim's URL.
        let takeover = try publish(evil, as: "evil.bin", url: victimURL, on: origin, key: attacker.privateKey, to: cp)
        XCTAssertFalse(takeover.succeeded)
        XCTAssertTrue(takeover.stderr.contains("409") && takeover.stderr.contains(owner.keyId), takeover.stderr)

        let m = try mount(extraArguments: ["--control-plane", cp.baseURL, "--trust-key", owner.publicKey])
        try assertVerifiedRead(byURL(m, victimURL), genuine, contentId: genuineId, "the victim URL after the attempts")
        try assertVerifiedRead(byID(m, genuineId), genuine, contentId: genuineId, "the genuine content by ID")
    }

    func testAMountThatTrustsKeyANeverShowsAPolicySignedByBForAsURLAsVerified() throws {
        let origin = try startOrigin()
        let a = try TestPublisher.make(in: scratch.file("keys-a"))
        let b = try TestPublisher.make(in: scratch.file("keys-b"))
        // The control plane accepts B only (compromised, misconfigured, or simply not A's): B's
        // registration of A's URL goes through, and the policy for that URL is signed by B.
        let cp = try startControlPlane(publisherKeys: [b])
        let genuine = try TestContent.write(TestContent.bytes(count: 2 * MiB + 9, seed: 811), to: origin.path("a.bin"))
        let aURL = origin.url("a.bin")
        let bBytes = try TestContent.write(TestContent.bytes(count: 2 * MiB + 9, seed: 812), to: origin.path("b.bin"))
        let bPublished = try publish(bBytes, as: "b.bin", url: aURL, on: origin, key: b.privateKey, to: cp)
        XCTAssertTrue(bPublished.succeeded, bPublished.stderr)
        let bId = try contentId(bPublished)

        let pinned = try mount(cacheDir: scratch.file("cache-a"), extraArguments: ["--control-plane", cp.baseURL, "--trust-key", a.publicKey])
        let reason = try assertSimpleRead(byURL(pinned, aURL), genuine, reasonContains: ["trusted publisher"],
                                          "A's URL, whose policy B signed")
        XCTAssertTrue(reason.contains(b.keyId), "the reason names the key that did sign: \(reason)")
        assertFails(try stat(byID(pinned, bId)), with: [ENOENT], "B's content by ID on a mount that trusts A only")
        XCTAssertEqual(try pinned.unmount(), .exited(0))
        XCTAssertEqual(CacheInspection.verifyContentAddressedFiles(under: scratch.file("cache-a") + "/pieces").checked, 0,
                       "nothing of it stored as verified (neither a file nor packed)")

        // The same control plane, a mount that pins B (through its keys folder): the policy is believed,
        // as B's content, whose pieces the URL does not serve, so reads fail and never show A's bytes as B's.
        let keysDir = try scratch.directory("trusted-b")
        try FileManager.default.copyItem(atPath: b.publicKey, toPath: keysDir + "/b.pub")
        let trustsB = try mount(cacheDir: scratch.file("cache-b"), extraArguments: ["--control-plane", cp.baseURL, "--trusted-keys-dir", keysDir])
        XCTAssertEqual(try xattr(byURL(trustsB, aURL), "user.dofs.mode").get(), "verified")
        XCTAssertEqual(try xattr(byURL(trustsB, aURL), "user.dofs.content_id").get(), bId)
        assertFails(try readWhole(byID(trustsB, bId), within: 30), with: [EIO], "B's pieces are not at A's URL")
    }

    func testARememberedAnswerIsNotBelievedOnceKeysArePinnedAndTheControlPlaneIsDown() throws {
        let origin = try startOrigin()
        let registry = try scratch.directory("registry")
        let content = TestContent.bytes(count: 2 * MiB + 1, seed: 821)
        try TestContent.write(content, to: origin.path("l.bin"))
        let local = try DofsCLI.publish(file: origin.path("l.bin"), url: origin.url("l.bin"), phfOut: origin.path("l.bin.phf"),
                                        phfURL: origin.url("l.bin.phf"), registration: .local(dataDirectory: registry),
                                        logDirectory: logs).published
        let cacheDir = scratch.file("cache")
        // No keys: the embedded registry is believed, and its answer is remembered in the cache folder.
        let open = try mount(cacheDir: cacheDir, extraArguments: ["--control-plane-data", registry])
        try assertVerifiedRead(byURL(open, local.Url), content, contentId: local.ContentId, "unsigned local content, no keys")
        XCTAssertEqual(try open.unmount(), .exited(0))

        // Now pinned, with the control plane unreachable: the remembered unsigned answer does not count.
        let key = try TestPublisher.make(in: scratch.file("keys"))
        let pinned = try mount(cacheDir: cacheDir, extraArguments: ["--control-plane", "http://127.0.0.1:\(try LoopbackPort.free())",
                                                                    "--trust-key", key.publicKey])
        try assertSimpleRead(byURL(pinned, local.Url), content, reasonContains: ["unreachable"], "remembered, unsigned")
        assertFails(try stat(byID(pinned, local.ContentId)), with: [ENOENT, EIO], "by ID: nothing believable")
    }

    func testLocalPublishingSignedWithAKeyIsVerifiedOnAMountThatPinsIt() throws {
        let origin = try startOrigin()
        let registry = try scratch.directory("registry")
        let key = try TestPublisher.make(in: scratch.file("keys"))
        let content = TestContent.bytes(count: 3 * MiB, seed: 831)
        try TestContent.write(content, to: origin.path("s.bin"))
        let signed = try DofsCLI.publish(file: origin.path("s.bin"), url: origin.url("s.bin"), phfOut: origin.path("s.bin.phf"),
                                         phfURL: origin.url("s.bin.phf"), registration: .local(dataDirectory: registry),
                                         key: key.privateKey, logDirectory: logs).published
        let m = try mount(extraArguments: ["--control-plane-data", registry, "--trust-key", key.publicKey])
        try assertVerifiedRead(byURL(m, signed.Url), content, contentId: signed.ContentId, "signed local content by URL")
        try assertVerifiedRead(byID(m, signed.ContentId), content, contentId: signed.ContentId, "signed local content by ID")
    }
}
