import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// How a dofs mount appears, refuses writes, and ends: in the foreground (`-f`) and as a daemon.
final class MountLifecycleTests: MountTestCase {
    func testForegroundMountShowsAsFuseDofsInProcMountsAndExitsZeroOnUnmount() throws {
        let m = try mount()
        let entry = try XCTUnwrap(MountTable.entry(at: m.mountpoint), "\(m.mountpoint) not in /proc/mounts")
        XCTAssertEqual(entry.source, "dofs", "/proc/mounts source field: \(entry)")
        XCTAssertEqual(entry.type, "fuse.dofs", "/proc/mounts type field: \(entry)")
        XCTAssertEqual(try m.unmount(), .exited(0), "dofs -f must exit 0 after fusermount3 -u")
        XCTAssertFalse(m.isMounted)
    }

    func testAMountCanBeUnmountedTheMomentItShowsInProcMounts() throws {
        // dofs must not hold its own mount busy while it starts (a `stat` of the mountpoint in flight
        // made an immediate `fusermount3 -u` fail with EBUSY).
        for round in 0..<20 {
            let m = try mount(readyPollInterval: 0.001)
            XCTAssertEqual(try m.unmount(), .exited(0), "round \(round)")
            XCTAssertFalse(m.isMounted, "round \(round)")
        }
    }

    func testMountIsReadOnly() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 1000, seed: 121)
        let m = try mount(catalog: [CatalogEntry(name: "r.bin", published: try publish(content, as: "r.bin", on: origin))])
        let denied: Set<Int32> = [EROFS, EACCES, EPERM]
        let existing = m.mountpoint + "/r.bin"
        let newFile = m.mountpoint + "/new.bin"
        let writeExisting = try withDeadline(20, "open(O_WRONLY) \(existing)") { () -> Int32 in
            let fd = open(existing, O_WRONLY | O_CLOEXEC)
            if fd >= 0 { close(fd); return 0 }
            return errno
        }
        XCTAssertTrue(denied.contains(writeExisting), "opening a content file for writing: \(PosixError.name(writeExisting))")
        let create = try withDeadline(20, "creat \(newFile)") { () -> Int32 in
            let fd = open(newFile, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd); return 0 }
            return errno
        }
        XCTAssertTrue(denied.contains(create), "creating a file on the mount: \(PosixError.name(create))")
        assertReads(try readWhole(existing), content, "r.bin is intact")
    }

    func testBackgroundMountReturnsOnceReadyAndItsDaemonServesUntilUnmounted() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 1_500_000, seed: 122)
        let catalog = try writeCatalog([CatalogEntry(name: "d.bin", published: try publish(content, as: "d.bin", on: origin))])
        let mountpoint = try scratch.directory("mnt-daemon")
        let logs = scratch.file("logs")
        // The daemon is not our child: it is ended by unmounting, which makes it exit by itself.
        addCleanup {
            if MountTable.isMounted(mountpoint) {
                _ = try? ChildProcess.run("fusermount3", ["-u", mountpoint], logDirectory: logs)
                _ = try? ChildProcess.run("fusermount3", ["-u", "-z", mountpoint], logDirectory: logs)
            }
        }
        let outcome = try ChildProcess.run(DofsCLI.binaryPath,
                                           ["mount", mountpoint, "--cache-dir", scratch.file("cache"), "--catalog", catalog,
                                            "--log-file", scratch.file("logs/daemon.log"),
                                            "--control-plane-data", scratch.file("control-plane"),
                                            "--peer-listen", "127.0.0.1:0", "--socket", scratch.file("node.sock")],
                                           logDirectory: logs, timeout: 30)
        XCTAssertEqual(outcome.termination, .exited(0), "dofs mount (background) failed: \(outcome.stderr)")
        XCTAssertTrue(MountTable.isMounted(mountpoint), "dofs mount returned before the mount was ready")
        assertReads(try readWhole(mountpoint + "/d.bin"), content, "d.bin through the daemon's mount")

        let unmounted = try ChildProcess.run("fusermount3", ["-u", mountpoint], logDirectory: logs)
        XCTAssertTrue(unmounted.succeeded, "fusermount3 -u: \(unmounted.stderr)")
        XCTAssertTrue(waitUntil(timeout: 10) { !MountTable.isMounted(mountpoint) }, "still mounted after fusermount3 -u")
    }
}
