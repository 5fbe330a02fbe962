import DOCore

/// The swarm handshake (do-protocol.md 4.2): who we are and which content we want to exchange.
///
/// ```
/// u32be  magic length   14
/// bytes  magic          "Swarm protocol"
/// 8 B    version        00 00 00 01 00 00 00 00
/// 32 B   swarm hash     dofs: the raw HashOfHashes (section 9.3)
/// 20 B   peer id
/// ```
/// 78 bytes in all. Windows accepts other magic lengths; dofs speaks and accepts exactly this one.
public struct Handshake: Equatable, Sendable {
    public static let magic = Array("Swarm protocol".utf8)
    public static let version: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 0]
    public static let byteCount = 4 + 14 + 8 + 32 + 20

    public var swarmHash: [UInt8]
    public var peerId: PeerId

    public init(swarmHash: [UInt8], peerId: PeerId) {
        precondition(swarmHash.count == 32, "a swarm hash is 32 bytes")
        self.swarmHash = swarmHash
        self.peerId = peerId
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.byteCount)
        out.appendUInt32(UInt32(Self.magic.count))
        out += Self.magic
        out += Self.version
        out += swarmHash
        out += peerId.bytes
        return out
    }

    /// Decodes a complete 78-byte handshake.
    public init(decoding bytes: some Collection<UInt8>) throws(WireError) {
        let b = Array(bytes)
        guard b.count == Self.byteCount else { throw .handshakeLength(b.count) }
        guard b.readUInt32(at: 0) == UInt32(Self.magic.count), Array(b[4..<18]) == Self.magic else {
            throw .handshakeMagic
        }
        guard Array(b[18..<26]) == Self.version else { throw .handshakeVersion(Array(b[18..<26])) }
        swarmHash = Array(b[26..<58])
        peerId = PeerId(bytes: Array(b[58..<78]))!
    }
}

/// A peer's 20-byte identity. dofs makes them like Windows does: 16 random bytes then 4 zero bytes,
/// shown as 40 hex digits.
public struct PeerId: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 20 else { return nil }
        self.bytes = bytes
    }

    public init?(hex: String) {
        guard hex.utf8.count == 40 else { return nil }
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let hi = it.next(), let lo = it.next() {
            guard let h = hexValue(hi), let l = hexValue(lo) else { return nil }
            out.append(h << 4 | l)
        }
        self.bytes = out
    }

    public static func random() -> PeerId {
        var g = SystemRandomNumberGenerator()
        return PeerId(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) } + [0, 0, 0, 0])!
    }

    /// 40 lowercase hex digits (the scheduler names a peer source by it, `peer <hex>`, on every look
    /// at a piece's sources: `Hex.encode` makes it in one allocation).
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

    /// The 20 bytes at once (an array hashes element by element).
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public static func == (a: PeerId, b: PeerId) -> Bool { a.bytes == b.bytes }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}
