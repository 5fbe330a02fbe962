/// Splits a byte stream from a peer into messages, however the bytes were cut by TCP.
///
/// Feed it what arrives; take complete messages out. A length over `PeerMessage.maxLength` is an error
/// as soon as its 4-byte prefix is seen, so a hostile peer cannot make us buffer it.
public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, `nil` if more bytes are needed.
    public mutating func next() throws(WireError) -> PeerMessage? {
        guard buffer.count - start >= 4 else { return nil }
        let length = Int(buffer.readUInt32(at: start))
        guard length <= PeerMessage.maxLength else { throw .messageTooLong(length) }
        guard buffer.count - start >= 4 + length else { return nil }
        let body = buffer[(start + 4)..<(start + 4 + length)]
        start += 4 + length
        let message = try PeerMessage(body: body)
        compact()
        return message
    }

    /// Takes exactly `count` raw bytes (the handshake, which has no length prefix), or `nil` if not there yet.
    public mutating func take(_ count: Int) -> [UInt8]? {
        guard buffer.count - start >= count else { return nil }
        let out = Array(buffer[start..<(start + count)])
        start += count
        compact()
        return out
    }

    public var bufferedByteCount: Int { buffer.count - start }

    private mutating func compact() {
        // Drop consumed bytes once they dominate, keeping appends amortised O(1).
        if start > 64 * 1024 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
