import Foundation
import XCTest

/// What an operator reads: `dofs --version`, the User-Agent origins see, and log lines that carry
/// their subject (content, URL, peer, host) as `key=value` metadata.
final class ObservabilityTests: MountTestCase {
    private var logs: String { scratch.file("logs") }

    func testVersionIsPrintedAndSentAsTheUserAgent() throws {
        let version = try ChildProcess.run(DofsCLI.binaryPath, ["--version"], logDirectory: logs)
        XCTAssertTrue(version.succeeded, version.stderr)
        let text = version.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotNil(text.range(of: #"^[0-9]+\.[0-9]+\.[0-9]+$"#, options: .regularExpression), "a version: '\(text)'")

        let origin = try startOrigin()
        let published = try publish(TestContent.bytes(count: 100_000, seed: 77), as: "ua.bin", on: origin)
        let mount = try mount(catalog: [CatalogEntry(name: "ua.bin", published: published)])
        _ = try readWhole(mount.mountpoint + "/ua.bin").get()
        let agents = Set(origin.entries().map(\.userAgent))
        XCTAssertEqual(agents, ["dofs/\(text)"], "every request names dofs and the version --version prints")
    }

    func testLogLinesAboutAContentCarryItsIdAsMetadata() throws {
        let origin = try startOrigin()
        let published = try publish(TestContent.bytes(count: 2 * TestContent.MiB, seed: 78), as: "logged.bin", on: origin)
        _ = try TestContent.write(Array("plain\n".utf8), to: origin.path("plain.txt"))
        let mount = try mount(catalog: [CatalogEntry(name: "logged.bin", published: published),
                                        CatalogEntry(name: "plain.txt", url: origin.url("plain.txt"), integrity: nil)])
        _ = try readWhole(mount.mountpoint + "/logged.bin").get()
        _ = try readWhole(mount.mountpoint + "/plain.txt").get()

        let lines = mount.log.split(separator: "\n")
        let verified = lines.filter { $0.contains("pieces hash file") && $0.contains("accepted") }
        XCTAssertFalse(verified.isEmpty, "a line says the content's metadata was accepted:\n\(mount.logTail())")
        XCTAssertTrue(verified.allSatisfy { $0.contains(" content=\(published.ContentId)") },
                      "that line carries content=<id>: \(verified)")
        let simple = lines.filter { $0.contains("simple mode") }
        XCTAssertTrue(simple.contains { $0.contains(" url=\(origin.url("plain.txt"))") }, "the simple-mode line carries url=: \(simple)")
    }
}
