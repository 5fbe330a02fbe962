import Foundation
import XCTest

/// `mount.dofs` (what `mount -t dofs`, fstab lines and .mount units run) takes every `dofs mount` flag
/// as a mount option by one rule, drops mount(8)'s own options, and leaves refusing unknown ones to
/// dofs; the systemd units it ships with pass `systemd-analyze verify`.
final class MountHelperTests: MountTestCase {
    private var logs: String { scratch.file("logs") }
    private static let helpers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("mount-helpers").path

    /// Runs mount.dofs with the dofs under test.
    private func helper(_ arguments: [String]) throws -> ChildProcess.Outcome {
        try ChildProcess.run("/usr/bin/env", ["DOFS_BIN=\(DofsCLI.binaryPath)", "bash", Self.helpers + "/mount.dofs"] + arguments,
                             logDirectory: logs, timeout: 60)
    }

    func testEveryMountOptionBecomesTheDofsFlagOfTheSameNameAndMountOptionsAreDropped() throws {
        let catalog = try writeCatalog([])
        let mountpoint = try scratch.directory("mnt")
        let fake = try helper(["-f", catalog, mountpoint, "-o",
                               #"peer_listen=127.0.0.1:0,download_mode=0,no_upload,trust_key=/k/a.pub,trust_key=/k/b.pub,"#
                               + #"_netdev,nofail,x-systemd.automount,ro,comment=x,cache_host="h1,h2:8080",ca_file=/etc/ca.pem,"#
                               + "control_plane=http://127.0.0.1:1/,cache_dir=/var/cache/dofs-a"])
        XCTAssertTrue(fake.succeeded, fake.stderr)
        let command = fake.stderr
        for expected in ["mount \(mountpoint)", "--catalog \(catalog)", "--cache-dir /var/cache/dofs-a",
                         "--peer-listen 127.0.0.1:0", "--download-mode 0", "--no-upload",
                         "--trust-key /k/a.pub --trust-key /k/b.pub", #"--cache-host h1\,h2:8080"#,
                         "--ca-file /etc/ca.pem", "--control-plane http://127.0.0.1:1/"] {
            XCTAssertTrue(command.contains(expected), "expected '\(expected)' in: \(command)")
        }
        for dropped in ["_netdev", "nofail", "x-systemd", "--ro", "comment"] {
            XCTAssertFalse(command.contains(dropped), "'\(dropped)' is mount(8)'s, not dofs's: \(command)")
        }

        let catalogOption = try helper(["-f", "none", mountpoint, "-o", "catalog=/x.json"])
        XCTAssertEqual(catalogOption.termination, .exited(1))
        XCTAssertTrue(catalogOption.stderr.contains("SOURCE"), catalogOption.stderr)
    }

    func testMountThroughTheHelperTakesNetworkOptionsAndShowsTheCatalogAsSource() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 3 * TestContent.MiB + 17, seed: 808)
        let published = try publish(content, as: "helped.bin", on: origin)
        let catalog = try writeCatalog([CatalogEntry(name: "helped.bin", published: published)])
        let mountpoint = try scratch.directory("mnt")
        let socket = scratch.file("node.sock")
        addCleanup { [logs] in
            if MountTable.isMounted(mountpoint) {
                _ = try? ChildProcess.run("fusermount3", ["-u", mountpoint], logDirectory: logs)
                _ = try? ChildProcess.run("fusermount3", ["-uz", mountpoint], logDirectory: logs)
            }
        }

        let mounted = try helper([catalog, mountpoint, "-o",
                                  "socket=\(socket),cache_dir=\(scratch.file("cache")),peer_listen=127.0.0.1:0,"
                                  + "control_plane_data=\(scratch.file("registry")),trusted_keys_dir=\(scratch.file("no-keys")),"
                                  + "min_peering_size=0,read_deadline=30,log_file=\(scratch.file("logs/node.log")),_netdev,nofail"])
        XCTAssertTrue(mounted.succeeded, "mount.dofs: \(mounted.stderr)")
        XCTAssertEqual(MountTable.entry(at: mountpoint)?.source, catalog, "the catalog is the mount's source")
        assertReads(try readWhole(mountpoint + "/helped.bin"), content, "through a mount made by mount.dofs")

        let out = try ChildProcess.run(DofsCLI.binaryPath, ["unmount", mountpoint, "--socket", socket], logDirectory: logs)
        XCTAssertTrue(out.succeeded, out.stderr)
        XCTAssertFalse(MountTable.isMounted(mountpoint))
    }

    func testDofsRefusesAnOptionItDoesNotKnowAndTheHelperSaysWhy() throws {
        let mountpoint = try scratch.directory("mnt")
        let refused = try helper(["none", mountpoint, "-o",
                                  "socket=\(scratch.file("node.sock")),cache_dir=\(scratch.file("cache")),download_mode=99,peer_lissen=127.0.0.1:0"])
        XCTAssertEqual(refused.termination, .exited(1), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--peer-lissen"), "dofs names the flag it does not know: \(refused.stderr)")
        XCTAssertTrue(refused.stderr.contains("dofs mount --help"), refused.stderr)
        XCTAssertFalse(MountTable.isMounted(mountpoint))

        // -s (sloppy) drops it with a warning instead, and keeps the others.
        let sloppy = try helper(["-f", "-s", "none", mountpoint, "-o", "download_mode=99,peer_lissen=127.0.0.1:0,no_upload"])
        XCTAssertTrue(sloppy.succeeded, sloppy.stderr)
        XCTAssertTrue(sloppy.stderr.contains("dropping option 'peer_lissen'"), sloppy.stderr)
        XCTAssertTrue(sloppy.stderr.contains("--download-mode 99 --no-upload"), sloppy.stderr)
    }

    func testTheShippedSystemdUnitsPassSystemdAnalyzeVerify() throws {
        let analyze = "/usr/bin/systemd-analyze"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: analyze), "systemd-analyze is not installed")
        // Verified as installed, with the binary path pointing at the dofs under test.
        let units = try scratch.directory("units")
        for name in ["dofs-node.service", "mnt-dofs.mount"] {
            let text = try String(contentsOfFile: Self.helpers + "/systemd/" + name, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/dofs", with: DofsCLI.binaryPath)
            try text.write(toFile: units + "/" + name, atomically: true, encoding: .utf8)
        }
        let template = try String(contentsOfFile: Self.helpers + "/systemd/dofs@.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/dofs", with: DofsCLI.binaryPath)
        try template.write(toFile: units + "/dofs@mnt-dofs.service", atomically: true, encoding: .utf8)
        let verify = try ChildProcess.run(analyze, ["verify", "--man=no",
                                                    units + "/dofs-node.service", units + "/mnt-dofs.mount",
                                                    units + "/dofs@mnt-dofs.service"], logDirectory: logs)
        // Problems in our files are printed with their path; warnings about the host's own units are not ours.
        let ours = (verify.stderr + verify.stdout).split(separator: "\n").filter { $0.contains(units) }
        XCTAssertTrue(ours.isEmpty, "systemd-analyze verify:\n\(ours.joined(separator: "\n"))")
        XCTAssertTrue(verify.succeeded, "systemd-analyze verify: \(verify.stderr)")
    }
}
