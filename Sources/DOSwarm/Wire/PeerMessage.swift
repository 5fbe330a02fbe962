/// One swarm message after the handshake (do-protocol.md 4.3): BitTorrent's types 0–8 plus a
/// keep-alive, framed as `u32be length ‖ type ‖ payload`. Unknown types are kept opaque so the
/// connection can skip them (Windows sends a type 20 that dofs ignores).
///
/// ## dofs's one extension: `fetching`
/// `u32be 9 ‖ 20 ‖ "dofs" ‖ 0x01 ‖ u32be piece`: "I am fetching this piece from an HTTP source now".
/// DO's protocol has no message for a piece on its way, and a bitfield says nothing until the piece is
/// in, so members that decided at the same moment on different views of a growing swarm each fetched
/// the same piece from the origin. It rides type 20, BEP 10's "extended", which Windows sends and
/// discards (do-protocol.md 4.3), and its payload starts with a tag no BEP 10 message has (those start
/// with an extension id and a bencoded dictionary), so a Windows peer drops it and a type 20 from
/// Windows stays `.unknown` here. The receiver trusts it no further than an owner's promise: see
/// `PeerConnection.claims` and `ContentSourceSet`.
public enum PeerMessage: Equatable, Sendable {
    case keepAlive
    case choke
    case unchoke
    case interested
    case notInterested
    case have(piece: UInt32)
    case bitfield([UInt8])
    case request(piece: UInt32, begin: UInt32, length: UInt32)
    case piece(piece: UInt32, begin: UInt32, data: [UInt8])
    case cancel(piece: UInt32, begin: UInt32, length: UInt32)
    /// The sender is fetching `piece` from an HTTP source now (dofs's extension, above).
    case fetching(piece: UInt32)
    case unknown(type: UInt8, payload: [UInt8])

    /// DO's largest message (0x1F4000 bytes); anything longer is refused before it is buffered.
    public static let maxLength = 2_048_000
    /// dofs requests pieces in 16 KiB blocks (section 9.5).
    public static let blockSize = 16 * 1024
    /// BEP 10's "extended" message type, which carries `fetching`.
    public static let extendedType: UInt8 = 20
    /// The payload's first bytes for `fetching`: dofs's tag and the message's kind.
    static let fetchingTag = Array("dofs".utf8) + [1]

    public var typeCode: UInt8? {
        switch self {
        case .keepAlive: return nil
        case .choke: return 0
        case .unchoke: return 1
        case .interested: return 2
        case .notInterested: return 3
        case .have: return 4
        case .bitfield: return 5
        case .request: return 6
        case .piece: return 7
        case .cancel: return 8
        case .fetching: return Self.extendedType
        case .unknown(let t, _): return t
        }
    }

    /// The framed bytes of this message, length prefix included.
    public func encoded() -> [UInt8] {
        var body: [UInt8] = []
        if let t = typeCode { body.append(t) }
        switch self {
        case .keepAlive, .choke, .unchoke, .interested, .notInterested:
            break
        case .have(let p):
            body.appendUInt32(p)
        case .bitfield(let bits):
            body += bits
        case .request(let p, let b, let l), .cancel(let p, let b, let l):
            body.appendUInt32(p)
            body.appendUInt32(b)
            body.appendUInt32(l)
        case .piece(let p, let b, let data):
            body.appendUInt32(p)
            body.appendUInt32(b)
            body += data
        case .fetching(let p):
            body += Self.fetchingTag
            body.appendUInt32(p)
        case .unknown(_, let payload):
            body += payload
        }
        var out: [UInt8] = []
        out.reserveCapacity(4 + body.count)
        out.appendUInt32(UInt32(body.count))
        return out + body
    }

    /// Decodes one message body (the bytes after the length prefix).
    public init(body: ArraySlice<UInt8>) throws(WireError) {
        guard let type = body.first else {
            self = .keepAlive
            return
        }
        let payload = body.dropFirst()
        func fixed(_ n: Int) throws(WireError) {
            guard payload.count == n else { throw .badPayload(type: type, length: payload.count) }
        }
        switch type {
        case 0: try fixed(0); self = .choke
        case 1: try fixed(0); self = .unchoke
        case 2: try fixed(0); self = .interested
        case 3: try fixed(0); self = .notInterested
        case 4: try fixed(4); self = .have(piece: payload.readUInt32(at: payload.startIndex))
        case 5: self = .bitfield(Array(payload))
        case 6, 8:
            try fixed(12)
            let p = payload.readUInt32(at: payload.startIndex)
            let b = payload.readUInt32(at: payload.startIndex + 4)
            let l = payload.readUInt32(at: payload.startIndex + 8)
            self = type == 6 ? .request(piece: p, begin: b, length: l) : .cancel(piece: p, begin: b, length: l)
        case 7:
            guard payload.count >= 8 else { throw .badPayload(type: type, length: payload.count) }
            self = .piece(piece: payload.readUInt32(at: payload.startIndex),
                          begin: payload.readUInt32(at: payload.startIndex + 4),
                          data: Array(payload.dropFirst(8)))
        case Self.extendedType where payload.count == Self.fetchingTag.count + 4 && payload.starts(with: Self.fetchingTag):
            self = .fetching(piece: payload.readUInt32(at: payload.startIndex + Self.fetchingTag.count))
        default:
            self = .unknown(type: type, payload: Array(payload))
        }
    }
}

/// Why bytes from a peer were refused. Each case ends the connection.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case handshakeLength(Int)
    case handshakeMagic
    case handshakeVersion([UInt8])
    case messageTooLong(Int)
    case badPayload(type: UInt8, length: Int)

    public var description: String {
        switch self {
        case .handshakeLength(let n): return "handshake of \(n) bytes, expected \(Handshake.byteCount)"
        case .handshakeMagic: return "handshake does not start with \"Swarm protocol\""
        case .handshakeVersion(let v): return "unsupported swarm protocol version \(v)"
        case .messageTooLong(let n): return "message of \(n) bytes exceeds the \(PeerMessage.maxLength)-byte limit"
        case .badPayload(let t, let n): return "message type \(t) with a \(n)-byte payload is malformed"
        }
    }
}
