import NIOCore

/// A peer connection as seen by async code: frames in, frames out.
typealias PeerChannel = NIOAsyncChannel<PeerFrame, PeerFrame>

extension PeerChannel {
    /// Installs the idle timer and the wire handler on a fresh channel and wraps it for async use.
    /// Must run on the channel's event loop (bootstrap initializers do).
    static func wrapping(_ channel: Channel, role: PeerRole, handshakeTimeout: Double,
                         idleTimeout: Double) -> EventLoopFuture<PeerChannel> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(IdleStateHandler(readTimeout: .seconds(fractional: idleTimeout)))
            try pipeline.addHandler(PeerWireHandler(role: role, handshakeTimeout: .seconds(fractional: handshakeTimeout)))
            // Small inbound buffer: beyond it NIO stops reading the socket, so a fast or hostile peer
            // is held back by TCP instead of by our memory.
            let configuration = PeerChannel.Configuration(
                backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8))
            return try PeerChannel(wrappingChannelSynchronously: channel, configuration: configuration)
        }
    }
}

extension TimeAmount {
    /// A `TimeAmount` from seconds with a fraction (configuration values are `Double` seconds).
    static func seconds(fractional seconds: Double) -> TimeAmount {
        .nanoseconds(Int64((max(0, seconds) * 1e9).rounded()))
    }
}
