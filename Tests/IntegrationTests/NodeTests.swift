import Foundation
import XCTest

/// One dofs node per host: mounts attach to it over its control socket, share its cache, peer port and
/// control plane, and leave with `dofs unmount`; mount points it would hide or fail on are refused.
final class NodeTests: MountTestCase {
    private let MiB = TestContent.MiB
    private var logs: String { scratch.file("logs") }
    private var socket: String { scratch.file("node.sock") }

    private func dofs(_ arguments: [String]) throws -> ChildProcess.Outcome {
        try ChildProcess.run(DofsCLI.binaryPath, arguments, logDirectory: logs, timeout: 60)
    }

    /// Unmounts whatever is still mounted at `mountpoint` when the test ends (the node is not our child:
    /// it exits once its last mount is gone).
    private func cleanUpLater(_ mountpoint: String) {
        let logs = self.logs
        addCleanup {
            if MountTable.isMounted(mountpoint) {
                _ = try? ChildProcess.run("fusermount3", ["-u", mountpoint], logDirectory: logs)
                _ = try? ChildProcess.run("fusermount3", ["-uz", mountpoint], logDirectory: logs)
            }
        }
    }

    func testTwoMountsShareOneNodeAndItsCacheAndUnmountOneAtATime() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 4 * MiB + 321, seed: 1001)
        let published = try publish(content, as: "shared.bin", on: origin)
        let catalog = try writeCatalog([CatalogEntry(name: "shared.bin", published: published)])
        let (m1, m2) = (try scratch.directory("mnt-a"), try scratch.directory("mnt-b"))
        cleanUpLater(m1)
        cleanUpLater(m2)

        let first = try dofs(["mount", m1, "--socket", socket, "--cache-dir", scratch.file("cache"), "--catalog", catalog,
                              "--control-plane-data", scratch.file("registry"), "--peer-listen", "127.0.0.1:0",
                              "--trusted-keys-dir", scratch.file("no-keys"), "--log-file", scratch.file("logs/node.log")])
        XCTAssertTrue(first.succeeded, "first mount (starts the node): \(first.stderr)")
        // The second names only the socket: it attaches to the node the first one started.
        let second = try dofs(["mount", m2, "--socket", socket, "--catalog", catalog])
        XCTAssertTrue(second.succeeded, "second mount (attaches): \(second.stderr)")
        XCTAssertTrue(MountTable.isMounted(m1) && MountTable.isMounted(m2))
        XCTAssertEqual(MountTable.entry(at: m2)?.source, catalog, "the catalog is the mount's source")

        assertReads(try readWhole(m1 + "/shared.bin"), content, "through the first mount")
        let afterFirst = origin.bytesSent()
        assertReads(try readWhole(m2 + "/shared.bin"), content, "through the second mount")
        XCTAssertEqual(origin.bytesSent(), afterFirst, "the second mount reads the node's cache: no origin byte")

        let busy = try dofs(["mount", m2, "--socket", socket])
        XCTAssertFalse(busy.succeeded)
        XCTAssertTrue(busy.stderr.contains("already a mount point"), busy.stderr)
        let foreground = try dofs(["mount", try scratch.directory("mnt-c"), "--socket", socket, "-f"])
        XCTAssertFalse(foreground.succeeded)
        XCTAssertTrue(foreground.stderr.contains("already serves"), foreground.stderr)

        let out1 = try dofs(["unmount", m1, "--socket", socket])
        XCTAssertTrue(out1.succeeded, out1.stderr)
        XCTAssertFalse(MountTable.isMounted(m1))
        assertReads(try readWhole(m2 + "/shared.bin"), content, "the other mount goes on")
        let out2 = try dofs(["unmount", m2, "--socket", socket])
        XCTAssertTrue(out2.succeeded, out2.stderr)
        XCTAssertTrue(waitUntil(timeout: 10) { !FileManager.default.fileExists(atPath: self.socket) },
                      "the node that a mount started stops with its last mount and removes its socket")
    }

    func testMountPointsThatWouldHideFilesOrAreMountsAlreadyAreRefused() throws {
        let full = try scratch.directory("full")
        try "x".write(toFile: full + "/keep.txt", atomically: true, encoding: .utf8)
        let refused = try dofs(["mount", full, "--socket", socket, "--cache-dir", scratch.file("cache-1"), "--download-mode", "99"])
        XCTAssertFalse(refused.succeeded)
        XCTAssertTrue(refused.stderr.contains("not empty") && refused.stderr.contains("--allow-non-empty"), refused.stderr)

        // A dead mount: its process was killed.
        let dead = try mount(cacheDir: scratch.file("cache-2"), extraArguments: ["--download-mode", "99"])
        dead.kill9LeavingADeadMount()
        let onDead = try dofs(["mount", dead.mountpoint, "--socket", scratch.file("other.sock"), "--cache-dir", scratch.file("cache-3"),
                               "--download-mode", "99"])
        XCTAssertFalse(onDead.succeeded)
        XCTAssertTrue(onDead.stderr.contains("fusermount3 -uz"), onDead.stderr)
    }
}
