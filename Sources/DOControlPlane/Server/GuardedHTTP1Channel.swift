import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Hummingbird's HTTP/1 child channel with `ConnectionGuard` in its pipeline: `InboundGate` first (raw
/// bytes, before the HTTP decoder, where Hummingbird offers no hook), `ConnectionGuard` after the codec
/// (as one of Hummingbird's additional channel handlers). Everything else is Hummingbird's own.
struct GuardedHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value

    let inner: HTTP1Channel

    var responder: HTTPChannelHandler.Responder { inner.responder }

    /// The server builder for `Application(server:)`.
    static func builder(_ configuration: ControlPlaneConfiguration, logger: Logger) -> HTTPServerBuilder {
        let limits = ConnectionGuard.Limits(configuration)
        let decoder = HTTP1Channel.Configuration.DecoderConfiguration(
            maxHeaderFieldSize: configuration.maxHeaderBytes, maxHeaderListSize: configuration.maxHeaderBytes)
        return HTTPServerBuilder { responder in
            // The autoclosure runs once per connection: each gets its own guard. Hummingbird's own
            // idle timeout stays off: the guard's deadlines replace it.
            let configuration = HTTP1Channel.Configuration(
                additionalChannelHandlers: [ConnectionGuard(limits: limits, logger: logger)],
                idleTimeout: nil, httpDecoderConfiguration: decoder)
            return GuardedHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(InboundGate(), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
