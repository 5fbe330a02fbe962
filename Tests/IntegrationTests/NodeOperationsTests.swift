import Foundation
import XCTest

/// `dofs status`, `dofs prefetch` and `dofs cache ls / evict`, run as a user would against a real node
/// (started by `dofs mount` on a socket in the scratch folder) and checked through their JSON.
final class NodeOperationsTests: MountTestCase {
    private let MiB = TestContent.MiB
    private var logs: String { scratch.file("logs") }
    private var socket: String { scratch.file("node.sock") }

    /// Starts a node with one mount of `catalog` (the node stops when its last mount is gone).
    private func startNode(catalog: [CatalogEntry], extra: [String] = []) throws -> String {
        let mountpoint = try scratch.directory("mnt")
        let logs = self.logs
        addCleanup {
            if MountTable.isMounted(mountpoint) {
                _ = try? ChildProcess.run("fusermount3", ["-u", mountpoint], logDirectory: logs)
                _ = try? ChildProcess.run("fusermount3", ["-uz", mountpoint], logDirectory: logs)
            }
        }
        let started = try dofs(["mount", mountpoint, "--socket", socket, "--cache-dir", scratch.file("cache"),
                                "--catalog", try writeCatalog(catalog), "--control-plane-data", scratch.file("registry"),
                                "--peer-listen", "127.0.0.1:0", "--trusted-keys-dir", scratch.file("no-keys"),
                                "--log-file", scratch.file("logs/node.log")] + extra)
        XCTAssertTrue(started.succeeded, "dofs mount: \(started.stderr)")
        return mountpoint
    }

    /// Runs a command that prints JSON and returns the parsed document; fails the test (by throwing) otherwise.
    private func json(_ arguments: [String]) throws -> Any {
        let out = try dofs(arguments + ["--socket", socket, "--json"])
        guard out.succeeded else { throw ChildProcess.Failure(description: "dofs \(arguments): \(out.termination): \(out.stderr)") }
        do {
            return try JSONSerialization.jsonObject(with: Data(out.stdout.utf8))
        } catch {
            throw ChildProcess.Failure(description: "dofs \(arguments) printed no JSON: \(out.stdout)")
        }
    }

    private func status() throws -> [String: Any] { try json(["status"]) as? [String: Any] ?? [:] }

    /// The status of the content at `path` (relative to the mount) in the first mount.
    private func contentStatus(_ status: [String: Any], path: String) -> [String: Any]? {
        let mounts = status["mounts"] as? [[String: Any]] ?? []
        let contents = mounts.first?["contents"] as? [[String: Any]] ?? []
        return contents.first { $0["path"] as? String == path }
    }

    private func int(_ object: [String: Any]?, _ keys: String...) -> Int {
        var current: Any? = object
        for key in keys { current = (current as? [String: Any])?[key] }
        return (current as? NSNumber)?.intValue ?? -1
    }

    /// Reads a file whole with the kernel's page cache of it dropped first, so every byte goes through FUSE.
    private func readUncached(_ path: String) throws -> Result<[UInt8], PosixError> {
        let fd = open(path, O_RDONLY)
        if fd >= 0 {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
            close(fd)
        }
        return try readWhole(path)
    }

    // MARK: - status

