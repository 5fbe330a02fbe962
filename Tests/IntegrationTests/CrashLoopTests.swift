import Foundation
import XCTest

/// Twenty SIGKILLs at random moments, across piece commits and pieces-hash-file saves: the next start
/// removes every temporary file, `dofs verify` finds the cache clean, and every byte read was right.
final class CrashLoopTests: MountTestCase {
    func testTwentySIGKILLsLeaveACacheThatVerifiesCleanWithNoTemporaryFile() throws {
        let MiB = TestContent.MiB
        let origin = try startOrigin(locations: [.slow("/", rate: "20m")])
        // Many small contents so that PHF saves happen in every run, plus a larger one for piece commits.
        var catalog: [CatalogEntry] = []
        var contents: [String: [UInt8]] = [:]
        for i in 0..<24 {
            let bytes = TestContent.bytes(count: i == 0 ? 24 * MiB : 2 * MiB + i, seed: 350 + UInt64(i))
            let name = "c\(i).bin"
            catalog.append(CatalogEntry(name: name, published: try publish(bytes, as: name, on: origin)))
            contents[name] = bytes
        }
        let cache = scratch.file("cache")
        var generator = SystemRandomNumberGenerator()
        var wrong = 0
        var sawLeftovers = 0
        for round in 0..<20 {
            let leftovers = CacheFolder.temporaryFiles(cache).count
            if leftovers > 0 { sawLeftovers += 1 }
            // A cap far below what is read keeps pieces being fetched, staged and evicted in every round.
            let mount = try mount(cacheDir: cache, catalog: catalog,
                                  extraArguments: ["--download-mode", "99", "--cache-max-size", String(6 * MiB)])
            // Readers on three files (one new PHF each), reading them again and again (O_DIRECT, so every
            // read reaches dofs; the cap makes it fetch and stage pieces all the time) until the kill.
            let names = ["c0.bin", "c\(1 + round % 23).bin", "c\(1 + (round + 7) % 23).bin"]
            let group = DispatchGroup()
            let wrongHere = SharedCounter()
            for name in names {
                let path = mount.mountpoint + "/" + name
                let expected = contents[name]!
                DispatchQueue.global().async(group: group) {
                    guard case .success(let file) = Result(catching: { try ReadOnlyFile(path, direct: true) }) else { return }
                    for _ in 0..<100 {
                        var offset = 0
                        while offset < expected.count {
                            guard case .success(let bytes) = file.read(offset: offset, length: MiB), !bytes.isEmpty else { return }
                            if bytes != Array(expected[offset..<min(offset + bytes.count, expected.count)]) { wrongHere.add(1) }
                            offset += bytes.count
                        }
                    }
                }
            }
            usleep(UInt32.random(in: 50_000...900_000, using: &generator))
            mount.kill9()
            XCTAssertEqual(group.wait(timeout: .now() + 20), .success, "round \(round): readers stayed blocked after SIGKILL")
            wrong += wrongHere.value
        }
        print("[it] crash loop: 20 SIGKILLs; temporary files were left before \(sawLeftovers) of the starts")
        XCTAssertEqual(wrong, 0, "wrong bytes were served")
        XCTAssertGreaterThan(sawLeftovers, 0, "no kill ever left a temporary file; the loop proved nothing about clean-up")

        // A kill between a PHF's write and its rename leaves `NAME.phf.tmp-UUID`: a window of microseconds,
        // too narrow to hit at random, so one is planted as such a kill would leave it.
        let planted = cache + "/metadata/" + String(repeating: "0", count: 64) + ".phf.tmp-" + UUID().uuidString
        XCTAssertTrue(FileManager.default.createFile(atPath: planted, contents: Data("{\"Pie".utf8)))
        let last = try mount(cacheDir: cache, catalog: catalog, extraArguments: ["--download-mode", "99"])
        XCTAssertEqual(CacheFolder.temporaryFiles(cache), [], "temporary files survived the next start")
        try last.unmount()
        let verify = try dofs(["verify", "--cache-dir", cache])
        XCTAssertTrue(verify.succeeded, "dofs verify after 20 SIGKILLs: \(verify.termination) \(verify.stdout) \(verify.stderr)")
        XCTAssertTrue(verify.stdout.contains("removed 0 damaged"), verify.stdout)
        XCTAssertEqual(CacheFolder.temporaryFiles(cache), [])
    }
}
