import DOCore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The swarm peer server that runs inside `dofs mount`: it lets other peers download the verified
/// pieces we hold (do-protocol.md section 4). Uploading off means simply not starting it.
///
/// ## Who gets an answer
/// A connection must send its 78-byte handshake first. If the swarm hash names a content the
/// `SwarmLibrary` does not share, or the peer id is our own, the connection is closed without a single
/// byte in reply, as Windows does. Otherwise we answer with our handshake and a bitfield of what we hold
/// now, and later send `have` for pieces the engine verifies meanwhile.
///
/// ## Choking and upload slots
/// Every peer starts choked. When it says `interested` it takes one of `uploadSlots` slots and is
/// unchoked, or waits in a first-come queue. A slot is freed when its peer says `not interested`,
/// disconnects, or stays idle (no request) for `slotIdleSeconds` while someone waits; the head of the
/// queue is then unchoked. A downloader that has held its slot for `slotTurnSeconds` while someone
/// waits gives it up between two pieces and queues again. So at most `uploadSlots` peers download at
/// once, and neither a finished downloader nor the first ones to come can starve the others. Requests
/// from a choked peer are dropped, as in BitTorrent.
///
/// ## What is sent
/// Only pieces that are in the engine's cache *and* match their SHA-256 at send time: a piece is re-read
/// through `SharedContent.readPiece` and re-hashed before any block of it leaves (a few recently verified
/// pieces stay in memory for seconds, so this is once per piece, not per 16 KiB block). A piece that is
/// gone or damaged is not served: the peer is choked, which voids its queue and fails its fetch at once;
/// it is unchoked again when it re-sends `interested` (or after a second, for clients that never do).
///
/// ## Limits
/// At most `maxConnections` open connections, and at most `maxConnectionsPerAddress` from one IP address:
/// a connection beyond the address's share is closed on accept, so one host cannot take every place.
/// When all places are taken, a newcomer is not refused outright: the connection that has been
/// unproductive longest gives its place up, if it has been for a while (no request accepted for
/// `evictIdleAfterSeconds`, or an upload slot held with no block going out for
/// `evictStalledSlotAfterSeconds`); a peer that is downloading is never dropped for a newcomer. Only
/// when no connection qualifies is the newcomer closed. Besides: a 10 s handshake deadline;
/// connections silent for `idleTimeoutSeconds` are closed; a peer may queue at most
/// `maxOutstandingRequests` blocks of at most `maxBlockLength` bytes, each inside its piece; messages
/// over 2,048,000 bytes, malformed messages or a broken limit close that connection only. Unknown
/// message types are skipped.
public final class PeerServer: Sendable {
    let configuration: PeerServerConfiguration
    let slots: UploadSlots
    let verifiedPieces: VerifiedPieceCache
    private let peerId: PeerId
    private let library: any SwarmLibrary
    private let logger: Logger
    private let listener: NIOAsyncChannel<PeerChannel, Never>
    private let untaken: UntakenConnections
    private let state: Mutex<State>
    private let runTask = Mutex<Task<Void, Never>?>(nil)

    private struct State {
        var nextConnectionId = 0
        var table: ConnectionTable
        var refusedConnections = 0
        var evictedConnections = 0
        var uploadedBytes = 0
        var uploadedBySwarm: [[UInt8]: Int] = [:]
        var stopped = false
    }

    /// The TCP port we listen on (the real one when started with port 0).
    public let port: Int

