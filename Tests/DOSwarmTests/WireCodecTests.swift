import DOSwarm
import XCTest

/// Byte-exact vectors written down from do-protocol.md 4.2 and 4.3 (and 9.5 for bit order).
final class WireCodecTests: XCTestCase {
    private let swarmHash = [UInt8](0..<32)
    private let peerId = PeerId(hex: "e08e8e26fd833d4097b3a62b66adc67b00000000")!

    func testHandshakeIs78BytesInDOsLayout() throws {
        let h = Handshake(swarmHash: swarmHash, peerId: peerId)
        let bytes = h.encoded()
        XCTAssertEqual(bytes.count, 78)
        XCTAssertEqual(Array(bytes[0..<4]), [0, 0, 0, 0x0E])
        XCTAssertEqual(Array(bytes[4..<18]), Array("Swarm protocol".utf8))
        XCTAssertEqual(Array(bytes[18..<26]), [0, 0, 0, 1, 0, 0, 0, 0])
        XCTAssertEqual(Array(bytes[26..<58]), swarmHash)
        XCTAssertEqual(Array(bytes[58..<78]), [0xe0, 0x8e, 0x8e, 0x26, 0xfd, 0x83, 0x3d, 0x40, 0x97, 0xb3,
                                               0xa6, 0x2b, 0x66, 0xad, 0xc6, 0x7b, 0, 0, 0, 0])
        XCTAssertEqual(try Handshake(decoding: bytes), h)
    }

    func testHandshakeRefusesWrongMagicLengthAndVersion() {
        var bad = Handshake(swarmHash: swarmHash, peerId: peerId).encoded()
        bad[3] = 0x16
        XCTAssertThrowsError(try Handshake(decoding: bad)) { XCTAssertEqual($0 as? WireError, .handshakeMagic) }
        var v2 = Handshake(swarmHash: swarmHash, peerId: peerId).encoded()
        v2[21] = 2
        XCTAssertThrowsError(try Handshake(decoding: v2))
        XCTAssertThrowsError(try Handshake(decoding: v2.prefix(77))) { XCTAssertEqual($0 as? WireError, .handshakeLength(77)) }
    }

    func testMessageVectors() throws {
        let vectors: [(PeerMessage, [UInt8])] = [
            (.keepAlive, [0, 0, 0, 0]),
            (.choke, [0, 0, 0, 1, 0]),
            (.unchoke, [0, 0, 0, 1, 1]),
            (.interested, [0, 0, 0, 1, 2]),
            (.notInterested, [0, 0, 0, 1, 3]),
            (.have(piece: 0x0102_0304), [0, 0, 0, 5, 4, 1, 2, 3, 4]),
            (.bitfield([0b1010_0000]), [0, 0, 0, 2, 5, 0xA0]),
            (.request(piece: 7, begin: 16384, length: 16384), [0, 0, 0, 13, 6, 0, 0, 0, 7, 0, 0, 0x40, 0, 0, 0, 0x40, 0]),
            (.piece(piece: 1, begin: 2, data: [0xAA, 0xBB]), [0, 0, 0, 11, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0xAA, 0xBB]),
            (.cancel(piece: 7, begin: 0, length: 16384), [0, 0, 0, 13, 8, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0x40, 0]),
            (.unknown(type: 0x14, payload: [9, 9]), [0, 0, 0, 3, 0x14, 9, 9]),
            // dofs's extension on type 20: "dofs", kind 1, the piece.
            (.fetching(piece: 0x0102_0304), [0, 0, 0, 10, 0x14, 0x64, 0x6F, 0x66, 0x73, 1, 1, 2, 3, 4]),
        ]
        for (message, bytes) in vectors {
            XCTAssertEqual(message.encoded(), bytes, "\(message)")
            var d = FrameDecoder()
            d.append(bytes)
            XCTAssertEqual(try d.next(), message)
            XCTAssertEqual(d.bufferedByteCount, 0)
        }
    }

    func testATypeTwentyThatIsNotExactlyDofssFetchingStaysOpaque() throws {
        // A BEP 10 handshake (extension id 0, a bencoded dictionary), as Windows may send it, and
        // near misses of ours: another kind, a short piece, a byte too many.
        let payloads: [[UInt8]] = [[0] + Array("d1:md11:ut_metadatai1eee".utf8),
                                   Array("dofs".utf8) + [2, 0, 0, 0, 1],
                                   Array("dofs".utf8) + [1, 0, 0, 1],
                                   Array("dofs".utf8) + [1, 0, 0, 0, 1, 0]]
        for payload in payloads {
            var d = FrameDecoder()
            d.append(PeerMessage.unknown(type: 0x14, payload: payload).encoded())
            XCTAssertEqual(try d.next(), .unknown(type: 0x14, payload: payload))
        }
    }

