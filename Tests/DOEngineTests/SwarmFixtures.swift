@testable import DOEngine
import DOCore
import DOHTTP
import DOSwarm
import Logging
import Synchronization
import XCTest

/// A content's swarm as a peer server shares it: `held` announced, `fetching` claimed, none sent.
final class HeldPieces: SwarmLibrary {
    let swarmHash: [UInt8]
    let layout: PieceLayout
    let held: Mutex<Set<Int>>
    let fetching: [Int]

    init(swarmHash: [UInt8], layout: PieceLayout, held: Set<Int>, fetching: [Int] = []) {
        self.swarmHash = swarmHash
        self.layout = layout
        self.held = Mutex(held)
        self.fetching = fetching
    }

    func sharedContent(swarmHash: [UInt8]) -> SharedContent? {
        guard swarmHash == self.swarmHash else { return nil }
        let layout = layout
        return SharedContent(swarmHash: swarmHash, layout: layout,
                             pieceHashes: Array(repeating: SHA256.hash([]), count: layout.pieceCount),
                             have: { [self] in
                                 var bits = Bitfield(pieceCount: layout.pieceCount)
                                 for i in held.withLock({ $0 }) { bits[i] = true }
                                 return bits
                             },
                             readPiece: { _ in nil }, fetching: { [fetching] in fetching })
    }
}

extension XCTestCase {
    /// A peer server on loopback as `id`, announcing `held` of `layout`'s pieces in the swarm `hash`;
    /// stopped at the end of the test. Returns its id and port, as a listing takes them.
    func heldPiecesServer(_ held: Set<Int>, hash: SHA256Digest, layout: PieceLayout,
                          id: PeerId = .random()) async throws -> (PeerId, Int) {
        let server = try await PeerServer.start(host: "127.0.0.1", port: 0, peerId: id,
                                                library: HeldPieces(swarmHash: hash.bytes, layout: layout, held: held),
                                                logger: Logger(label: "test"))
        addTeardownBlock { await server.stop() }
        return (id, server.port)
    }
}

/// Lists the same peers at every join, with first-join times when given (`joinedMs`, ours included).
struct FixedListing: ContentDirectory {
    let peers: [(PeerId, Int)]
    var joinedMs: [PeerId: Int64] = [:]
    func lookup(contentId: ContentId?, url: String?) async throws(DirectoryError) -> DirectoryAnswer? { nil }
    func announce(_ announcement: SwarmAnnouncement) async throws(DirectoryError) -> SwarmAnnouncementAnswer {
        SwarmAnnouncementAnswer(peers: peers.map { .init(peerId: $0.0.hex, host: "127.0.0.1", port: $0.1, joinedMs: joinedMs[$0.0]) },
                                reannounceSeconds: 300, joinedMs: PeerId(hex: announcement.peerId).flatMap { joinedMs[$0] })
    }
}

/// We and one other member of a 32 MiB content's swarm, the other a real peer server on loopback, our
/// view ready: what tests that drive `ContentSourceSet.eligible` on scheduler time stand on.
struct TwoMembers {
    let swarm: SessionSwarm
    let set: ContentSourceSet
    let clock: FakeClock
    let other: PeerId
    let server: PeerServer
    let library: HeldPieces
    /// The pieces each of us owns between the two of us.
    let ours: [Int]
    let theirs: [Int]

    var table: SourceTable { self.set.table }

    /// Starts the other member's server announcing `shares(ours, theirs).held` and claiming its
    /// `fetching` (it may throw `XCTSkip` when the random ids split the pieces badly), and returns once
    /// our view is ready and its announcements are in (at most 5 s). With `otherJoinedAfterUs` (seconds,
    /// negative: before us) the service gives first-join times, ours and the other member's.
    static func start(_ test: XCTestCase, name: String, otherJoinedAfterUs: Double? = nil,
                      shares: (_ ours: [Int], _ theirs: [Int]) throws -> (held: Set<Int>, fetching: [Int])) async throws -> TwoMembers {
        let layout = PieceLayout(contentLength: 32 << 20)
        let hash = SHA256.hash(Array(name.utf8))
        let us = PeerId.random(), other = PeerId.random()
        let ours = (0..<layout.pieceCount).filter { PieceOwnership.owns(us, piece: $0, members: [us, other]) }
        let theirs = (0..<layout.pieceCount).filter { !ours.contains($0) }
        let (held, fetching) = try shares(ours, theirs)
        let library = HeldPieces(swarmHash: hash.bytes, layout: layout, held: held, fetching: fetching)
        let server = try await PeerServer.start(host: "127.0.0.1", port: 0, peerId: other, library: library,
                                                logger: Logger(label: "test"))
        test.addTeardownBlock { await server.stop() }
        let config = PeeringConfiguration(downloadMode: 3, groupId: nil, peerId: us, reportedIp: "127.0.0.1", port: 7680)
        var directory = FixedListing(peers: [(other, server.port)])
        if let otherJoinedAfterUs {
            let ours: Int64 = 1_764_790_000_000
            directory.joinedMs = [us: ours, other: ours + Int64(otherJoinedAfterUs * 1000)]
        }
        let swarm = SessionSwarm(contentId: try ContentId("DO-q_OsiNzEudi8Rf5LXw0YFNzv-ZmhCZWj-77mtEgeDVc="),
                                 hashOfHashes: hash, layout: layout, config: config,
                                 directory: directory, logger: Logger(label: "test"))
        let clock = FakeClock()
        let set = ContentSourceSet.withUnansweredCDN(swarm: swarm, table: SourceTable(clock: clock))
        swarm.start { 0 }
        let heard = { held.allSatisfy { !swarm.swarm.peers(withPiece: $0).isEmpty } }
        let deadline = ContinuousClock.now + .seconds(5)
        while (swarm.secondsUntilReady() != 0 || !heard()) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        XCTAssertEqual(swarm.secondsUntilReady(), 0, "our view is ready")
        XCTAssertTrue(heard(), "the other member's announcements are in")
        return TwoMembers(swarm: swarm, set: set, clock: clock, other: other, server: server, library: library,
                          ours: ours, theirs: theirs)
    }
}

extension ContentSourceSet {
    /// The sources of a shared content as a session makes them, with one CDN URL that nobody answers
    /// (port 9): what `eligible` offers is what a test looks at, never what a fetch would bring.
    static func withUnansweredCDN(swarm: SessionSwarm, table: SourceTable = SourceTable(clock: FakeClock())) -> ContentSourceSet {
        let cdn = HTTPSource(url: "http://127.0.0.1:9/content.bin", contentLength: swarm.layout.contentLength,
                             client: HTTPClient(configuration: HTTPClientConfiguration()))
        return ContentSourceSet(cdn: [cdn], cacheHosts: nil, swarm: swarm, table: table, logger: Logger(label: "test"),
                                httpGate: HTTPGate(clock: table.clock))
    }
}

extension EligibleSources {
    /// How many of the sources offered are HTTP sources (CDN URLs, cache hosts).
    var httpCount: Int { sources.filter { $0.kind != .peer }.count }
}