    func testStatusCountsBytesBySourceAsReadAndLocalBytesOnASecondRead() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 4 * MiB + 321, seed: 2001)
        let published = try publish(content, as: "s.bin", on: origin)
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "s.bin", published: published)])

        let idle = try status()
        XCTAssertNotNil(idle["version"] as? String, "status names the node's version: \(idle)")
        XCTAssertGreaterThanOrEqual((idle["uptimeSeconds"] as? NSNumber)?.doubleValue ?? -1, 0)
        XCTAssertEqual((idle["mounts"] as? [[String: Any]])?.first?["mountpoint"] as? String, mountpoint)

        assertReads(try readWhole(mountpoint + "/s.bin"), content, "first read")
        let first = try status()
        let afterFirst = try XCTUnwrap(contentStatus(first, path: "s.bin"), "s.bin is listed once read: \(first)")
        XCTAssertEqual(afterFirst["contentId"] as? String, published.ContentId)
        XCTAssertEqual(afterFirst["mode"] as? String, "verified")
        XCTAssertEqual(int(afterFirst, "piecesHave"), 5)
        XCTAssertEqual(int(afterFirst, "piecesTotal"), 5)
        XCTAssertEqual(int(afterFirst, "bytes", "cdn"), content.count, "a cold read fetches each byte once, from the CDN")
        XCTAssertEqual(int(afterFirst, "bytes", "peer"), 0)
        XCTAssertEqual(int(afterFirst, "bytes", "cache"), 0)
        XCTAssertEqual(int(afterFirst, "piecesInFlight"), 0)
        XCTAssertGreaterThanOrEqual(int(first, "cache", "bytes"), content.count, "the cache holds the content")
        XCTAssertGreaterThanOrEqual(int(first, "cache", "pieces"), 5)

        assertReads(try readUncached(mountpoint + "/s.bin"), content, "second read")
        let second = try status()
        let afterSecond = try XCTUnwrap(contentStatus(second, path: "s.bin"))
        XCTAssertEqual(int(afterSecond, "bytes", "local") - int(afterFirst, "bytes", "local"), content.count,
                       "every byte of the second read is served from the piece cache")
        XCTAssertEqual(int(afterSecond, "bytes", "cdn"), content.count, "and none from the CDN")
        let hitRate = (afterSecond["hitRate"] as? NSNumber)?.doubleValue ?? -1
        XCTAssertGreaterThanOrEqual(hitRate, 0.5, "at least half the bytes came from the cache: \(afterSecond)")

        // The mount root's user.dofs.stats gives the same totals.
        let stats = try xattr(mountpoint, "user.dofs.stats").get()
        let totals = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any], stats)
        XCTAssertEqual(int(totals, "bytes", "cdn"), content.count, stats)
        XCTAssertEqual(int(totals, "bytes", "local"), int(afterSecond, "bytes", "local"), stats)
        XCTAssertEqual(int(totals, "contents"), 1, stats)
        let mountTotals = (second["mounts"] as? [[String: Any]])?.first?["totals"] as? [String: Any]
        XCTAssertEqual(int(mountTotals, "bytes", "local"), int(totals, "bytes", "local"), "status and the xattr agree")

        let text = try dofs(["status", "--socket", socket])
        XCTAssertTrue(text.succeeded, text.stderr)
        XCTAssertTrue(text.stdout.contains("s.bin") && text.stdout.contains("pieces 5/5") && text.stdout.contains("local"), text.stdout)
        print("dofs status:\n\(text.stdout)")
        print("dofs status --json:\n\(try dofs(["status", "--json", "--socket", socket]).stdout)")
    }

    // MARK: - prefetch

    func testPrefetchCachesEveryVerifiedPieceSoReadsNeverAskTheOriginAgain() throws {
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 6 * MiB + 17, seed: 2002)
        let published = try publish(content, as: "p.bin", on: origin)
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "p.bin", published: published)])

        let before = origin.bytesSent(matching: "/p.bin")
        let run = try dofs(["prefetch", mountpoint + "/p.bin", "--socket", socket])
        XCTAssertEqual(run.termination, .exited(0), "prefetch: \(run.stdout) \(run.stderr)")
        XCTAssertTrue(run.stdout.contains("7/7 pieces verified"), run.stdout)
        print("dofs prefetch (not a terminal):\n\(run.stdout)")
        let fetched = origin.bytesSent(matching: "/p.bin") - before
        XCTAssertGreaterThanOrEqual(fetched, content.count, "the whole content came from the origin")

        let xattr = try self.xattr(mountpoint + "/p.bin", "user.dofs.pieces").get()
        XCTAssertEqual(xattr, "7/7")
        assertReads(try readWhole(mountpoint + "/p.bin"), content, "read after prefetch")
        XCTAssertEqual(origin.bytesSent(matching: "/p.bin") - before, fetched, "reading a prefetched file asks the origin nothing")

        let again = try XCTUnwrap(try json(["prefetch", mountpoint + "/p.bin"]) as? [String: Any])
        XCTAssertEqual(int(again, "piecesCached"), 7)
        XCTAssertEqual(int(again, "piecesTotal"), 7)
        XCTAssertEqual(again["mode"] as? String, "verified")
        XCTAssertEqual(int(again, "fetched", "cdn"), 0, "a second prefetch fetches nothing: \(again)")
    }

    func testPrefetchOfAURLWhoseOriginIsDeadFailsWithTheReason() throws {
        let mountpoint = try startNode(catalog: [])
        let dead = "http://127.0.0.1:\(try LoopbackPort.free())/gone.bin"
        let encoded = dead.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? dead
        let run = try dofs(["prefetch", mountpoint + "/by-url/" + encoded, "--socket", socket])
        XCTAssertEqual(run.termination, .exited(1), "prefetch of a dead origin fails: \(run.stdout)")
        XCTAssertTrue(run.stderr.contains("cannot open") && run.stderr.contains("127.0.0.1"), run.stderr)
        print("dofs prefetch (dead origin): \(run.stderr)")

        let off = try dofs(["prefetch", scratch.file("not-a-mount.bin"), "--socket", socket])
        XCTAssertEqual(off.termination, .exited(1))
        XCTAssertTrue(off.stderr.contains("not on a mount"), off.stderr)
    }

    func testBackgroundPrefetchReturnsAtOnceTheNodeFinishesItAndEvictionWaitsForIt() throws {
        // 8 pieces at 256 KB/s each, all in flight together: a few seconds.
        let origin = try startOrigin(locations: [.slow("/slow/", rate: "256k")])
        let content = TestContent.bytes(count: 8 * MiB, seed: 2006)
        let published = try publish(content, as: "g.bin", on: origin, via: "/slow/")
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "g.bin", published: published)])

        let run = try dofs(["prefetch", "--background", mountpoint + "/g.bin", "--socket", socket])
        XCTAssertEqual(run.termination, .exited(0), run.stderr)
        XCTAssertTrue(run.stdout.contains("prefetching in the background"), run.stdout)
        let running = try status()
        XCTAssertEqual(running["backgroundPrefetches"] as? [String], [mountpoint + "/g.bin"], "status lists it: \(running)")
        let refused = try dofs(["cache", "evict", published.ContentId, "--socket", socket])
        XCTAssertEqual(refused.termination, .exited(1))
        XCTAssertTrue(refused.stderr.contains("being prefetched"), refused.stderr)

        XCTAssertTrue(waitUntil(timeout: 60, interval: 0.2) {
            (try? self.xattr(mountpoint + "/g.bin", "user.dofs.pieces").get()) == "8/8"
        }, "the node fetches every piece after the command returned")
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.1) {
            ((try? self.status())?["backgroundPrefetches"] as? [String]) == []
        }, "and then no longer lists it")
        let fetched = origin.bytesSent(matching: "/slow/g.bin")
        assertReads(try readWhole(mountpoint + "/g.bin"), content, "read after a background prefetch")
        XCTAssertEqual(origin.bytesSent(matching: "/slow/g.bin"), fetched, "served from the cache alone")
    }

    func testPrefetchSaysWhenAContentIsUnverifiedOrCannotStayInTheCache() throws {
        let origin = try startOrigin()
        let big = TestContent.bytes(count: 4 * MiB, seed: 2007)
        let published = try publish(big, as: "big.bin", on: origin)
        _ = try TestContent.write(TestContent.bytes(count: MiB / 2, seed: 2008), to: origin.path("plain.bin"))
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "big.bin", published: published)],
                                       extra: ["--cache-max-size", String(2 * MiB)])

        let plain = origin.url("plain.bin")
        let simple = try dofs(["prefetch", mountpoint + "/by-url/" + (plain.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? plain),
                               "--socket", socket])
        XCTAssertEqual(simple.termination, .exited(2), "cached, but nothing vouches for it: \(simple.stdout) \(simple.stderr)")
        XCTAssertTrue(simple.stdout.contains("1/1 pieces UNVERIFIED"), simple.stdout)

        let tooBig = try dofs(["prefetch", mountpoint + "/big.bin", "--socket", socket])
        XCTAssertEqual(tooBig.termination, .exited(1), tooBig.stdout)
        XCTAssertTrue(tooBig.stderr.contains("raise --cache-max-size"), "the cap cannot hold it whole: \(tooBig.stderr)")
        print("dofs prefetch (cap too small): \(tooBig.stderr)")
    }

    func testPrefetchDrawsAProgressBarOnATerminal() throws {
        // 20 pieces at 256 KB/s each, 16 at a time: a few seconds, in two steps the bar shows.
        let origin = try startOrigin(locations: [.slow("/slow/", rate: "256k")])
        let content = TestContent.bytes(count: 20 * MiB, seed: 2003)
        let published = try publish(content, as: "t.bin", on: origin, via: "/slow/")
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "t.bin", published: published)])

        let server = "dofs-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        let logs = self.logs
        addCleanup { _ = try? ChildProcess.run("tmux", ["-L", server, "kill-server"], logDirectory: logs) }
        let command = "\(DofsCLI.binaryPath) prefetch \(mountpoint)/t.bin --socket \(socket); echo EXIT=$?; sleep 60"
        let started = try ChildProcess.run("tmux", ["-L", server, "new-session", "-d", "-x", "150", "-y", "8", command],
                                           logDirectory: logs)
        XCTAssertTrue(started.succeeded, started.stderr)
        var bar = ""
        var final = ""
        XCTAssertTrue(waitUntil(timeout: 60, interval: 0.2) {
            let screen = (try? ChildProcess.run("tmux", ["-L", server, "capture-pane", "-p"], logDirectory: logs).stdout) ?? ""
            if screen.contains("[#"), screen.contains("ETA"), !screen.contains("0 B/s") { bar = screen }
            if screen.contains("EXIT=") { final = screen }
            return !final.isEmpty
        }, "the prefetch ends")
        print("tmux capture while running:\n\(bar)\ntmux capture at the end:\n\(final)")
        XCTAssertTrue(bar.contains("t.bin [") && (bar.contains("MiB/s") || bar.contains("KiB/s")), "a bar with a rate: \(bar)")
        XCTAssertTrue(final.contains("EXIT=0") && final.contains("20/20 pieces verified"), final)
        XCTAssertFalse(final.contains("ETA"), "the bar is cleared at the end: \(final)")
    }

    // MARK: - cache

    func testCacheLsListsContentsAndEvictRefusesAnOpenFileThenMakesTheNextReadAskTheOrigin() throws {
        let origin = try startOrigin()
        let a = TestContent.bytes(count: 3 * MiB + 5, seed: 2004)
        let b = TestContent.bytes(count: 2 * MiB, seed: 2005)
        let pa = try publish(a, as: "a.bin", on: origin)
        let pb = try publish(b, as: "b.bin", on: origin)
        let mountpoint = try startNode(catalog: [CatalogEntry(name: "a.bin", published: pa), CatalogEntry(name: "b.bin", published: pb)])
        assertReads(try readWhole(mountpoint + "/a.bin"), a, "a.bin")
        assertReads(try readWhole(mountpoint + "/b.bin"), b, "b.bin")

        let listed = try XCTUnwrap(try json(["cache", "ls"]) as? [[String: Any]])
        let entryA = try XCTUnwrap(listed.first { $0["contentId"] as? String == pa.ContentId }, "a.bin is listed: \(listed)")
        let entryB = try XCTUnwrap(listed.first { $0["contentId"] as? String == pb.ContentId }, "b.bin is listed: \(listed)")
        XCTAssertEqual(entryA["name"] as? String, "a.bin")
        XCTAssertEqual(entryA["url"] as? String, pa.Url)
        XCTAssertEqual(int(entryA, "piecesHave"), 4)
        XCTAssertEqual(int(entryA, "piecesTotal"), 4)
        XCTAssertEqual(int(entryA, "bytesStored"), a.count)
        XCTAssertEqual(int(entryB, "bytesStored"), b.count)
        XCTAssertNotNil((entryA["lastUse"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }, "lastUse is ISO 8601")
        let text = try dofs(["cache", "ls", "--socket", socket])
        print("dofs cache ls:\n\(text.stdout)")
        print("dofs cache ls --json:\n\(try dofs(["cache", "ls", "--json", "--socket", socket]).stdout)")

        // Open for reading: refused, with who holds it.
        let reader = try XCTUnwrap(FileHandle(forReadingAtPath: mountpoint + "/a.bin"))
        let refused = try dofs(["cache", "evict", pa.ContentId, "--socket", socket])
        XCTAssertEqual(refused.termination, .exited(1))
        XCTAssertTrue(refused.stderr.contains("open for reading"), refused.stderr)
        try reader.close()

        // The kernel releases the file shortly after close.
        var report: [String: Any] = [:]
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.1) {
            report = ((try? self.json(["cache", "evict", pa.ContentId])) as? [String: Any]) ?? [:]
            return !report.isEmpty
        }, "evict succeeds once the file is closed")
        let evicted = (report["evicted"] as? [[String: Any]])?.first
        XCTAssertEqual(evicted?["contentId"] as? String, pa.ContentId)
        XCTAssertEqual(int(evicted, "pieces"), 4)
        XCTAssertEqual(int(evicted, "bytes"), a.count)

        let after = try XCTUnwrap(try json(["cache", "ls"]) as? [[String: Any]])
        XCTAssertEqual(after.first { $0["contentId"] as? String == pa.ContentId }.map { int($0, "piecesHave") }, 0, "a.bin is listed with no piece")
        XCTAssertEqual(after.first { $0["contentId"] as? String == pb.ContentId }.map { int($0, "bytesStored") }, b.count, "b.bin is untouched")

        let beforeReread = origin.bytesSent(matching: "/a.bin")
        assertReads(try readUncached(mountpoint + "/a.bin"), a, "a.bin after eviction")
        XCTAssertGreaterThanOrEqual(origin.bytesSent(matching: "/a.bin") - beforeReread, a.count, "the evicted content comes from the origin again")
        XCTAssertEqual(try xattr(mountpoint + "/a.bin", "user.dofs.pieces").get(), "4/4")

        let unknown = try dofs(["cache", "evict", String(repeating: "0", count: 32), "--socket", socket])
        XCTAssertEqual(unknown.termination, .exited(1))
    }
}
