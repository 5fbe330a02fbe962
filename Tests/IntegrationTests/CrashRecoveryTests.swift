import Foundation
import XCTest

/// A dofs killed with SIGKILL mid-download leaves a cache that is safe to reuse: pieces it had verified are
/// kept, nothing half-written is ever served as complete, and a remount finishes the file correctly.
final class CrashRecoveryTests: MountTestCase {
    func testSIGKILLDuringDownloadKeepsVerifiedPiecesAndARemountServesCorrectBytes() throws {
        let MiB = TestContent.MiB
        let origin = try startOrigin(locations: [.slow("/", rate: "4m")])
        let content = TestContent.bytes(count: 32 * MiB, seed: 61)
        let published = try publish(content, as: "big.bin", on: origin)
        let catalog = [CatalogEntry(name: "big.bin", published: published)]
        let cache = scratch.file("cache")

        // 1. A sequential reader on a slow origin; kill dofs once part of the file has arrived.
        let first = try mount(cacheDir: cache, catalog: catalog)
        let path = first.mountpoint + "/big.bin"
        let progress = SharedCounter()
        let readerError = ResultBox<String>()
        let readerDone = DispatchSemaphore(value: 0)
        Thread {
            defer { readerDone.signal() }
            let file: ReadOnlyFile
            do { file = try ReadOnlyFile(path) } catch { return readerError.set("\(error)") }
            while progress.value < content.count {
                let offset = progress.value
                switch file.read(offset: offset, length: MiB) {
                case .failure(let e): return readerError.set("\(e)")
                case .success(let bytes):
                    guard bytes == content.expected(offset: offset, length: MiB) else {
                        return readerError.set("WRONG BYTES at \(offset) before the crash")
                    }
                    progress.add(bytes.count)
                }
            }
        }.start()
        let started = waitUntil(timeout: 60, interval: 0.005) { progress.value >= 4 * MiB || readerError.value != nil }
        let readBeforeKill = progress.value
        XCTAssertTrue(started, "the reader made no progress in 60 s")
        XCTAssertLessThan(readBeforeKill, content.count, "the whole file arrived before the kill; the origin was not slow enough")
        // Pieces become durable in groups (README: the piece store commits in groups); kill once some are,
        // so the test checks what the store promises: a committed piece survives, a staged one is dropped.
        let verified = cache + "/pieces/verified"
        func committedPieces() -> Int {
            (FileManager.default.enumerator(atPath: verified)?.allObjects as? [String] ?? []).filter { $0.count > 60 }.count
        }
        XCTAssertTrue(waitUntil(timeout: 20, interval: 0.01) { committedPieces() >= 2 }, "no piece was committed in 20 s")
        let committedBeforeKill = committedPieces()
        first.kill9()
        XCTAssertFalse(first.isMounted, "the dead mount must be detached")
        XCTAssertEqual(readerDone.wait(timeout: .now() + 15), .success, "the reader stayed blocked after dofs was killed")
        XCTAssertFalse(readerError.value?.hasPrefix("WRONG BYTES") ?? false, readerError.value ?? "")

        let firstMountBytes = origin.requests(matching: "/big.bin").bodyBytes
        // The cache exactly as the crash left it: whatever claims to be a complete piece must be one.
        let afterCrash = CacheInspection.verifyContentAddressedFiles(under: cache)
        XCTAssertTrue(afterCrash.mismatches.isEmpty, "after SIGKILL, cache files whose bytes do not match their SHA-256 name: \(afterCrash.mismatches)")
        XCTAssertGreaterThan(afterCrash.checked, 0, "no content-addressed piece file under \(cache) after the crash; nothing was kept")

        // 2. Same cache dir, full-speed origin (same URL): the file completes correctly, without
        //    refetching the pieces the reader already had.
        try origin.restart(locations: [])
        let linesBefore = origin.entries().count
        let second = try mount(cacheDir: cache, catalog: catalog)
        let got = try readWhole(second.mountpoint + "/big.bin", within: 90).get()
        assertSameBytes(got, content, "big.bin after SIGKILL and remount")
        XCTAssertEqual(TestContent.sha256(got), TestContent.sha256(content))

        let secondBytes = origin.entries().dropFirst(linesBefore).filter { $0.uri == "/big.bin" }.bodyBytes
        print("[it] crash: reader had \(readBeforeKill) B before SIGKILL (origin sent \(firstMountBytes) B); "
              + "the remount fetched \(secondBytes) B of \(content.count) B")
        XCTAssertLessThan(secondBytes, content.count, "the remount refetched the whole file: nothing survived SIGKILL")
        let kept = content.count - secondBytes
        XCTAssertGreaterThanOrEqual(kept, committedBeforeKill * MiB,
                                    "pieces committed before the kill (\(committedBeforeKill)) were fetched again; only \(kept) B were kept")

        // 3. After the remount too, every content-addressed file holds exactly the bytes its name promises.
        let report = CacheInspection.verifyContentAddressedFiles(under: cache)
        XCTAssertTrue(report.mismatches.isEmpty, "cache files whose bytes do not match their SHA-256 name: \(report.mismatches)")
        XCTAssertGreaterThan(report.checked, 0, "no content-addressed piece file found under \(cache); the check above proved nothing")
        print("[it] crash: content-addressed cache files checked: \(afterCrash.checked) after the kill, \(report.checked) "
              + "after the remount (\(report.otherFiles) other files)")
    }