    /// Binds to `host:port` (0 picks a free port) and starts accepting peers.
    public static func start(host: String, port: Int = PeerAddress.defaultPort, peerId: PeerId,
                             library: any SwarmLibrary, configuration: PeerServerConfiguration = .init(),
                             logger: Logger) async throws -> PeerServer {
        let untaken = UntakenConnections()
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                PeerChannel.wrapping(channel, role: .server,
                                     handshakeTimeout: configuration.handshakeTimeoutSeconds,
                                     idleTimeout: configuration.idleTimeoutSeconds).map(untaken.hold)
            }
        let server = PeerServer(listener: listener, untaken: untaken, peerId: peerId, library: library,
                                configuration: configuration, logger: logger)
        let task = Task { await server.acceptLoop() }
        server.runTask.withLock { $0 = task }
        logger.info("peer server listening", metadata: ["port": "\(server.port)"])
        return server
    }

    private init(listener: NIOAsyncChannel<PeerChannel, Never>, untaken: UntakenConnections, peerId: PeerId,
                 library: any SwarmLibrary, configuration: PeerServerConfiguration, logger: Logger) {
        self.listener = listener
        self.untaken = untaken
        self.port = listener.channel.localAddress?.port ?? 0
        self.peerId = peerId
        self.library = library
        self.configuration = configuration
        self.logger = logger
        self.slots = UploadSlots(capacity: configuration.uploadSlots)
        self.state = Mutex(State(table: ConnectionTable(maxConnections: configuration.maxConnections,
                                                        maxConnectionsPerAddress: configuration.maxConnectionsPerAddress)))
        self.verifiedPieces = VerifiedPieceCache(capacity: configuration.verifiedPieceCacheCount,
                                                 lifetimeSeconds: configuration.verifiedPieceCacheSeconds,
                                                 rememberedCapacity: configuration.hashedOncePieceCount)
    }

    /// Total piece payload bytes sent to peers (handed to their sockets), all contents.
    public var uploadedBytes: Int { state.withLock { $0.uploadedBytes } }

    /// Tells every peer connected for `swarmHash` that piece `index` is now held (a `have` at once;
    /// the periodic check is only the safety net). Peers waiting on the piece then fetch it from us.
    public func announce(swarmHash: [UInt8], piece index: Int) {
        for session in sessions(of: swarmHash) { session.announce(piece: index) }
    }

    /// Tells every peer connected for `swarmHash` that we are fetching piece `index` from an HTTP
    /// source now (`PeerMessage.fetching`), so that a member about to fetch it too waits for our `have`.
    public func announceFetching(swarmHash: [UInt8], piece index: Int) {
        for session in sessions(of: swarmHash) { session.claim(piece: index) }
    }

    private func sessions(of swarmHash: [UInt8]) -> [ServerSession] {
        state.withLock { s in s.table.sessions.filter { $0.content.swarmHash == swarmHash } }
    }

    /// Piece payload bytes sent to peers for one content.
    public func uploadedBytes(swarmHash: [UInt8]) -> Int { state.withLock { $0.uploadedBySwarm[swarmHash] ?? 0 } }

    /// A snapshot of the server's counters.
    public var statistics: PeerServerStatistics {
        let s = state.withLock { s in
            (connections: s.table.count, sessions: s.table.sessions.count, uploaded: s.uploadedBytes,
             refused: s.refusedConnections, evicted: s.evictedConnections)
        }
        return PeerServerStatistics(connections: s.connections, sessions: s.sessions,
                                    unchokedPeers: slots.unchokedCount, peakUnchokedPeers: slots.peakUnchokedCount,
                                    uploadedBytes: s.uploaded, refusedConnections: s.refused,
                                    evictedConnections: s.evicted)
    }

    /// Stops listening, closes every peer connection and waits until all of them are gone.
    public func stop() async {
        let channels = state.withLock { s in
            s.stopped = true
            return s.table.entries.values.map(\.channel)
        }
        // Closing the listener ends its stream of connections once the accept loop has taken the ones
        // buffered in it (each taken after `stopped` is closed there); cancelling the loop would leave
        // those unclosed, which NIO traps on. Connections still in flight then are closed by `untaken`.
        listener.channel.close(promise: nil)
        for channel in channels { channel.close(promise: nil) }
        await runTask.withLock { $0 }?.value
        await untaken.closeAll()
        logger.info("peer server stopped", metadata: ["port": "\(port)"])
    }

    // MARK: - Connections

    private func acceptLoop() async {
        do {
            try await listener.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        untaken.take(connection)
                        guard let id = admit(connection.channel) else {
                            group.addTask { try? await connection.executeThenClose { _, _ in } }
                            continue
                        }
                        group.addTask {
                            await self.serve(connection, id: id)
                            self.state.withLock { _ = $0.table.remove(id) }
                        }
                    }
                }
            }
        } catch {
            if !state.withLock({ $0.stopped }) { logger.error("peer server stopped accepting: \(error)") }
        }
    }

    /// Gives a new connection a place (its connection id), making room by evicting the least productive
    /// connection when the server is full; nil when it must be closed. Only the accept loop calls this,
    /// so admissions never race each other; connections that close meanwhile only free places.
    private func admit(_ channel: Channel) -> Int? {
        let host = PeerAddress.canonicalHost(channel.remoteAddress?.ipAddress ?? "?")
        let now = ContinuousClock.now
        let entry = ConnectionTable.Entry(host: host, channel: channel, acceptedAt: now)
        // Under the lock: the quick answers, or a snapshot of who might make room.
        let candidates = state.withLock { s -> [(id: Int, session: ServerSession?, acceptedAt: ContinuousClock.Instant)]? in
            guard !s.stopped, s.table.admission(of: host) == .full else { return nil }
            return s.table.entries.map { ($0.key, $0.value.session, $0.value.acceptedAt) }
        }
        // Outside it (each session has its own lock): who has been unproductive longest.
        let victim = candidates.flatMap { candidates in
            ConnectionActivity.victim(among: candidates.map { ($0.id, $0.session?.activity
                                                             ?? ConnectionActivity(idleSince: $0.acceptedAt)) },
                                      at: now, configuration)
        }
        let (admitted, evicted) = state.withLock { s -> (Int?, ConnectionTable.Entry?) in
            guard !s.stopped else { return (nil, nil) }
            var evicted: ConnectionTable.Entry?
            let admission = s.table.admission(of: host)
            if admission == .full, let victim { evicted = s.table.remove(victim) }
            guard admission == .admitted || evicted != nil else {
                s.refusedConnections += 1
                return (nil, nil)
            }
            if evicted != nil { s.evictedConnections += 1 }
            let id = s.nextConnectionId
            s.nextConnectionId += 1
            s.table.insert(entry, id: id)
            return (id, evicted)
        }
        if let evicted {
            logger.info("connection dropped to make room for a new peer: it was not downloading",
                        metadata: ["remote": "\(evicted.host)",
                                   "peer": "\(evicted.session.map { "\($0.remotePeerId)" } ?? "-")"])
            evicted.channel.close(promise: nil)
        } else if admitted == nil {
            let perAddress = state.withLock { $0.table.connections(from: host) } >= configuration.maxConnectionsPerAddress
            logger.debug(perAddress ? "connection refused: at the per-address connection limit"
                                    : "connection refused: at the connection limit, and every connection is in use",
                         metadata: ["remote": "\(host)"])
        }
        return admitted
    }

    /// One connection, from handshake to close.
    private func serve(_ connection: PeerChannel, id: Int) async {
        let remote = connection.channel.remoteAddress.map { "\($0)" } ?? "?"
        var logger = self.logger
        logger[metadataKey: "remote"] = "\(remote)"
        var session: ServerSession?
        do {
            try await connection.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                guard case .handshake(let theirs)? = try await frames.next() else { return }
                guard theirs.peerId != peerId else {
                    logger.debug("refusing a connection from ourselves")
                    return
                }
                guard let content = library.sharedContent(swarmHash: theirs.swarmHash),
                      content.swarmHash == theirs.swarmHash else {
                    logger.debug("refusing a handshake for a swarm we do not hold")
                    return
                }
                logger[metadataKey: "peer"] = "\(theirs.peerId)"
                library.peerArrived(swarmHash: content.swarmHash, peerId: theirs.peerId)
                let current = register(id: id, content: content, remotePeerId: theirs.peerId,
                                       channel: connection.channel, logger: logger)
                session = current
                try await outbound.write(.handshake(Handshake(swarmHash: content.swarmHash, peerId: peerId)))
                current.start()
                let ticker = ConnectionTicker.every(current.tickInterval)
                let tick = ticker.add { [weak current] in current?.tick() }
                defer { ticker.remove(tick) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await current.sendLoop(outbound) }
                    defer { group.cancelAll() }
                    while let frame = try await frames.next() {
                        guard case .message(let message) = frame else {
                            throw PeerError.misbehaved("a second handshake")
                        }
                        try current.receive(message)
                    }
                }
            }
        } catch {
            let reason = PeerError(closing: error)
            if reason == .cancelled || reason == .disconnected {
                logger.debug("peer connection closed: \(reason)")
            } else {
                logger.info("peer connection closed: \(reason)")
            }
        }
        session?.finish()
    }

    /// The session of connection `id`, after a handshake for a content we share.
    private func register(id: Int, content: SharedContent, remotePeerId: PeerId, channel: Channel,
                          logger: Logger) -> ServerSession {
        let session = ServerSession(id: id, content: content, remotePeerId: remotePeerId, channel: channel,
                                    server: self, logger: logger)
        state.withLock { $0.table.attach(session, to: id) }
        return session
    }

    // MARK: - Used by sessions

    /// Frees the slot (or queue place) of session `id` and unchokes whoever gets it.
    func releaseSlot(of id: Int) {
        var next = slots.leave(id)
        while let granted = next {
            if let session = state.withLock({ $0.table.entries[granted]?.session }) {
                session.slotGranted()
                return
            }
            next = slots.leave(granted)  // it went away meanwhile: pass the slot on
        }
    }

    func recordUpload(swarmHash: [UInt8], bytes: Int) {
        state.withLock { s in
            s.uploadedBytes += bytes
            s.uploadedBySwarm[swarmHash, default: 0] += bytes
        }
    }
}

/// Counters of a running `PeerServer`.
public struct PeerServerStatistics: Sendable, Equatable {
    /// Open TCP connections, including ones still handshaking.
    public var connections: Int
    /// Connections past the handshake, for a content we share.
    public var sessions: Int
    /// Peers holding an upload slot now.
    public var unchokedPeers: Int
    /// The most peers that ever held an upload slot at the same time (never above `uploadSlots`).
    public var peakUnchokedPeers: Int
    /// Piece payload bytes sent.
    public var uploadedBytes: Int
    /// Connections closed on accept: over the per-address limit, or the server full with no
    /// connection to drop for them.
    public var refusedConnections: Int = 0
    /// Connections dropped (idle or stalled) to make room for a new one.
    public var evictedConnections: Int = 0
}
