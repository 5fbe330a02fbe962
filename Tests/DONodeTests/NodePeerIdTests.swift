@testable import DONode
import DOSwarm
import Foundation
import Logging
import XCTest

/// The peer id a node announces survives its restarts at the same address, and only those.
final class NodePeerIdTests: XCTestCase {
    private var folder: String!
    private let logger = Logger(label: "dofs.node.peer-id.test")

    override func setUp() {
        folder = NSTemporaryDirectory() + "dofs-peer-id-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private var file: String { folder + "/" + NodePeerId.fileName }

    func testANodeRestartedAtTheSameAddressAnnouncesTheIdItAnnouncedBefore() throws {
        let first = NodePeerId.forNode(cacheDirectory: folder, address: "127.0.0.5", logger: logger)
        let again = NodePeerId.forNode(cacheDirectory: folder, address: "127.0.0.5", logger: logger)
        XCTAssertEqual(again, first)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "\(first.hex) 127.0.0.5\n")
    }

    func testANodeAtAnotherAddressDrawsANewIdAndKeepsThatOne() {
        let before = NodePeerId.forNode(cacheDirectory: folder, address: "127.0.0.5", logger: logger)
        let moved = NodePeerId.forNode(cacheDirectory: folder, address: "::1", logger: logger)
        XCTAssertNotEqual(moved, before, "the control plane binds an id to the address that joined with it")
        XCTAssertEqual(NodePeerId.forNode(cacheDirectory: folder, address: "::1", logger: logger), moved)
    }

    func testTwoCachesAnnounceTwoIds() throws {
        let other = folder + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        XCTAssertNotEqual(NodePeerId.forNode(cacheDirectory: folder, address: "127.0.0.5", logger: logger),
                          NodePeerId.forNode(cacheDirectory: other, address: "127.0.0.5", logger: logger))
    }

    func testAFileThatIsNotOneIdAndOneAddressIsReplacedNotTrusted() throws {
        let id = "00112233445566778899aabbccddeeff00000000"
        for damaged in ["", "\(id)", "\(id) ", "\(id) 127.0.0.5 extra\n", "zz\(id.dropFirst(2)) 127.0.0.5\n",
                        "\(id.dropLast()) 127.0.0.5\n", "\(id)  127.0.0.5\n"] {
            try damaged.write(toFile: file, atomically: true, encoding: .utf8)
            let chosen = NodePeerId.forNode(cacheDirectory: folder, address: "127.0.0.5", logger: logger)
            XCTAssertNotEqual(chosen.hex, id, "trusted \(damaged.debugDescription)")
            XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "\(chosen.hex) 127.0.0.5\n",
                           "not rewritten after \(damaged.debugDescription)")
        }
        try "\(id) 127.0.0.5\n".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(NodePeerId.forNode(cacheDirectory: folder, address: "127.0.0.5", logger: logger).hex, id)
    }

    func testACacheThatCannotKeepTheIdStillGetsOneForThisRun() throws {
        let missing = folder + "/not-made"
        let a = NodePeerId.forNode(cacheDirectory: missing, address: "127.0.0.5", logger: logger)
        let b = NodePeerId.forNode(cacheDirectory: missing, address: "127.0.0.5", logger: logger)
        XCTAssertNotEqual(a, b, "nothing was kept, so each run draws its own")
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing))
    }
}
