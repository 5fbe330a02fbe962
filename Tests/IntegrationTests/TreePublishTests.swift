import DOCore
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `dofs publish --tree DIR --url-base URL --catalog-out CATALOG` publishes a whole folder in one run,
/// and a mount of the catalog it writes lists the tree without a single request to the origin, opens
/// small files without fetching anything but their one piece, and reads every file byte-exact.
final class TreePublishTests: MountTestCase {
    /// One file of the test tree: its path below the tree folder and its bytes.
    private struct TreeFile {
        let path: String
        let bytes: [UInt8]
        let mtime: Int
    }

    /// Writes a tree under `<docroot>/tree`: small files in nested folders (one with a space in its
    /// name, one empty), a 5-piece file (pieces embedded) and a 20-piece one (PHF fetched at open),
    /// with 64 KiB pieces. Returns the files.
    private func makeTree(on origin: NginxOrigin, smallFiles: Int = 40) throws -> [TreeFile] {
        var files: [TreeFile] = []
        for i in 0..<smallFiles {
            let folder = ["a", "a/b", "c", "a/b/deep"][i % 4]
            let size = 1 + (i * 7919) % (64 << 10)
            files.append(TreeFile(path: "\(folder)/file-\(i).txt", bytes: TestContent.bytes(count: size, seed: UInt64(1000 + i)),
                                  mtime: 1_600_000_000 + i))
        }
        files.append(TreeFile(path: "c/with space.bin", bytes: TestContent.bytes(count: 333, seed: 77), mtime: 1_650_000_000))
        files.append(TreeFile(path: "c/empty", bytes: [], mtime: 1_650_000_001))
        files.append(TreeFile(path: "five-pieces.bin", bytes: TestContent.bytes(count: 5 * 65536 - 10, seed: 78), mtime: 1_650_000_002))
        files.append(TreeFile(path: "big/twenty-pieces.bin", bytes: TestContent.bytes(count: 20 * 65536, seed: 79), mtime: 1_650_000_003))
        for f in files {
            let path = origin.path("tree/" + f.path)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = try TestContent.write(f.bytes, to: path)
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(f.mtime))], ofItemAtPath: path)
        }
        return files
    }

    /// Runs `dofs publish --tree` with `extra` arguments; returns its JSON output.
    @discardableResult
    private func publishTree(_ origin: NginxOrigin, catalog: String, extra: [String] = []) throws -> [String: Any] {
        let args = ["publish", "--tree", origin.path("tree"), "--url-base", origin.url("tree/"), "--catalog-out", catalog,
                    "--piece-size", "65536"] + extra
        let outcome = try ChildProcess.run(DofsCLI.binaryPath, args, logDirectory: scratch.file("logs"), timeout: 120)
        guard outcome.succeeded else {
            throw ChildProcess.Failure(description: "dofs \(args.joined(separator: " ")) ended with \(outcome.termination): \(outcome.stderr)")
        }
        guard let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any] else {
            throw ChildProcess.Failure(description: "dofs publish --tree printed no JSON object: \(outcome.stdout)")
        }
        return json
    }

    /// Writes `count` small files `<folder>/<prefix>NN.txt` (of `size` bytes and a few more each) to the
    /// origin's tree; returns them.
    private func writeNumberedFiles(on origin: NginxOrigin, folder: String, prefix: String, count: Int, size: Int,
                                    seed: UInt64) throws -> [TreeFile] {
        try FileManager.default.createDirectory(atPath: origin.path("tree/" + folder), withIntermediateDirectories: true)
        return try (0..<count).map { i in
            let f = TreeFile(path: String(format: "\(folder)/\(prefix)%02d.txt", i),
                             bytes: TestContent.bytes(count: size + i, seed: seed + UInt64(i)), mtime: 1_600_000_000)
            _ = try TestContent.write(f.bytes, to: origin.path("tree/" + f.path))
            return f
        }
    }

    /// Publishes the origin's tree and mounts its catalog; returns the mount and the paths the origin
    /// was asked for since, in order.
    private func mountTreeCountingFetches(_ origin: NginxOrigin) throws -> (DofsMount, () -> [String]) {
        let catalog = scratch.file("tree-catalog.json")
        try publishTree(origin, catalog: catalog)
        let mount = try mount(extraArguments: ["--catalog", catalog])
        let base = origin.entries().count
        return (mount, { origin.entries().dropFirst(base).map(\.uri) })
    }

    private func catalogEntries(_ path: String) throws -> [[String: Any]] {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path), "the catalog \(path) was not written")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]], "the catalog is not a JSON array")
    }

    private func lstatOf(_ path: String) throws -> Glibc.stat {
        try withDeadline(30, "lstat \(path)") { () -> Glibc.stat in
            var st = Glibc.stat()
            XCTAssertEqual(lstat(path, &st), 0, "lstat \(path): \(String(cString: strerror(errno)))")
            return st
        }
    }

    func testPublishTreeWritesEveryPHFBesideItsFileAndOneCatalogNamedByRelativePaths() throws {
        let origin = try startOrigin()
        let files = try makeTree(on: origin)
        let catalog = scratch.file("tree-catalog.json")
        let output = try publishTree(origin, catalog: catalog)

        XCTAssertEqual(output["Files"] as? Int, files.count, "publish --tree reports every file: \(output)")
        XCTAssertEqual(output["Bytes"] as? Int, files.reduce(0) { $0 + $1.bytes.count })
        let entries = try catalogEntries(catalog)
        XCTAssertEqual(Set(entries.compactMap { $0["name"] as? String }), Set(files.map(\.path)), "one entry per file, named by its relative path")
        for f in files {
            let phfPath = origin.path("tree/" + f.path + ".phf")
            let phfBytes = try XCTUnwrap(FileManager.default.contents(atPath: phfPath), "no PHF beside \(f.path)")
            let phf = try PiecesHashFile(json: [UInt8](phfBytes))
            XCTAssertEqual(phf.layout.contentLength, f.bytes.count, "\(f.path): the PHF's length")
            XCTAssertEqual(phf.layout.pieceSize, 65536, "\(f.path): --piece-size applies")
            let entry = try XCTUnwrap(entries.first { $0["name"] as? String == f.path })
            let integrity = try XCTUnwrap(entry["integrity"] as? [String: Any])
            XCTAssertEqual(integrity["HashOfHashes"] as? String, phf.hashOfHashes.base64, "\(f.path): the catalog names its PHF's HashOfHashes")
            XCTAssertEqual(entry["size"] as? Int, f.bytes.count, "\(f.path): size")
            XCTAssertNotNil(entry["mtime"], "\(f.path): mtime")
            XCTAssertEqual((integrity["Pieces"] as? [String])?.count, phf.pieces.count <= 16 ? phf.pieces.count : nil,
                           "\(f.path): piece hashes embedded for a small content only")
        }
        let spaced = try XCTUnwrap(entries.first { $0["name"] as? String == "c/with space.bin" })
        XCTAssertEqual(spaced["url"] as? String, origin.url("tree/c/with%20space.bin"), "URL = base joined with the percent-encoded path")

        // Publishing again skips the PHFs the first run wrote beside the files.
        let again = try publishTree(origin, catalog: catalog)
        XCTAssertEqual(again["Files"] as? Int, files.count, "a second run publishes the same files, not their PHFs")
    }

    func testPublishTreeWithAPHFFolderWritesThePHFsThereAndTheMountFetchesThemFromThePHFURLBase() throws {
        let origin = try startOrigin()
        let files = try makeTree(on: origin, smallFiles: 4)
        let catalog = scratch.file("tree-catalog.json")
        try publishTree(origin, catalog: catalog, extra: ["--phf-dir", origin.path("phfs"), "--phf-url-base", origin.url("phfs/")])
        for f in files {
            XCTAssertFalse(FileManager.default.fileExists(atPath: origin.path("tree/" + f.path + ".phf")), "\(f.path): no PHF beside the file")
            XCTAssertTrue(FileManager.default.fileExists(atPath: origin.path("phfs/" + f.path + ".phf")), "\(f.path): its PHF under --phf-dir")
        }
        let mount = try mount(extraArguments: ["--catalog", catalog])
        let big = try XCTUnwrap(files.first { $0.path == "big/twenty-pieces.bin" })
        assertReads(try readWhole(mount.mountpoint + "/" + big.path), big.bytes, big.path)
        XCTAssertEqual(origin.requests(matching: "/phfs/big/twenty-pieces.bin.phf").count, 1, "the PHF comes from the PHF URL base")
    }

    func testPublishTreeRefusesOptionsOfASingleFileAndANameTheMountCouldNotShow() throws {
        let origin = try startOrigin()
        _ = try makeTree(on: origin, smallFiles: 1)
        let catalog = scratch.file("tree-catalog.json")
        let mixed = try ChildProcess.run(DofsCLI.binaryPath, ["publish", "--tree", origin.path("tree"), "--url-base", origin.url("tree/"),
                                                              "--catalog-out", catalog, "--url", origin.url("x")],
                                         logDirectory: scratch.file("logs"))
        XCTAssertFalse(mixed.succeeded, "--url with --tree must be refused")
        XCTAssertTrue(mixed.stderr.contains("--url"), mixed.stderr)
        try FileManager.default.createDirectory(atPath: origin.path("tree/by-id"), withIntermediateDirectories: true)
        _ = try TestContent.write([1, 2, 3], to: origin.path("tree/by-id/x"))
        let reserved = try ChildProcess.run(DofsCLI.binaryPath, ["publish", "--tree", origin.path("tree"), "--url-base", origin.url("tree/"),
                                                                 "--catalog-out", catalog], logDirectory: scratch.file("logs"))
        XCTAssertFalse(reserved.succeeded, "a file under by-id/ cannot be a catalog name")
        XCTAssertTrue(reserved.stderr.contains("by-id"), reserved.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: catalog), "no catalog is written when the run fails")
    }

    func testListingACatalogWithSizesMakesNoRequestAndEveryFileReadsByteExact() throws {
        let origin = try startOrigin()
        let files = try makeTree(on: origin)
        let catalog = scratch.file("tree-catalog.json")
        try publishTree(origin, catalog: catalog)
        let mount = try mount(extraArguments: ["--catalog", catalog])
        settleLog(origin.accessLogPath)
        let before = origin.entries().count

        let listing = try ChildProcess.run("/bin/ls", ["-lR", mount.mountpoint], logDirectory: scratch.file("logs"), timeout: 60)
        XCTAssertTrue(listing.succeeded, "ls -lR: \(listing.stderr)")
        for f in files {
            let st = try lstatOf(mount.mountpoint + "/" + f.path)
            XCTAssertEqual(Int(st.st_size), f.bytes.count, "\(f.path): size before open")
            XCTAssertEqual(st.st_mtim.tv_sec, f.mtime, "\(f.path): mtime before open")
        }
        settleLog(origin.accessLogPath)
        XCTAssertEqual(Array(origin.entries().dropFirst(before)).map(\.description), [],
                       "ls -lR and stat of a cold mount whose catalog gives sizes make no request")

        for f in files {
            assertReads(try readWhole(mount.mountpoint + "/" + f.path), f.bytes, f.path)
        }
        settleLog(origin.accessLogPath)
        let reads = Array(origin.entries().dropFirst(before))
        let phfFetches = reads.filter { $0.uri.hasSuffix(".phf") }.map(\.uri)
        XCTAssertEqual(phfFetches, ["/tree/big/twenty-pieces.bin.phf"],
                       "only the content too large to embed its pieces fetches its PHF, once, at open")
        XCTAssertFalse(reads.contains { $0.method == "HEAD" }, "the catalog's mtime spares the HEAD for a date: \(reads)")
        let small = try XCTUnwrap(files.first { $0.path == "a/file-0.txt" })
        XCTAssertEqual(reads.filter { $0.uri == "/tree/a/file-0.txt" }.count, 1,
                       "a small file (\(small.bytes.count) B) is one range request, nothing else")
        XCTAssertEqual(reads.filter { !$0.uri.hasSuffix(".phf") }.count, files.filter { !$0.bytes.isEmpty }.reduce(0) {
            $0 + ($1.bytes.count + 65535) / 65536
        }, "one request per piece of every file, no more")
    }

    /// A published tree of 12 small files (and the larger ones of `makeTree`), mounted with `extra`
    /// arguments and a metrics port; `requests(op)` reads how many FUSE requests of `op` the node got.
    private func mountCountingRequests(_ extra: [String] = []) throws
        -> (origin: NginxOrigin, files: [TreeFile], mountpoint: String, requests: (String) throws -> Double) {
        let origin = try startOrigin()
        let files = try makeTree(on: origin, smallFiles: 12)
        let catalog = scratch.file("tree-catalog.json")
        try publishTree(origin, catalog: catalog)
        let (mount, metric) = try mountWithMetrics(catalog, extra: extra)
        return (origin, files, mount.mountpoint, { op in try metric(#"dofs_fuse_requests_total{op="\#(op)"}"#) })
    }

    /// Mounts `catalog` with a metrics endpoint; returns the mount and a reader of one of its metrics (one
    /// the node does not list fails the test).
    private func mountWithMetrics(_ catalog: String, readDeadline: Int? = nil, extra: [String] = []) throws
        -> (DofsMount, (String) throws -> Double) {
        let port = try LoopbackPort.free()
        let mount = try mount(readDeadline: readDeadline, extraArguments: ["--catalog", catalog, "--metrics-listen", "127.0.0.1:\(port)"] + extra)
        let logs = scratch.file("logs")
        return (mount, { name in try XCTUnwrap(try MetricsScrape.get(port: port, logDirectory: logs)[name], "the node lists \(name)") })
    }

    func testAListedFolderCarriesItsAttributesSoItsFilesOpenWithoutALookupEach() throws {
        let (_, files, mountpoint, requests) = try mountCountingRequests()

        let listing = try ChildProcess.run("/bin/ls", ["-lR", mountpoint], logDirectory: scratch.file("logs"), timeout: 60)
        XCTAssertTrue(listing.succeeded, "ls -lR: \(listing.stderr)")
        XCTAssertGreaterThan(try requests("readdirplus"), 0, "folders are listed with their entries' attributes")
        let (lookups, opens) = (try requests("lookup"), try requests("open"))
        for f in files {
            assertReads(try readWhole(mountpoint + "/" + f.path), f.bytes, f.path)
        }
        XCTAssertEqual(try requests("lookup"), lookups, "a listed file is opened without a LOOKUP")
        XCTAssertEqual(try requests("open") - opens, Double(files.count), "one OPEN per file read")
    }

    func testWithNoOpenTheKernelSendsOneOpenInAllAndEveryFileReadsByteExactTwiceTheSecondTimeFromItsCache() throws {
        let (origin, files, mountpoint, requests) = try mountCountingRequests(["--no-open"])

        for f in files {
            assertReads(try readWhole(mountpoint + "/" + f.path), f.bytes, f.path)
        }
        XCTAssertEqual(try requests("open"), 1, "the first OPEN is answered ENOSYS, and the kernel sends no other")
        XCTAssertEqual(try requests("release"), 0, "nor any RELEASE")
        // The kernel's readahead of the larger files may still be asking: the count once it rests.
        var reads = try requests("read")
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.3) {
            let now = (try? requests("read")) ?? -1
            defer { reads = now }
            return now == reads
        }, "the kernel's reads come to rest")
        XCTAssertGreaterThan(reads, 0)
        for f in files {
            assertReads(try readWhole(mountpoint + "/" + f.path), f.bytes, "\(f.path), again")
        }
        XCTAssertEqual(try requests("read"), reads, "a file read again comes from the kernel's page cache, kept without an open")
        settleLog(origin.accessLogPath)
        let fetched = Dictionary(grouping: origin.entries().map(\.uri).filter { $0.hasPrefix("/tree/") && !$0.hasSuffix(".phf") }, by: { $0 })
        XCTAssertEqual(fetched.filter { $0.value.count != 1 && !$0.key.hasSuffix("twenty-pieces.bin") && !$0.key.hasSuffix("five-pieces.bin") }.keys.sorted(), [],
                       "every small file is fetched once")
    }

    func testReadingAFolderInNameOrderPrefetchesItsNextSmallFilesInBatchesOnceAndReadingOneFileDoesNot() throws {
        let origin = try startOrigin()
        let files = try writeNumberedFiles(on: origin, folder: "flat", prefix: "f", count: 40, size: 1000, seed: 500)
        let (mount, fetched) = try mountTreeCountingFetches(origin)
        func names(_ range: ClosedRange<Int>) -> Set<String> { Set(range.map { String(format: "/tree/flat/f%02d.txt", $0) }) }
        func read(_ i: Int) throws { assertReads(try readWhole(mount.mountpoint + "/" + files[i].path), files[i].bytes, files[i].path) }

        try read(5)
        XCTAssertEqual(fetched(), ["/tree/flat/f05.txt"], "reading one file fetches that file only")

        // A window is 16 files (FuseFilesystem.siblingPrefetchCount).
        try read(0)
        try read(1)
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.05) { names(2...17).isSubset(of: Set(fetched())) },
                      "the folder is read in order: the 16 files after f01 are prefetched before they are opened: \(fetched())")
        for i in 2...9 { try read(i) }
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(Set(fetched()), names(0...17), "while half a window or more is fetched ahead, nothing more is")
        try read(10)
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.05) { names(18...26).isSubset(of: Set(fetched())) },
                      "then the files up to a window ahead are fetched together: \(fetched())")
        for i in 11..<files.count { try read(i) }
        let counts = Dictionary(grouping: fetched(), by: { $0 }).mapValues(\.count)
        XCTAssertEqual(counts.filter { $0.value != 1 }, [:], "every file is fetched exactly once, prefetched or read")
        XCTAssertEqual(counts.count, files.count)
    }

    func testReadingAFolderInOrderToItsEndPrefetchesTheFirstFilesOfTheFolderATreeWalkReadsNext() throws {
        let origin = try startOrigin()
        // The walk after walk/a goes down walk/b (whose first entry is a folder) to walk/b/c.
        var files: [TreeFile] = []
        for (n, (folder, prefix)) in [("walk/a", "f"), ("walk/b/c", "g"), ("walk/b/d", "h")].enumerated() {
            files += try writeNumberedFiles(on: origin, folder: folder, prefix: prefix, count: 20, size: 900, seed: 700 + 20 * UInt64(n))
        }
        let (mount, fetchedInOrder) = try mountTreeCountingFetches(origin)
        func fetched() -> Set<String> { Set(fetchedInOrder()) }
        func read(_ f: TreeFile) throws { assertReads(try readWhole(mount.mountpoint + "/" + f.path), f.bytes, f.path) }
        let nextStart = Set(files[20..<28].map { "/tree/" + $0.path })

        for f in files[0..<20] { try read(f) }
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.05) { nextStart.isSubset(of: fetched()) },
                      "the first 8 files of walk/b/c are fetched before it is opened: \(fetched().sorted())")
        XCTAssertTrue(fetched().filter { $0.contains("/walk/b/d/") }.isEmpty, "nothing of the folder after it yet")
        for f in files[20...] { try read(f) }
        let counts = Dictionary(grouping: fetchedInOrder(), by: { $0 }).mapValues(\.count)
        XCTAssertEqual(counts.filter { $0.value != 1 }, [:], "every file is fetched exactly once, prefetched or read")
        XCTAssertEqual(counts.count, files.count)
    }

    private let (filled, declined) = (#"dofs_page_cache_fills_total{result="filled"}"#, #"dofs_page_cache_fills_total{result="declined"}"#)
    private let (reads, opens) = (#"dofs_fuse_requests_total{op="read"}"#, #"dofs_fuse_requests_total{op="open"}"#)

    func testFilesFetchedAheadOfAFolderReadInOrderAreReadFromTheKernelsPageCacheAndATamperedOneNeverGetsThere() throws {
        let origin = try startOrigin()
        let files = try writeNumberedFiles(on: origin, folder: "flat", prefix: "f", count: 20, size: 1000, seed: 900)
        let catalog = scratch.file("tree-catalog.json")
        try publishTree(origin, catalog: catalog)
        let tampered = 6
        try TestContent.flipByte(in: origin.path("tree/" + files[tampered].path), at: 500)
        let (mount, metric) = try mountWithMetrics(catalog, readDeadline: 10)
        func read(_ i: Int) throws { assertReads(try readWhole(mount.mountpoint + "/" + files[i].path), files[i].bytes, files[i].path) }

        // Listed first, as `cat flat/*` does: the kernel can only be given files it knows.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: mount.mountpoint + "/flat").count, files.count)
        try read(0)
        try read(1)
        // The folder is read in order: f02…f17 are fetched ahead, and all but the tampered one verify.
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.05) { (try? metric(filled)) == 15 },
                      "the 15 good files fetched ahead are put into the page cache: \((try? metric(filled)) ?? -1)")
        let (readsBefore, opensBefore) = (try metric(reads), try metric(opens))
        let ahead = (2...17).filter { $0 != tampered }
        for i in ahead { try read(i) }
        XCTAssertEqual(try metric(reads), readsBefore, "a file filled ahead is read without a READ to the node")
        XCTAssertEqual(try metric(opens) - opensBefore, Double(ahead.count), "its OPEN still reaches the node (readers are counted)")

        assertFails(try readWhole(mount.mountpoint + "/" + files[tampered].path, within: 30), with: [EIO], "the tampered file")
        for i in 18..<files.count { try read(i) }
        // f18 and f19 were fetched ahead at f10's open; their fills may still be queued.
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.05) { (try? metric(filled)) == Double(files.count - 3) },
                      "every file fetched ahead but the tampered one is filled, and no other: \((try? metric(filled)) ?? -1)")
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.05) { (try? metric("dofs_recent_piece_bytes")) == 0 },
                      "a filled file is let go from memory, as a file read is: \((try? metric("dofs_recent_piece_bytes")) ?? -1) bytes held")
    }

    func testFilesFetchedAheadOfTheNextFolderBeforeItIsListedAreFilledAtItsFirstOpen() throws {
        let origin = try startOrigin()
        let first = try writeNumberedFiles(on: origin, folder: "walk/a", prefix: "f", count: 12, size: 800, seed: 950)
        let next = try writeNumberedFiles(on: origin, folder: "walk/b", prefix: "g", count: 12, size: 800, seed: 970)
        let catalog = scratch.file("tree-catalog.json")
        try publishTree(origin, catalog: catalog)
        let (mount, metric) = try mountWithMetrics(catalog, readDeadline: 10)
        func read(_ f: TreeFile) throws { assertReads(try readWhole(mount.mountpoint + "/" + f.path), f.bytes, f.path) }

        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: mount.mountpoint + "/walk/a").count, first.count)
        for f in first { try read(f) }
        // Near walk/a's end, the first 8 files of walk/b are fetched; the kernel has not listed walk/b yet.
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.05) { (try? metric(declined)) == 8 },
                      "the kernel declines walk/b's first 8 files: \((try? metric(declined)) ?? -1)")

        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: mount.mountpoint + "/walk/b").count, next.count)
        let filledBefore = try metric(filled)
        try read(next[0])
        // Tried again at walk/b's first open, ahead of any later fill (one queue, in order).
        XCTAssertTrue(waitUntil(timeout: 10, interval: 0.05) { ((try? metric(filled)) ?? 0) >= filledBefore + 8 },
                      "the 8 declined files are filled once walk/b is listed and opened")
        let readsBefore = try metric(reads)
        for f in next[1..<8] { try read(f) }
        XCTAssertEqual(try metric(reads), readsBefore, "they are read from the kernel's page cache")
        XCTAssertEqual(try metric(declined), 8, "no fill was declined twice")
    }

    func testACatalogSizeThatDisagreesWithThePiecesHashFileFailsTheOpenInsteadOfServingAWrongLength() throws {
        let origin = try startOrigin()
        _ = try makeTree(on: origin, smallFiles: 1)
        let catalog = scratch.file("tree-catalog.json")
        try publishTree(origin, catalog: catalog)
        var entries = try catalogEntries(catalog)
        let i = try XCTUnwrap(entries.firstIndex { $0["name"] as? String == "big/twenty-pieces.bin" })
        entries[i]["size"] = 20 * 65536 + 1
        try JSONSerialization.data(withJSONObject: entries).write(to: URL(fileURLWithPath: catalog))
        let mount = try mount(extraArguments: ["--catalog", catalog])

        XCTAssertEqual(Int(try lstatOf(mount.mountpoint + "/big/twenty-pieces.bin").st_size), 20 * 65536 + 1, "listed with the catalog's size")
        assertFails(try readWhole(mount.mountpoint + "/big/twenty-pieces.bin"), with: [EIO],
                    "a PHF whose length is not the catalog's size is refused at open")
    }

    func testPublishTreeRegistersEveryFileLocallyInOneRun() throws {
        let origin = try startOrigin()
        let files = try makeTree(on: origin, smallFiles: 8)
        let data = try scratch.directory("registry")
        let catalog = scratch.file("tree-catalog.json")
        let output = try publishTree(origin, catalog: catalog, extra: ["--local", "--control-plane-data", data])
        XCTAssertEqual(output["RegisteredAt"] as? String, data)

        let controlPlane = try ControlPlaneProcess(scratch: scratch, dataDirectory: data)
        addCleanup { controlPlane.stop() }
        try assertEveryEntryIsRegistered(catalog, files: files, at: controlPlane)
    }

    func testPublishTreeRegistersWithAControlPlaneInOneBatchRequest() throws {
        let origin = try startOrigin()
        let files = try makeTree(on: origin, smallFiles: 30)
        let controlPlane = try ControlPlaneProcess(scratch: scratch)
        addCleanup { controlPlane.stop() }
        let catalog = scratch.file("tree-catalog.json")
        let output = try publishTree(origin, catalog: catalog,
                                     extra: ["--control-plane", controlPlane.baseURL, "--key", try TestPublisher.shared().privateKey])
        XCTAssertEqual(output["PublisherKeyId"] as? String, try TestPublisher.shared().keyId)

        let batches = controlPlane.log.split(separator: "\n").filter { $0.contains("batch:") }
        XCTAssertEqual(batches.count, 1, "\(files.count) registrations go in one batch request: \(batches)")
        XCTAssertFalse(controlPlane.log.contains("registered DO-"), "no single publishes were made")
        try assertEveryEntryIsRegistered(catalog, files: files, at: controlPlane)
    }

    func testAnUnsignedRegistrationInABatchRefusesTheWholeBatch() throws {
        let origin = try startOrigin()
        _ = try makeTree(on: origin, smallFiles: 2)
        let controlPlane = try ControlPlaneProcess(scratch: scratch)
        addCleanup { controlPlane.stop() }
        let catalog = scratch.file("tree-catalog.json")
        try publishTree(origin, catalog: catalog)
        let publisher = try TestPublisher.shared()
        var registrations: [[String: Any]] = []
        for entry in try catalogEntries(catalog) {
            let integrity = try XCTUnwrap(entry["integrity"] as? [String: Any])
            let hoh = try XCTUnwrap(integrity["HashOfHashes"] as? String)
            let published = DofsCLI.Published(ContentId: ContentId(hashOfHashes: try XCTUnwrap(SHA256Digest(base64: hoh))).rawValue,
                                              HashOfHashes: hoh, ContentLength: try XCTUnwrap(entry["size"] as? Int), PieceSize: 65536,
                                              PiecesHashFileUrl: try XCTUnwrap(integrity["PiecesHashFileUrl"] as? String),
                                              Url: try XCTUnwrap(entry["url"] as? String))
            registrations.append(try publisher.registration(published))
        }
        registrations[1].removeValue(forKey: "PublisherKeyId")
        registrations[1].removeValue(forKey: "PublisherSignature")
        let body = try JSONSerialization.data(withJSONObject: ["Registrations": registrations])
        let reply = try Curl.postJSON(controlPlane.baseURL + "/publish/batch", json: body, logDirectory: scratch.file("logs"))
        XCTAssertEqual(reply.status, 401, "an unsigned registration refuses the batch as it would a single publish: \(reply)")
        XCTAssertTrue(reply.body.contains("registration 1"), "the refusal names the registration: \(reply)")
        let first = try XCTUnwrap(registrations[0]["ContentId"] as? String)
        XCTAssertEqual(try Curl.get(controlPlane.baseURL + "/content/\(first)/contentpolicy", logDirectory: scratch.file("logs")).status, 404,
                       "nothing of a refused batch is registered")
    }

    /// Every catalog entry's content is known to the control plane, with its URL.
    private func assertEveryEntryIsRegistered(_ catalog: String, files: [TreeFile], at controlPlane: ControlPlaneProcess,
                                              file: StaticString = #filePath, line: UInt = #line) throws {
        let entries = try catalogEntries(catalog)
        XCTAssertEqual(entries.count, files.count, file: file, line: line)
        for entry in entries {
            let integrity = try XCTUnwrap(entry["integrity"] as? [String: Any])
            let hoh = try XCTUnwrap(SHA256Digest(base64: try XCTUnwrap(integrity["HashOfHashes"] as? String)))
            let id = ContentId(hashOfHashes: hoh).rawValue
            let reply = try Curl.get(controlPlane.baseURL + "/content/\(id)/contentpolicy", logDirectory: scratch.file("logs"))
            XCTAssertEqual(reply.status, 200, "\(entry["name"] ?? "?"): not registered: \(reply)", file: file, line: line)
            XCTAssertTrue(reply.body.contains(try XCTUnwrap(entry["url"] as? String)), "\(entry["name"] ?? "?"): its URL is registered",
                          file: file, line: line)
        }
    }
}
