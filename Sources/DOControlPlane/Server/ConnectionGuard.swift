import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes

/// What a single connection may hold of the server, enforced on the connection's event loop.
///
/// Hummingbird answers requests; it does not bound how long a connection may sit there, and after an
/// answer it reads whatever the client still sends (it drains an unread body to reach the next request,
/// and waits for the client to close after a parse error). Two handlers close those gaps:
///
/// - `InboundGate`, first in the pipeline, sees raw bytes: it tells `ConnectionGuard` that bytes arrived
///   (so an idle connection that starts a request gets the header deadline), and once told to, stops
///   reading from the socket altogether and drops what a read already in flight delivers.
/// - `ConnectionGuard`, after the HTTP codec, sees request and response parts and keeps one deadline:
///   - waiting for a request head: `headerReadTimeout` from the connection's start, or from the first
///     byte after an idle spell (a trickled head is cut off, however slowly it trickles);
///   - idle (every request answered, no byte since): `idleTimeout`;
///   - reading a body: `idleTimeout` since the last byte (a stalled upload does not hold its slot);
///   - answering: none while a handler works (its work is bounded by the handler); while the answer
///     is backed up in the socket, `idleTimeout` without any of it leaving (nginx's `send_timeout`):
///     a slow reader keeps its connection, one that asks for a large PHF and never reads loses it.
///   When the deadline passes the connection is closed, without an answer.
///
/// ## After an answer that ends the connection
/// Every 4xx/5xx answer, every answer sent before its request was read to the end (a 413 in the middle
/// of an upload, a 503 to a publish that was never read), and the answer to `Connection: close` end the
/// connection: the answer goes out with `Connection: close`, then reading stops (the gate), the output
/// is shut down (the client sees the answer, then end of stream), and the socket is closed
/// `errorAnswerLinger` later. Nothing more is read: a client that keeps sending fills the kernel's
/// receive window and then blocks. Closing at once instead would make the kernel answer the unread
/// input with a reset, which can destroy the answer before the client has read it.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct Limits: Sendable {
        var headerReadTimeout: TimeAmount
        var idleTimeout: TimeAmount
        var linger: TimeAmount

        init(_ configuration: ControlPlaneConfiguration) {
            headerReadTimeout = TimeAmount(configuration.headerReadTimeout)
            idleTimeout = TimeAmount(configuration.idleTimeout)
            linger = TimeAmount(configuration.errorAnswerLinger)
        }
    }

    private let limits: Limits
    private let logger: Logger

    /// A request head arrived and its `.end` has not.
    private var requestOpen = false
    /// Requests whose answer has not reached the socket to its end.
    private var answersOwed = 0
    /// Answer ends written down the pipeline and not yet handed to the kernel.
    private var endsInFlight = 0
    /// When the head being waited for began to arrive (connection start, or first byte after idle).
    private var headStartedAt: NIODeadline?
    /// When the connection last had nothing in flight (the last answer's end reached the socket).
    private var idleSince = NIODeadline.now()
    /// The last time bytes arrived.
    private var lastInbound = NIODeadline.now()
    /// While output is backed up: when it last moved, and how many bytes were buffered then.
    private var lastOutputProgress = NIODeadline.now()
    private var lastBufferedBytes = 0
    private var wasBackedUp = false
    /// The answer being written ends the connection.
    private var endAfterAnswer = false
    /// The connection is ending: no deadline but the linger.
    private var ending = false
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    init(limits: Limits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // The connection is already active when Hummingbird builds its pipeline.
        headStartedAt = .now()
        rearm(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            requestOpen = true
            answersOwed += 1
            headStartedAt = nil
            if head.headerFields[.connection]?.lowercased() == "close" { endAfterAnswer = true }
        case .body:
            break
        case .end:
            requestOpen = false
        }
        rearm(context)
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        noteOutputState(context)
        rearm(context)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is InboundGate.BytesArrived else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        lastInbound = .now()
        if !requestOpen && answersOwed == 0 && headStartedAt == nil {
            headStartedAt = lastInbound
            rearm(context)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            if head.status.code >= 400 || requestOpen { endAfterAnswer = true }
            if endAfterAnswer {
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
            } else {
                context.write(data, promise: promise)
            }
        case .body:
            context.write(data, promise: promise)
        case .end:
            endsInFlight += 1
            noteOutputState(context)
            let written = promise ?? context.eventLoop.makePromise()
            if endAfterAnswer {
                context.writeAndFlush(data, promise: written)
            } else {
                context.write(data, promise: written)
            }
            written.futureResult.assumeIsolated().whenComplete { _ in self.answerWritten(context) }
            rearm(context)
        }
    }

    /// An answer's last byte reached the kernel (or the write failed): the connection is idle, or ends.
    private func answerWritten(_ context: ChannelHandlerContext) {
        endsInFlight -= 1
        answersOwed = max(0, answersOwed - 1)
        idleSince = .now()
        noteOutputState(context)
        if endAfterAnswer && answersOwed == 0 {
            endConnection(context)
        } else {
            rearm(context)
        }
    }

    /// Stops reading, shuts the output down, and closes after the linger.
    private func endConnection(_ context: ChannelHandlerContext) {
        guard !ending else { return }
        ending = true
        timer?.cancel()
        timer = nil
        context.triggerUserOutboundEvent(InboundGate.StopReading(), promise: nil)
        context.close(mode: .output, promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: limits.linger) { context.close(promise: nil) }
    }

    /// Output is backed up when the socket refuses more (the client is not reading fast enough) or an
    /// answer's end waits to be written out.
    private func isBackedUp(_ context: ChannelHandlerContext) -> Bool {
        !context.channel.isWritable || endsInFlight > 0
    }

    private func bufferedBytes(_ context: ChannelHandlerContext) -> Int {
        (try? context.channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)) ?? 0
    }

    private func noteOutputState(_ context: ChannelHandlerContext) {
        let backedUp = isBackedUp(context)
        if backedUp && !wasBackedUp {
            lastOutputProgress = .now()
            lastBufferedBytes = bufferedBytes(context)
        }
        wasBackedUp = backedUp
    }

    /// The moment the connection is closed unless something happens first; nil while a handler works.
    private func deadline(_ context: ChannelHandlerContext) -> NIODeadline? {
        if ending { return nil }
        if requestOpen { return lastInbound + limits.idleTimeout }
        if answersOwed > 0 { return isBackedUp(context) ? lastOutputProgress + limits.idleTimeout : nil }
        if let headStartedAt { return headStartedAt + limits.headerReadTimeout }
        return idleSince + limits.idleTimeout
    }

    /// Keeps one timer at or before the deadline; a timer that fires early re-arms for the remainder,
    /// so bytes arriving (every body part) cost no rescheduling.
    private func rearm(_ context: ChannelHandlerContext) {
        guard let deadline = deadline(context) else { return }
        if let timerDeadline, timerDeadline <= deadline, timer != nil { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.deadlineReached(context) }
    }

    private func deadlineReached(_ context: ChannelHandlerContext) {
        timer = nil
        timerDeadline = nil
        // An answer still draining to a slow reader counts as progress (nginx's send_timeout).
        if !ending && !requestOpen && answersOwed > 0 && isBackedUp(context) {
            let buffered = bufferedBytes(context)
            if buffered < lastBufferedBytes {
                lastBufferedBytes = buffered
                lastOutputProgress = .now()
            }
        }
        guard let deadline = deadline(context) else { return }
        guard NIODeadline.now() >= deadline else {
            rearm(context)
            return
        }
        let what = requestOpen ? "request body stalled" : answersOwed > 0 ? "client not reading the answer"
            : headStartedAt != nil ? "request head not complete" : "idle"
        logger.debug("closing connection: \(what)", metadata: ["peer": "\(context.channel.remoteAddress?.description ?? "?")"])
        ending = true
        context.close(promise: nil)
    }
}

/// The raw-bytes end of `ConnectionGuard`: first in the pipeline, before the HTTP decoder.
final class InboundGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// Inbound user event: bytes arrived from the client.
    struct BytesArrived {}
    /// Outbound user event: read nothing more from this connection.
    struct StopReading {}

    private var stopped = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !stopped else { return }
        context.fireUserInboundEventTriggered(BytesArrived())
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        guard !stopped else { return }
        context.read()
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is StopReading else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        stopped = true
        promise?.succeed()
    }
}
