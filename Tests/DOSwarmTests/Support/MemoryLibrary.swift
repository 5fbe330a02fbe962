import DOCore
import DOSwarm
import Foundation
import Logging
import Synchronization

/// A content held in memory: real bytes and their real SHA-256 piece hashes.
struct TestContent: Sendable {
    let bytes: [UInt8]
    let layout: PieceLayout
    let pieceHashes: [SHA256Digest]
    let swarmHash: [UInt8]

    init(length: Int, pieceSize: Int, seed: UInt8 = 1) {
        var generator = SeededGenerator(seed: UInt64(seed))
        bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        layout = PieceLayout(contentLength: length, pieceSize: pieceSize)
        let layout = self.layout
        let bytes = self.bytes
        pieceHashes = (0..<layout.pieceCount).map { SHA256.hash(Array(bytes[layout.range(ofPiece: $0)])) }
        // dofs's swarm hash: SHA-256 over the raw piece hashes (do-protocol.md 9.1, 9.3).
        swarmHash = SHA256.hash(pieceHashes.flatMap(\.bytes)).bytes
    }

    func piece(_ index: Int) -> [UInt8] { Array(bytes[layout.range(ofPiece: index)]) }
}

/// A `SwarmLibrary` over test contents, with knobs to damage a piece or slow reads down.
final class MemoryLibrary: SwarmLibrary, Sendable {
    private struct State {
        var damaged: Set<Int> = []
        /// Pieces `have()` reports; nil = all.
        var held: Set<Int>?
        var readDelay: Double = 0
        var reads = 0
        /// Pieces `fetching()` reports (claimed to a peer as it connects).
        var fetching: [Int] = []
    }

    let content: TestContent
    private let state = Mutex(State())

    init(_ content: TestContent) { self.content = content }

    /// From now on `readPiece(index)` returns the piece with one byte flipped.
    func damage(piece index: Int) { state.withLock { _ = $0.damaged.insert(index) } }
    func setReadDelay(_ seconds: Double) { state.withLock { $0.readDelay = seconds } }
    /// From now on `have()` lists only these pieces (`nil`: all of them).
    func setHeld(_ pieces: Set<Int>?) { state.withLock { $0.held = pieces } }
    var reads: Int { state.withLock { $0.reads } }
    /// From now on `fetching()` lists these pieces, as if on their way from HTTP.
    func setFetching(_ pieces: [Int]) { state.withLock { $0.fetching = pieces } }

    func sharedContent(swarmHash: [UInt8]) -> SharedContent? {
        guard swarmHash == content.swarmHash else { return nil }
        let content = self.content
        return SharedContent(swarmHash: content.swarmHash, layout: content.layout, pieceHashes: content.pieceHashes,
                             have: { [self] in
                                 let held = state.withLock { $0.held }
                                 var bits = Bitfield(pieceCount: content.layout.pieceCount)
                                 for i in 0..<content.layout.pieceCount where held?.contains(i) ?? true { bits[i] = true }
                                 return bits
                             },
                             readPiece: { [self] index in
                                 let (damaged, delay) = state.withLock { s in
                                     s.reads += 1
                                     return (s.damaged.contains(index), s.readDelay)
                                 }
                                 if delay > 0 { Thread.sleep(forTimeInterval: delay) }
                                 var bytes = content.piece(index)
                                 if damaged { bytes[bytes.count / 2] ^= 0xFF }
                                 return bytes
                             },
                             fetching: { [self] in state.withLock { $0.fetching } })
    }
}

/// xorshift64*: deterministic test bytes.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// A logger that prints warnings and worse (set DOFS_TEST_LOG=debug for everything).
func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["DOFS_TEST_LOG"] == "debug" ? .debug : .warning
    return logger
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Double = 5, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
