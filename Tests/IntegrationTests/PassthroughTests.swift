import DOCore
import Foundation
import XCTest

/// FUSE passthrough: a content read whole through a mount gets a verified whole copy in the cache, and
/// from then on an open of it is read by the kernel from that copy: no READ reaches dofs, no request
/// reaches the origin, and the bytes are the content's.
final class PassthroughTests: MountTestCase {
    private let MiB = TestContent.MiB

    /// A mount of `entries` on the test's cache, with a metrics port; `reads()` counts the FUSE READs
    /// its node got.
    private func mountCountingReads(_ entries: [CatalogEntry], _ extra: [String] = []) throws -> (DofsMount, () throws -> Double) {
        let (mount, metric) = try mountWithMetrics(entries, extra)
        return (mount, { try metric(#"dofs_fuse_requests_total{op="read"}"#) })
    }

    /// A mount of `entries` with a metrics port, and a reader of one of its node's series (0 when absent).
    private func mountWithMetrics(_ entries: [CatalogEntry], _ extra: [String] = []) throws -> (DofsMount, (String) throws -> Double) {
        let port = try LoopbackPort.free()
        let mount = try mount(catalog: entries, extraArguments: ["--metrics-listen", "127.0.0.1:\(port)"] + extra)
        let logs = scratch.file("logs")
        return (mount, { series in try MetricsScrape.get(port: port, logDirectory: logs)[series] ?? 0 })
    }

    /// A content of `size` bytes published as `name` on a new nginx origin: its bytes, its catalog
    /// entries, and its copy's name (the HashOfHashes in hex).
    private func published(_ name: String, size: Int, seed: UInt64) throws -> (content: [UInt8], entries: [CatalogEntry], copyName: String) {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: size, seed: seed)
        let published = try publish(content, as: name, on: origin)
        let copyName = Hex.encode(try XCTUnwrap(SHA256Digest(base64: published.HashOfHashes)).bytes)
        return (content, [CatalogEntry(name: name, published: published)], copyName)
    }

    /// Fails (in CI) or skips (elsewhere) when this build of dofs cannot pass through: libfuse < 3.16.
    private func requirePassthrough(_ mount: DofsMount) throws {
        _ = waitUntil(timeout: 5) { mount.log.contains("passthrough on") }
        guard mount.log.contains("passthrough on") else {
            let why = "the mount did not agree on passthrough (dofs built with libfuse < 3.16?): \(mount.logTail(10))"
            if ProcessInfo.processInfo.environment["CI"] == "true" { return XCTFail(why) }
            throw XCTSkip(why)
        }
    }

    /// The file's bytes read through a shared read-only mapping; `nil` when it cannot be mapped.
    private static func mappedBytes(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0, let base = mmap(nil, Int(st.st_size), PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            return nil
        }
        defer { munmap(base, Int(st.st_size)) }
        return [UInt8](UnsafeRawBufferPointer(start: base, count: Int(st.st_size)))
    }

    private func waitForCopy(_ path: String) throws {
        XCTAssertTrue(waitUntil(timeout: 30, interval: 0.1) { (try? xattr(path, "user.dofs.copy").get()) == "ready" },
                      "the whole copy of \(path) is made after a whole read: \(String(describing: try? xattr(path, "user.dofs.copy").get()))")
    }

    func testAContentReadWholeIsThenReadByTheKernelFromItsVerifiedCopyWithoutAReadReachingDofs() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 12 * MiB + 12345, seed: 71)
        let published = try publish(content, as: "twelve.bin", on: origin)
        let entries = [CatalogEntry(name: "twelve.bin", published: published)]

        let (first, firstReads) = try mountCountingReads(entries)
        try requirePassthrough(first)
        let path = first.mountpoint + "/twelve.bin"
        assertReads(try read(path, offset: 0, length: 1), [content[0]], "one byte")
        XCTAssertEqual(try xattr(path, "user.dofs.copy").get(), "none", "no copy before the content is complete")
        assertReads(try readWhole(path), content, "the cold read, served by dofs")
        XCTAssertGreaterThan(try firstReads(), 0)
        try waitForCopy(path)
        let copy = first.cacheDir + "/whole/" + Hex.encode(try XCTUnwrap(SHA256Digest(base64: published.HashOfHashes)).bytes)
        XCTAssertEqual(TestContent.sha256(try [UInt8](Data(contentsOf: URL(fileURLWithPath: copy)))), TestContent.sha256(content),
                       "the copy is the content")
        try first.unmount()

        settleLog(origin.accessLogPath)
        let originRequests = origin.entries().count
        let (second, secondReads) = try mountCountingReads(entries)
        let again = second.mountpoint + "/twelve.bin"
        assertReads(try readWhole(again), content, "the read of a fresh mount, from the copy")
        assertReads(try read(again, offset: 5 * MiB + 7, length: 3 * MiB), Array(content[(5 * MiB + 7)..<(8 * MiB + 7)]),
                    "a read in the middle, across pieces")
        let mapped = try withDeadline(30, "mmap of \(again)") { Self.mappedBytes(again) }
        XCTAssertEqual(mapped.map(TestContent.sha256), TestContent.sha256(content), "mmap, as a model loader reads, through the copy")
        XCTAssertEqual(try secondReads(), 0, "the kernel read the copy: no READ reached dofs")
        settleLog(origin.accessLogPath)
        XCTAssertEqual(origin.entries().count, originRequests, "nothing was asked of the origin")
        try second.unmount()

        // The same fresh read without passthrough is served by dofs: the count above can tell the two apart.
        let (third, thirdReads) = try mountCountingReads(entries, ["--no-passthrough"])
        assertReads(try readWhole(third.mountpoint + "/twelve.bin"), content, "the read with --no-passthrough")
        XCTAssertGreaterThan(try thirdReads(), 0, "--no-passthrough: dofs serves the reads")
    }