    /// Puts `content` on `origin` as `name`, published in 64 KiB pieces: small enough to be appended to a
    /// pack, not written to a file each. The catalog naming it.
    private func publishInPackedPieces(_ content: [UInt8], as name: String, on origin: NginxOrigin) throws -> [CatalogEntry] {
        try TestContent.write(content, to: origin.path(name))
        let published = try DofsCLI.publish(file: origin.path(name), url: origin.url(name),
                                            phfOut: origin.path(name + ".phf"), phfURL: origin.url(name + ".phf"),
                                            pieceSize: 64 * 1024, logDirectory: scratch.file("logs"))
        return [CatalogEntry(name: name, published: published)]
    }

    func testSIGKILLWhileSmallPiecesArePackedListsOnlyWholePiecesAndARemountServesCorrectBytes() throws {
        let KiB = 1024
        let origin = try startOrigin(locations: [.slow("/", rate: "2m")])
        let content = TestContent.bytes(count: 8 * 1024 * KiB + 777, seed: 62)
        let catalog = try publishInPackedPieces(content, as: "packed.bin", on: origin)
        let cache = scratch.file("cache")
        // Without passthrough: when the read ended before the kill, its whole copy survived it, and the
        // remount read the copy instead of fetching the pieces that were not listed. This test is the packs'.
        let first = try mount(cacheDir: cache, catalog: catalog, extraArguments: ["--no-passthrough"])
        let reader = Thread { _ = FileIO.readWhole(first.mountpoint + "/packed.bin") }
        reader.start()
        // Kill once some pieces are listed (a list record is written after the sync of its piece).
        func listedRecords() -> Int {
            let folder = cache + "/pieces/packs/"
            let lists = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".list") }
            var bytes = 0
            for name in lists {
                let size = (try? FileManager.default.attributesOfItem(atPath: folder + name)[.size] as? Int) ?? nil
                bytes += size ?? 0
            }
            return bytes / 56
        }
        XCTAssertTrue(waitUntil(timeout: 30, interval: 0.01) { listedRecords() >= 4 }, "no packed piece was listed in 30 s")
        first.kill9()
        XCTAssertFalse(first.isMounted, "the dead mount must be detached")

        let afterCrash = CacheInspection.verifyContentAddressedFiles(under: cache)
        XCTAssertTrue(afterCrash.mismatches.isEmpty, "after SIGKILL, listed pieces whose bytes do not match their SHA-256: \(afterCrash.mismatches)")
        XCTAssertGreaterThanOrEqual(afterCrash.checked, 4, "the listed pieces were checked")
        XCTAssertLessThan(afterCrash.checked, 129, "the whole file arrived before the kill; the origin was not slow enough")

        try origin.restart(locations: [])
        let linesBefore = origin.entries().count
        let second = try mount(cacheDir: cache, catalog: catalog, extraArguments: ["--no-passthrough"])
        let got = try readWhole(second.mountpoint + "/packed.bin", within: 90).get()
        assertSameBytes(got, content, "packed.bin after SIGKILL and remount")
        let refetched = origin.entries().dropFirst(linesBefore).filter { $0.uri == "/packed.bin" }.bodyBytes
        // The bytes of the pieces listed, not 64 KiB each: the last piece (777 bytes) may be among them.
        XCTAssertLessThanOrEqual(refetched, content.count - afterCrash.checkedBytes, "pieces listed before the kill were fetched again")
        XCTAssertEqual(try second.unmount(), .exited(0))
        let report = CacheInspection.verifyContentAddressedFiles(under: cache)
        XCTAssertTrue(report.mismatches.isEmpty, "after the remount: \(report.mismatches)")
        XCTAssertEqual(report.checked, 129, "every piece kept: 128 of 64 KiB and the last 777 bytes")
    }

    func testDofsVerifyRemovesAPackedPieceDamagedOnDiskAndTheRemountFetchesItAgain() throws {
        let KiB = 1024
        let origin = try startOrigin()
        let content = TestContent.bytes(count: 256 * KiB, seed: 63)
        let catalog = try publishInPackedPieces(content, as: "four.bin", on: origin)
        let cache = scratch.file("cache")
        let first = try mount(cacheDir: cache, catalog: catalog)
        assertSameBytes(try readWhole(first.mountpoint + "/four.bin").get(), content, "four.bin")
        XCTAssertEqual(try first.unmount(), .exited(0))
        XCTAssertEqual(CacheInspection.verifyContentAddressedFiles(under: cache).checked, 4, "4 packed pieces")

        // One byte of the pack flipped, as a disk error would.
        let pack = cache + "/pieces/packs/1.pack"
        let fd = open(pack, O_RDWR)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var byte: UInt8 = 0
        XCTAssertEqual(pread(fd, &byte, 1, 70_000), 1)
        byte ^= 0xFF
        XCTAssertEqual(pwrite(fd, &byte, 1, 70_000), 1)
        close(fd)

        let verify = try dofs(["verify", "--cache-dir", cache])
        XCTAssertFalse(verify.succeeded, "dofs verify fails when it finds damage")
        XCTAssertTrue(verify.stdout.contains("checked 4 verified piece(s), removed 1 damaged"), verify.stdout)
        let again = try dofs(["verify", "--cache-dir", cache])
        XCTAssertTrue(again.stdout.contains("checked 3 verified piece(s), removed 0 damaged"), again.stdout)

        let linesBefore = origin.entries().count
        let second = try mount(cacheDir: cache, catalog: catalog)
        assertSameBytes(try readWhole(second.mountpoint + "/four.bin").get(), content, "four.bin after the damage was removed")
        XCTAssertEqual(origin.entries().dropFirst(linesBefore).filter { $0.uri == "/four.bin" }.bodyBytes, 64 * KiB,
                       "only the damaged piece is fetched again")
        XCTAssertEqual(try second.unmount(), .exited(0))
    }
}
