@testable import DOEngine
import DOCore
import DOHTTP
import DOSwarm
import Logging
import Synchronization

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

extension ContentSourceSet {
    /// The sources of a shared content as a session makes them, with one CDN URL that nobody answers
    /// (port 9): what `eligible` offers is what a test looks at, never what a fetch would bring.
    static func withUnansweredCDN(swarm: SessionSwarm, table: SourceTable = SourceTable(clock: FakeClock())) -> ContentSourceSet {
        let cdn = HTTPSource(url: "http://127.0.0.1:9/content.bin", contentLength: swarm.layout.contentLength,
                             client: HTTPClient(configuration: HTTPClientConfiguration()))
        return ContentSourceSet(cdn: [cdn], cacheHosts: nil, swarm: swarm, table: table, logger: Logger(label: "test"),
                                httpGate: HTTPGate())
    }
}

extension EligibleSources {
    /// How many of the sources offered are HTTP sources (CDN URLs, cache hosts).
    var httpCount: Int { sources.filter { $0.kind != .peer }.count }
}
