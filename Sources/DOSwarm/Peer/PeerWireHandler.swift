import NIOCore

/// Turns a peer's bytes into `PeerFrame`s and `PeerFrame`s into bytes, and closes the connection when
/// the peer misbehaves at the wire level.
///
/// - The first 78 bytes must be a valid handshake; it must arrive within the handshake timeout.
/// - After it, `FrameDecoder` cuts messages; a length over 2,048,000 bytes or a malformed payload is
///   reported (`WireError`) through `errorCaught` and the channel is closed, so the async side sees the
///   reason as the stream's error.
/// - An `IdleStateHandler` placed before this one signals read idleness; the channel is then closed
///   with `PeerTimeout.idle`.
/// - Messages the role does not need (and unknown types) are dropped here.
final class PeerWireHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = PeerFrame
    typealias OutboundIn = PeerFrame
    typealias OutboundOut = ByteBuffer

    /// Fired through the pipeline by the handshake timer; checked here so the timer needs no handler reference.
    private struct HandshakeDeadline: Sendable {}

    private let role: PeerRole
    private let handshakeTimeout: TimeAmount
    private var decoder = FrameDecoder()
    private var handshakeDone = false
    private var failed = false
    private var handshakeTimer: Scheduled<Void>?

    init(role: PeerRole, handshakeTimeout: TimeAmount) {
        self.role = role
        self.handshakeTimeout = handshakeTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        handshakeTimer = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            channel.pipeline.fireUserInboundEventTriggered(HandshakeDeadline())
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = unwrapInboundIn(data)
        decoder.append(buffer.readableBytesView)
        do {
            if !handshakeDone {
                guard let bytes = decoder.take(Handshake.byteCount) else { return }
                let handshake = try Handshake(decoding: bytes)
                handshakeDone = true
                handshakeTimer?.cancel()
                context.fireChannelRead(wrapInboundOut(.handshake(handshake)))
            }
            while !failed, let message = try decoder.next() {
                if role.wants(message) {
                    context.fireChannelRead(wrapInboundOut(.message(message)))
                }
            }
        } catch {
            fail(context: context, error: error)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is HandshakeDeadline:
            if !handshakeDone { fail(context: context, error: PeerTimeout.handshake) }
        case let idle as IdleStateHandler.IdleStateEvent where idle == .read:
            fail(context: context, error: PeerTimeout.idle)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        var buffer: ByteBuffer
        switch frame {
        case .handshake(let handshake):
            buffer = context.channel.allocator.buffer(capacity: Handshake.byteCount)
            buffer.writeBytes(handshake.encoded())
        case .message(.piece(let piece, let begin, let block)):
            // Written in place: a block is the bulk of all traffic and `encoded()` would copy it twice.
            buffer = context.channel.allocator.buffer(capacity: 13 + block.count)
            buffer.writeInteger(UInt32(9 + block.count))
            buffer.writeInteger(UInt8(7))
            buffer.writeInteger(piece)
            buffer.writeInteger(begin)
            buffer.writeBytes(block)
        case .message(let message):
            let bytes = message.encoded()
            buffer = context.channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
        }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    private func fail(context: ChannelHandlerContext, error: Error) {
        guard !failed else { return }
        failed = true
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