    func testACopyDamagedOnDiskIsRemovedByVerifyAndTheContentIsServedRightAgain() throws {
        let (content, entries, copyName) = try published("nine.bin", size: 9 * MiB, seed: 72)
        let mount = try self.mount(catalog: entries)
        try requirePassthrough(mount)
        assertReads(try readWhole(mount.mountpoint + "/nine.bin"), content, "the cold read")
        try waitForCopy(mount.mountpoint + "/nine.bin")
        try mount.unmount()

        let copy = mount.cacheDir + "/whole/" + copyName
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: copy))
        try handle.seek(toOffset: UInt64(4 * MiB + 99))
        try handle.write(contentsOf: Data([0x5a, 0xa5]))
        try handle.close()

        let verify = try ChildProcess.run(DofsCLI.binaryPath, ["verify", "--cache-dir", mount.cacheDir],
                                          logDirectory: scratch.file("logs"), timeout: 60)
        XCTAssertEqual(verify.termination, .exited(1), "damage found: \(verify.stdout) \(verify.stderr)")
        XCTAssertTrue(verify.stdout.contains("damaged: \(copy)"), verify.stdout)
        XCTAssertTrue(verify.stdout.contains("checked 1 whole copy, removed 1 damaged"), verify.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: copy), "the damaged copy is gone")

        let again = try self.mount(catalog: entries)
        assertReads(try readWhole(again.mountpoint + "/nine.bin"), content, "served by dofs from its pieces")
        try waitForCopy(again.mountpoint + "/nine.bin")
    }

    func testAFileHeldOpenWhileItsCopyIsMadeStaysServedByDofsUntilItsLastReleaseAndBothKindsOfOpenReadRight() throws {
        let (content, entries, _) = try published("ten.bin", size: 10 * MiB + 1, seed: 73)
        let (mount, metric) = try mountWithMetrics(entries)
        try requirePassthrough(mount)
        let path = mount.mountpoint + "/ten.bin"
        let passthroughOpens = { try metric("dofs_passthrough_opens_total") }
        let MiB = self.MiB

        // The kernel sends RELEASE after `close` returns: wait until every open was released.
        let allReleased = {
            waitUntil(timeout: 10, interval: 0.05) {
                (try? metric(#"dofs_fuse_requests_total{op="open"}"#)) == (try? metric(#"dofs_fuse_requests_total{op="release"}"#))
            }
        }
        do {
            let first = try XCTUnwrap(try withDeadline(20, "open \(path)") { try? ReadOnlyFile(path) })
            // Another reader reads it whole and closes it: the copy is made while `first` is still open.
            assertReads(try readWhole(path), content, "a whole read beside the held file")
            try waitForCopy(path)
            let second = try XCTUnwrap(try withDeadline(20, "open \(path) again") { try? ReadOnlyFile(path) })
            assertReads(try withDeadline(20, "read \(path)") { second.readToEnd() }, content,
                        "an open beside a held one is served by dofs, as the held one is (never EIO)")
            assertReads(try withDeadline(20, "read \(path)") { first.read(offset: 3 * MiB, length: MiB) },
                        Array(content[(3 * MiB)..<(4 * MiB)]), "the held file reads on")
            XCTAssertEqual(try passthroughOpens(), 0, "no open passes through while the inode has one dofs serves")
        }
        XCTAssertTrue(allReleased())

        // Both released: the next opens pass through, and share one backing file.
        do {
            let third = try XCTUnwrap(try withDeadline(20, "open \(path) a third time") { try? ReadOnlyFile(path) })
            let fourth = try XCTUnwrap(try withDeadline(20, "open \(path) a fourth time") { try? ReadOnlyFile(path) })
            assertReads(try withDeadline(20, "read \(path)") { third.readToEnd() }, content, "a passthrough read")
            assertReads(try withDeadline(20, "read \(path)") { fourth.read(offset: 10 * MiB - 5, length: 100) },
                        Array(content[(10 * MiB - 5)...]), "the tail, through the shared backing file")
            XCTAssertEqual(try passthroughOpens(), 2)
        }
        XCTAssertTrue(allReleased())
        assertReads(try readWhole(path), content, "after the last release, a new backing id")
        XCTAssertEqual(try passthroughOpens(), 3)
    }

    func testAPrefetchedContentGetsItsCopyBeforeAnyReadAndItsFirstOpenPassesThrough() throws {
        let (content, entries, _) = try published("eight.bin", size: 8 * MiB, seed: 74)
        let socket = scratch.file("node.sock")
        let (mount, metric) = try mountWithMetrics(entries, ["--socket", socket])
        try requirePassthrough(mount)
        let path = mount.mountpoint + "/eight.bin"

        let prefetch = try ChildProcess.run(DofsCLI.binaryPath, ["prefetch", path, "--socket", socket],
                                            logDirectory: scratch.file("logs"), timeout: 60)
        XCTAssertEqual(prefetch.termination, .exited(0), "\(prefetch.stdout) \(prefetch.stderr)")
        try waitForCopy(path)
        assertReads(try readWhole(path), content, "the first read, from the copy")
        XCTAssertEqual(try metric(#"dofs_fuse_requests_total{op="read"}"#), 0, "no READ reached dofs")
        XCTAssertEqual(try metric("dofs_passthrough_opens_total"), 1)

        let listed = try ChildProcess.run(DofsCLI.binaryPath, ["cache", "ls", "--json", "--socket", socket],
                                          logDirectory: scratch.file("logs"), timeout: 30)
        let entry = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])?.first, listed.stdout)
        XCTAssertEqual(entry["copyBytes"] as? Int, content.count, "dofs cache ls shows the copy beside the pieces: \(listed.stdout)")
        XCTAssertEqual(entry["bytesStored"] as? Int, content.count)
    }

    func testASIGKILLWhileACopyIsWrittenLeavesNoCopyUnderItsNameAndTheNextStartDeletesTheUnfinishedOne() throws {
        let (content, entries, hex) = try published("ninety-six.bin", size: 96 * MiB, seed: 75)
        let first = try self.mount(catalog: entries)
        try requirePassthrough(first)
        let unfinished = first.cacheDir + "/whole/tmp-" + hex, copy = first.cacheDir + "/whole/" + hex
        let cold = try readWhole(first.mountpoint + "/ninety-six.bin", within: 120)
        // Kill as soon as the copy is being written (comparing 96 MiB first would outlast it).
        XCTAssertTrue(waitUntil(timeout: 30, interval: 0.002) { ((try? FileIO.attributes(unfinished).get().size) ?? 0) > 0 },
                      "the copy is being written")
        first.kill9()
        assertReads(cold, content, "the cold read")
        XCTAssertTrue(FileManager.default.fileExists(atPath: unfinished), "the copy was killed mid-way")
        XCTAssertFalse(FileManager.default.fileExists(atPath: copy), "nothing under the copy's own name")
        let afterCrash = CacheInspection.verifyContentAddressedFiles(under: first.cacheDir)
        XCTAssertTrue(afterCrash.mismatches.isEmpty, "\(afterCrash.mismatches)")

        let again = try self.mount(catalog: entries)
        XCTAssertFalse(FileManager.default.fileExists(atPath: unfinished), "the next start deleted the unfinished copy")
        assertReads(try readWhole(again.mountpoint + "/ninety-six.bin", within: 120), content, "served from the pieces")
        try waitForCopy(again.mountpoint + "/ninety-six.bin")
        let report = CacheInspection.verifyContentAddressedFiles(under: again.cacheDir)
        XCTAssertTrue(report.mismatches.isEmpty, "\(report.mismatches)")
        XCTAssertEqual(report.checkedCopies, 1, "the copy made after the restart is whole and verified")
    }
}
