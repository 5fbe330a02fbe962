import DOCore
import Foundation
import XCTest

/// Base class of the integration tests: real origins, real FUSE mounts of the real dofs binary.
///
/// Each test gets its own scratch directory, ports and cache directories. Everything a test starts
/// (origins, mounts) registers a clean-up here; `tearDown` runs them newest first whether the test
/// passed, failed or threw, so mounts are gone before their origins stop, and the scratch directory is
/// deleted last (never while something is still mounted in it). A failed test prints dofs's stderr.
/// Set DOFS_IT_KEEP=1 to keep the scratch directories for inspection.
class MountTestCase: XCTestCase {
    /// Folders dofs itself adds at the root of every mount; left out when comparing listings with a catalog.
    static let virtualFolders: Set<String> = ["by-url", "by-id"]

    private(set) var scratch: ScratchDirectory!
    private var cleanups: [() -> Void] = []
    private var mounts: [DofsMount] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        let binary = DofsCLI.binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            XCTFail("dofs binary not found at \(binary): build it (swift build) or set DOFS_BIN")
            throw ChildProcess.Failure(description: "no dofs binary")
        }
        guard FileManager.default.fileExists(atPath: "/dev/fuse") else {
            XCTFail("/dev/fuse is missing: these tests mount for real")
            throw ChildProcess.Failure(description: "no /dev/fuse")
        }
        scratch = try ScratchDirectory()
        _ = try scratch.directory("logs")
    }

    override func tearDown() {
        // hasSucceeded is false until the run stops, so count the failures recorded so far.
        let failed = (testRun?.totalFailureCount ?? 0) > 0
        for cleanup in cleanups.reversed() { cleanup() }
        cleanups.removeAll()
        if failed {
            for mount in mounts {
                print("---- dofs stderr for \(mount.mountpoint) (\(mount.process.poll().map(\.description) ?? "running")):")
                print(mount.logTail(60))
            }
        }
        mounts.removeAll()
        if let scratch {
            if ProcessInfo.processInfo.environment["DOFS_IT_KEEP"] == "1" {
                print("kept scratch directory \(scratch.path)")
            } else if !scratch.remove() {
                print("warning: \(scratch.path) kept: still mounted: \(MountTable.mountpoints(under: scratch.path))")
            }
        }
        super.tearDown()
    }

    /// Registers `cleanup` to run in tearDown (newest first).
    func addCleanup(_ cleanup: @escaping () -> Void) { cleanups.append(cleanup) }

    // MARK: Origins

    /// A fresh nginx origin, stopped in tearDown.
    func startOrigin(name: String = "nginx", locations: [NginxOrigin.Location] = []) throws -> NginxOrigin {
        let origin = try NginxOrigin(scratch: scratch, name: name, locations: locations)
        addCleanup { origin.stop() }
        return origin
    }

    /// A fault-injecting origin serving `docroot`, stopped in tearDown.
    func startFaultOrigin(docroot: String) throws -> FaultOrigin {
        let origin = try FaultOrigin(scratch: scratch, docroot: docroot)
        addCleanup { origin.stop() }
        return origin
    }

    // MARK: Content

    /// Writes `bytes` as docroot file `name`, publishes it with `dofs publish` (content URL through
    /// location `prefix`; the PHF is written to `name.phf` in the docroot and, unless `defaultPHFURL`,
    /// announced at the root location so that it is never rate limited) and returns publish's output.
    func publish(_ bytes: [UInt8], as name: String, on origin: NginxOrigin, via prefix: String = "/",
                 defaultPHFURL: Bool = false) throws -> DofsCLI.Published {
        try TestContent.write(bytes, to: origin.path(name))
        let phfURL = defaultPHFURL ? nil : origin.url(name + ".phf")
        return try DofsCLI.publish(file: origin.path(name), url: origin.url(name, via: prefix),
                                   phfOut: origin.path(name + ".phf"), phfURL: phfURL,
                                   logDirectory: scratch.file("logs"))
    }

    /// Writes a catalog file and returns its path.
    func writeCatalog(_ entries: [CatalogEntry], name: String = "catalog.json") throws -> String {
        let path = scratch.file(name)
        try CatalogEntry.write(entries, to: path)
        return path
    }

    // MARK: Mounts

    /// Starts `dofs mount -f` on a new mountpoint; unmounted (or killed) in tearDown.
    /// - Parameters:
    ///   - cacheDir: defaults to `<scratch>/cache`, shared by every mount of the test (to test remounts).
    ///   - catalog: written to a fresh catalog file when given.
    func mount(cacheDir: String? = nil, catalog: [CatalogEntry]? = nil, readDeadline: Int? = nil,
               extraArguments: [String] = [], readyPollInterval: TimeInterval = 0.05) throws -> DofsMount {
        let n = mounts.count + 1
        var options = DofsMount.Options(readDeadline: readDeadline, extraArguments: extraArguments, readyPollInterval: readyPollInterval)
        if let catalog { options.catalog = try writeCatalog(catalog, name: "catalog-\(n).json") }
        return try DofsMount.start(mountpoint: scratch.file("mnt-\(n)"), cacheDir: cacheDir ?? scratch.file("cache"),
                                   options: options, logPath: scratch.file("logs/dofs-\(n).log")) { started in
            mounts.append(started)
            addCleanup { started.cleanUp() }
        }
    }

    // MARK: Bounded I/O on mounts

    /// Reads a whole file on a mount, failing the test (by throwing) if it takes over `seconds`.
    func readWhole(_ path: String, within seconds: TimeInterval = 60) throws -> Result<[UInt8], PosixError> {
        try withDeadline(seconds, "reading \(path)") { FileIO.readWhole(path) }
    }

    /// Reads `length` bytes at `offset` of a file on a mount, within `seconds`.
    func read(_ path: String, offset: Int, length: Int, within seconds: TimeInterval = 60) throws -> Result<[UInt8], PosixError> {
        try withDeadline(seconds, "reading \(length) B at \(offset) of \(path)") { FileIO.read(path, offset: offset, length: length) }
    }

    func stat(_ path: String, within seconds: TimeInterval = 30) throws -> Result<(size: Int, isDirectory: Bool), PosixError> {
        try withDeadline(seconds, "stat \(path)") { FileIO.attributes(path) }
    }

    func list(_ path: String, within seconds: TimeInterval = 30) throws -> Result<[String], PosixError> {
        try withDeadline(seconds, "listing \(path)") { FileIO.list(path) }
    }

    func xattr(_ path: String, _ name: String, within seconds: TimeInterval = 30) throws -> Result<String, PosixError> {
        try withDeadline(seconds, "getxattr \(name) on \(path)") { Xattr.get(path, name) }
    }

    // MARK: Assertions

    /// Asserts two byte arrays are equal, reporting lengths and the first differing offset
    /// (never megabytes of bytes).
    func assertSameBytes(_ got: [UInt8], _ expected: [UInt8], _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        guard got != expected else { return }
        let firstDiff = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        XCTFail("\(what): got \(got.count) bytes, expected \(expected.count); first difference at offset "
                + "\(firstDiff.map(String.init) ?? "\(min(got.count, expected.count)) (length)")", file: file, line: line)
    }

    /// Asserts a read returned exactly `expected`.
    func assertReads(_ result: Result<[UInt8], PosixError>, _ expected: [UInt8], _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        switch result {
        case .success(let bytes): assertSameBytes(bytes, expected, what, file: file, line: line)
        case .failure(let error): XCTFail("\(what): \(error)", file: file, line: line)
        }
    }

    /// Asserts an operation failed with one of `errnos`; a success is reported with what came back.
    func assertFails<T>(_ result: Result<T, PosixError>, with errnos: Set<Int32>, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        switch result {
        case .success(let value):
            let shown = (value as? [UInt8]).map { "\($0.count) bytes" } ?? "\(value)"
            XCTFail("\(what): expected \(errnos.map(PosixError.name).sorted().joined(separator: " or ")), but it succeeded with \(shown)",
                    file: file, line: line)
        case .failure(let error):
            XCTAssertTrue(errnos.contains(error.code),
                          "\(what): expected \(errnos.map(PosixError.name).sorted().joined(separator: " or ")), got \(error)",
                          file: file, line: line)
        }
    }
}