    func testMessagesSplitAtEveryByteBoundaryDecodeTheSame() throws {
        let stream = [PeerMessage.bitfield([0xFF, 0x80]), .unchoke, .piece(piece: 3, begin: 0, data: Array(repeating: 7, count: 100)), .keepAlive]
        let bytes = stream.flatMap { $0.encoded() }
        for cut in 0...bytes.count {
            var d = FrameDecoder()
            var out: [PeerMessage] = []
            d.append(bytes[..<cut])
            while let m = try d.next() { out.append(m) }
            d.append(bytes[cut...])
            while let m = try d.next() { out.append(m) }
            XCTAssertEqual(out, stream, "cut at \(cut)")
        }
    }

    func testOverlongMessageIsRefusedFromItsPrefix() {
        var d = FrameDecoder()
        d.append([0x00, 0x1F, 0x40, 0x01])  // 2,048,001
        XCTAssertThrowsError(try d.next()) { XCTAssertEqual($0 as? WireError, .messageTooLong(2_048_001)) }
        var ok = FrameDecoder()
        ok.append([0x00, 0x1F, 0x40, 0x00])  // exactly the limit: waits for the body
        XCTAssertNil(try ok.next())
    }

    func testMalformedFixedPayloadsAreRefused() {
        for bytes: [UInt8] in [[0, 0, 0, 2, 0, 0], [0, 0, 0, 4, 4, 0, 0, 0], [0, 0, 0, 5, 6, 0, 0, 0, 0], [0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0]] {
            var d = FrameDecoder()
            d.append(bytes)
            XCTAssertThrowsError(try d.next(), "\(bytes)")
        }
    }

    func testBitfieldNamesItsLowestMissingPieceAndNoneWhenComplete() {
        var b = Bitfield(pieceCount: 20)
        XCTAssertEqual(b.firstMissing, 0)
        for i in 0..<11 { b[i] = true }
        b[13] = true
        XCTAssertEqual(b.firstMissing, 11, "the first hole, past a whole byte and into the next")
        for i in 0..<20 { b[i] = true }
        XCTAssertNil(b.firstMissing, "the spare bits of the last byte are not pieces")
    }

    func testBitfieldIsMostSignificantBitFirst() {
        var b = Bitfield(pieceCount: 10)
        b[0] = true
        b[9] = true
        XCTAssertEqual(b.bytes, [0x80, 0x40])
        XCTAssertEqual(b.count, 2)
        XCTAssertNotNil(Bitfield(bytes: [0xFF, 0xC0], pieceCount: 10))
        XCTAssertNil(Bitfield(bytes: [0xFF, 0xE0], pieceCount: 10), "spare bits set")
        XCTAssertNil(Bitfield(bytes: [0xFF], pieceCount: 10), "wrong length")
    }

    func testBitfieldUnionSetsThePiecesEitherHas() {
        var a = Bitfield(pieceCount: 10)
        var b = Bitfield(pieceCount: 10)
        a[0] = true
        b[9] = true
        b[3] = true
        a.formUnion(b)
        XCTAssertEqual((0..<10).filter { a[$0] }, [0, 3, 9])
        XCTAssertEqual((0..<10).filter { b[$0] }, [3, 9], "the other is left as it was")
    }

    func testPeerIdHexRoundTripsAndEqualIdsHashAlike() {
        let hex = "e08e8e26fd833d4097b3a62b66adc67b0000ff01"
        let id = PeerId(hex: hex)!
        XCTAssertEqual(id.hex, hex)
        XCTAssertEqual("\(id)", hex)
        XCTAssertEqual(id.bytes.last, 0x01)
        let same = PeerId(bytes: id.bytes)!
        XCTAssertEqual(Set([id, same, PeerId(hex: "00" + hex.dropFirst(2))!]).count, 2)
    }

    func testFuzzedInputNeverCrashesAndTruncationNeverYieldsAMessage() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let n = Int.random(in: 0..<64, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng), bytes.count >= 4 { bytes[0] = 0; bytes[1] = 0 }  // plausible lengths too
            var d = FrameDecoder()
            d.append(bytes)
            for _ in 0..<70 {
                guard let m = try? d.next() else { break }
                _ = m.encoded()
            }
            _ = try? Handshake(decoding: bytes)
        }
        let whole = PeerMessage.request(piece: 1, begin: 2, length: 3).encoded()
        for cut in 0..<whole.count {
            var d = FrameDecoder()
            d.append(whole.prefix(cut))
            XCTAssertNil(try d.next(), "a truncated message must not decode")
        }
    }
}
