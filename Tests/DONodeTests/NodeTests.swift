@testable import DONode
import Foundation
import Logging
import XCTest

/// The node without FUSE: it starts and stops in order, takes its cache folder's lock, serves its
/// control socket (one node per socket), and refuses mount points before touching the kernel.
final class NodeLifecycleTests: XCTestCase {
    private var folder: String!

    override func setUp() {
        folder = NSTemporaryDirectory() + "dofs-node-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private var logger: Logger {
        var l = Logger(label: "dofs.node.test")
        l.logLevel = .critical
        return l
    }

    /// A node with no network at all: download mode 99, so no control plane and no peers.
    private func configuration(cache: String = "cache") -> NodeConfiguration {
        var c = NodeConfiguration(cacheDirectory: folder + "/" + cache, controlPlane: .none)
        c.downloadMode = 99
        c.trustedKeysDirectory = folder + "/no-keys"
        return c
    }

    func testANodeOwnsItsCacheFolderUntilItStops() async throws {
        let node = try await Node.start(configuration(), logger: logger)
        do {
            _ = try await Node.start(configuration(), logger: logger)
            XCTFail("a second node started on the same cache folder")
        } catch {
            XCTAssertTrue("\(error)".contains("in use by process \(getpid())"), "\(error)")
        }
        await node.shutdown()
        let again = try await Node.start(configuration(), logger: logger)
        await again.shutdown()
    }

    func testOneNodeServesASocketAndItsAnswersNameIt() async throws {
        let node = try await Node.start(configuration(), logger: logger)
        let path = folder + "/node.sock"
        let server = try await ControlSocketServer.start(path: path, node: node, logger: logger)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600, "only root talks to the node")

        let hello = try await offPool { try ControlSocketClient(path: path).send(.hello) }
        XCTAssertNil(hello.error)
        XCTAssertEqual(hello.node?.pid, getpid())
        XCTAssertEqual(hello.node?.cacheDirectory, folder + "/cache")
        XCTAssertEqual(hello.node?.mountpoints, [])

        let other = try await Node.start(configuration(cache: "cache-2"), logger: logger)
        do {
            _ = try await ControlSocketServer.start(path: path, node: other, logger: logger)
            XCTFail("a second node took a socket that a live node serves")
        } catch {
            XCTAssertTrue("\(error)".contains("already serves"), "\(error)")
        }
        let unknown = try await offPool { try ControlSocketClient(path: path).send(.unmount(mountpoint: "/nowhere", lazy: false)) }
        XCTAssertEqual(unknown.error, "/nowhere is not a mount of this node")

        await server.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the socket file goes with the server")
        XCTAssertThrowsError(try ControlSocketClient(path: path).send(.hello)) { error in
            guard case .noNode = error as? ControlSocketError else { return XCTFail("\(error)") }
        }
        await other.shutdown()
        await node.shutdown()
    }

    func testAStaleSocketFileOfADeadNodeIsReplaced() async throws {
        let path = folder + "/stale.sock"
        FileManager.default.createFile(atPath: path, contents: Data("not a socket".utf8))
        let node = try await Node.start(configuration(), logger: logger)
        let server = try await ControlSocketServer.start(path: path, node: node, logger: logger)
        let hello = try await offPool { try ControlSocketClient(path: path).send(.hello) }
        XCTAssertEqual(hello.node?.pid, getpid())
        await server.stop()
        await node.shutdown()
    }

    func testMountPointsThatWouldHideFilesAreRefusedBeforeAnyMount() async throws {
        let node = try await Node.start(configuration(), logger: logger)
        let full = folder + "/full"
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: full + "/keep", contents: Data())
        do {
            try await node.attach(MountRequest(mountpoint: full))
            XCTFail("mounted over a non-empty folder")
        } catch {
            XCTAssertTrue(error.description.contains("--allow-non-empty"), error.description)
        }
        do {
            try await node.attach(MountRequest(mountpoint: folder + "/missing"))
            XCTFail("mounted on a missing folder")
        } catch {
            XCTAssertTrue(error.description.contains("No such file"), error.description)
        }
        XCTAssertEqual(node.mountpoints, [])
        await node.shutdown()
    }

    func testTheMountPathIsOneSpellingWhateverTheCallerWrote() throws {
        try FileManager.default.createDirectory(atPath: folder + "/real", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder + "/link", withDestinationPath: folder + "/real")
        let canonical = MountRequest.canonicalPath(folder + "/real")
        XCTAssertEqual(MountRequest.canonicalPath(folder + "/link"), canonical)
        XCTAssertEqual(MountRequest.canonicalPath(folder + "/./real/../real/"), canonical)
    }

    /// Runs blocking socket I/O off Swift's cooperative pool (its two threads serve the node).
    private func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
