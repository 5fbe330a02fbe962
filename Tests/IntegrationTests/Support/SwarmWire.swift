import DOCore
import DOSwarm
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// TCP on loopback addresses other than 127.0.0.1 (127.0.0.2, 127.0.0.3, ...: the whole of 127/8 reaches
/// `lo` on Linux), with POSIX sockets: no event loop, every wait bounded.
enum LoopbackSocket {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func address(_ host: String, _ port: Int) throws -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw Failure(description: "not an IPv4 address: \(host)") }
        return addr
    }

    /// A listening socket on `host:port` (0: the kernel picks) and the port it got.
    static func listen(host: String, port: Int = 0) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = try address(host, port)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "bind/listen \(host):\(port): \(message)")
        }
        return (fd, boundPort(fd))
    }

    static func boundPort(_ fd: Int32) -> Int {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A TCP port on `host` that was free a moment ago (there is a small race, as with `LoopbackPort.free`).
    static func freePort(host: String) throws -> Int {
        let (fd, port) = try listen(host: host)
        close(fd)
        return port
    }

    /// A connected socket to `host:port` (loopback: refused or accepted at once), leaving from
    /// `localHost` when given (a peer server counts connections per address).
    static func connect(host: String, port: Int, localHost: String? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        if let localHost {
            var local = try address(localHost, 0)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                let message = String(cString: strerror(errno))
                close(fd)
                throw Failure(description: "bind \(localHost): \(message)")
            }
        }
        var addr = try address(host, port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "connect \(host):\(port): \(message)")
        }
        return fd
    }

    /// Writes all of `bytes` (blocking); false when the peer is gone. Never raises SIGPIPE.
    @discardableResult
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            sent += n
        }
        return true
    }

    enum Received: Equatable {
        case bytes([UInt8])
        /// The other side closed (FIN or RST).
        case closed
        case timedOut
    }

    /// Waits up to `timeout` seconds for bytes (at most `maxBytes`), the end of the stream, or nothing.
    static func receive(_ fd: Int32, maxBytes: Int = 256 * 1024, timeout: TimeInterval) -> Received {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&p, 1, Int32(max(0, timeout * 1000)))
        if ready == 0 { return .timedOut }
        if ready < 0 { return errno == EINTR ? .timedOut : .closed }
        var buffer = [UInt8](repeating: 0, count: maxBytes)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, maxBytes, 0) }
        if n > 0 { return .bytes(Array(buffer[..<n])) }
        if n < 0, errno == EINTR || errno == EAGAIN { return .timedOut }
        return .closed
    }
}

/// A test's side of one swarm connection: sends raw bytes and reads what comes back, with deadlines.
final class PeerWireClient {
    private let fd: Int32
    private var decoder = FrameDecoder()
    /// Bytes received so far (handshake and frames), in total.
    private(set) var receivedByteCount = 0
    private(set) var closedByPeer = false

    init(host: String, port: Int, localHost: String? = nil) throws {
        fd = try LoopbackSocket.connect(host: host, port: port, localHost: localHost)
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) -> Bool { LoopbackSocket.sendAll(fd, bytes) }

    private func fill(until enough: (Int) -> Bool, timeout: TimeInterval) {
        let deadline = Date().addingTimeInterval(timeout)
        while !enough(decoder.bufferedByteCount), !closedByPeer {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return }
            switch LoopbackSocket.receive(fd, timeout: left) {
            case .bytes(let b):
                receivedByteCount += b.count
                decoder.append(b)
            case .closed: closedByPeer = true
            case .timedOut: return
            }
        }
    }

    /// Exactly `count` raw bytes (a handshake), or nil if the stream ended or `timeout` passed first.
    func readRaw(_ count: Int, timeout: TimeInterval) -> [UInt8]? {
        fill(until: { $0 >= count }, timeout: timeout)
        return decoder.take(count)
    }

    /// The next framed message, or nil if none came in `timeout` seconds (or the stream ended).
    func readMessage(timeout: TimeInterval) throws -> PeerMessage? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let message = try decoder.next() { return message }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 || closedByPeer { return nil }
            let before = decoder.bufferedByteCount
            fill(until: { $0 > before }, timeout: left)
        }
    }

    /// Waits until the other side closes the connection, for `timeout` seconds at most; returns whether
    /// it did, and counts whatever arrived meanwhile.
    func waitUntilClosed(timeout: TimeInterval) -> Bool {
        fill(until: { _ in false }, timeout: timeout)
        return closedByPeer
    }
}

/// The control plane's swarm calls as any peer makes them (do-protocol.md 2.4, 2.6): discovery names the
/// content's array service, and a join there records the peer and lists the others.
enum SwarmDirectory {
    struct Peer: Equatable, CustomStringConvertible {
        let peerId: String
        let ip: String
        let port: Int
        var description: String { "\(peerId)@\(ip):\(port)" }
    }

    /// `GET <cp>/content/<id>/discovery` -> the CollectiveArray URL.
    static func collectiveArray(controlPlane: String, contentId: String, logDirectory: String) throws -> String {
        let reply = try Curl.get("\(controlPlane)/content/\(contentId)/discovery", logDirectory: logDirectory)
        guard reply.status == 200,
              let entries = try? JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [[String: Any]],
              let array = entries.first?["CollectiveArray"] as? String else {
            throw ChildProcess.Failure(description: "discovery for \(contentId): \(reply)")
        }
        return array
    }

    /// Joins `contentId`'s swarm as `peerId` at `ip:port` with DO's join body (every value a string, the
    /// download mode `scope`: 1 LAN, 3 Internet),
    /// sent from `ip` unless `from` names another local address, and returns the peers the answer lists.
    @discardableResult
    static func join(controlPlane: String, contentId: String, peerId: PeerId, ip: String, port: Int,
                     left: Int = 0, seq: Int = 0, scope: Int = 1, from source: String? = nil,
                     logDirectory: String) throws -> [Peer] {
        let array = try collectiveArray(controlPlane: controlPlane, contentId: contentId, logDirectory: logDirectory)
        let body: [String: String] = [
            "ContentId": contentId, "PeerId": peerId.hex, "ReportedIp": ip, "SubnetMask": "255.255.255.0",
            "Port": String(port), "IsBackground": "0",
            "ClientDialectVersionMajor": "10", "ClientDialectVersionMinor": "1",
            "ClientDialectVersionBuild": "0", "ClientDialectVersionRevision": "12",
            "Uploaded": "0", "Downloaded": "0", "DownloadedCdn": "0", "DownloadedDoinc": "0",
            "Left": String(left), "JoinRequestEvent": seq == 0 ? "1" : "0", "RestrictedUpload": "0",
            "PeersWanted": "50", "GroupId": "", "Scope": String(scope), "Profile": "768", "Seq": String(seq),
        ]
        // Sent from `ip` itself: the control plane lists a member at the address its join came from.
        let reply = try Curl.postJSON(array + "join/", json: try JSONSerialization.data(withJSONObject: body),
                                      sourceAddress: source ?? ip, logDirectory: logDirectory)
        guard reply.status == 200, let json = reply.json, let peers = json["Peers"] as? [[String: Any]] else {
            throw ChildProcess.Failure(description: "join \(contentId) at \(array)join/: \(reply)")
        }
        return peers.compactMap { p in
            guard let id = p["PeerId"] as? String, let ip = p["Ip"] as? String else { return nil }
            let port = (p["Port"] as? Int) ?? Int("\(p["Port"] ?? "")") ?? 0
            return Peer(peerId: id.lowercased(), ip: ip, port: port)
        }
    }
}

/// A peer that lies: it speaks the swarm protocol for one content (do-protocol.md 4.2, 4.3, 9.3),
/// answers the handshake, claims every piece (full bitfield), unchokes, and answers every block request
/// with bytes of the right length but the wrong value. It records each connection: the remote peer id,
/// every request with its arrival time, and when the other side closed.
///
/// One thread accepts, one thread per connection serves; `stop()` ends them all (bounded) and closes
/// every socket. A handshake for another swarm is closed without a reply, as a real peer does.
final class LyingPeer: @unchecked Sendable {
    /// What the peer does once a mount has connected to it.
    enum Conduct {
        /// Announces every piece and answers every request with wrong bytes.
        case lies
        /// Announces every piece and never answers a request (a member that withholds).
        case withholds
        /// Announces every piece and never unchokes: requests wait, unsent, in a queue that never moves
        /// (a member that withholds as if every upload slot were taken).
        case withholdsChoking
        /// Announces nothing, ever, and answers nothing (a member that joined and holds nothing).
        case holdsNothing
    }

    struct Request {
        let at: Date
        let piece: Int
        let begin: Int
        let length: Int
    }

    struct Connection {
        let number: Int
        let acceptedAt: Date
        var remotePeerId: PeerId?
        var swarmHashMatched = false
        var requests: [Request] = []
        /// When the remote side closed the connection (nil: still open, or we closed it at stop).
        var closedByRemoteAt: Date?

        var requestedPieces: Set<Int> { Set(requests.map(\.piece)) }
    }

    let host: String
    let port: Int
    let peerId = PeerId.random()
    let swarmHash: [UInt8]
    let layout: PieceLayout
    /// The byte every lying block is filled with.
    let lieByte: UInt8 = 0xA5
    let conduct: Conduct

    private let listenFd: Int32
    private let lock = NSLock()
    private var stopped = false
    private var records: [Connection] = []
    private var openFds: Set<Int32> = []
    private let threads = DispatchGroup()

    init(host: String, swarmHash: [UInt8], layout: PieceLayout, conduct: Conduct = .lies) throws {
        self.host = host
        self.conduct = conduct
        self.swarmHash = swarmHash
        self.layout = layout
        (listenFd, port) = try LoopbackSocket.listen(host: host)
        startThread { self.acceptLoop() }
    }

    /// A snapshot of every connection so far.
    var connections: [Connection] {
        lock.lock()
        defer { lock.unlock() }
        return records
    }

    /// Connections whose handshake named our swarm and came from `peer`.
    func connections(from peer: PeerId) -> [Connection] { connections.filter { $0.remotePeerId == peer } }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    /// Stops accepting, closes every connection and waits (5 s at most) for the threads to end.
    func stop() {
        lock.lock()
        let first = !stopped
        stopped = true
        for fd in openFds { shutdown(fd, Int32(SHUT_RDWR)) }
        lock.unlock()
        guard first else { return }
        shutdown(listenFd, Int32(SHUT_RDWR))
        if threads.wait(timeout: .now() + 5) == .timedOut { print("warning: lying peer threads still running after stop") }
        close(listenFd)
    }

    private func startThread(_ body: @escaping @Sendable () -> Void) {
        threads.enter()
        let group = threads
        let thread = Thread {
            body()
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    private func acceptLoop() {
        while !isStopped {
            var p = pollfd(fd: listenFd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            let fd = accept(listenFd, nil, nil)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            lock.lock()
            if stopped {
                lock.unlock()
                close(fd)
                return
            }
            let number = records.count
            records.append(Connection(number: number, acceptedAt: Date()))
            openFds.insert(fd)
            lock.unlock()
            startThread { self.serve(fd, number: number) }
        }
    }

    private func update(_ number: Int, _ change: (inout Connection) -> Void) {
        lock.lock()
        change(&records[number])
        lock.unlock()
    }

    private func serve(_ fd: Int32, number: Int) {
        defer {
            lock.lock()
            openFds.remove(fd)
            lock.unlock()
            close(fd)
        }
        var decoder = FrameDecoder()
        var handshaken = false
        var lastWrite = Date()
        while !isStopped {
            switch LoopbackSocket.receive(fd, timeout: 0.2) {
            case .closed:
                if !isStopped { update(number) { $0.closedByRemoteAt = Date() } }
                return
            case .timedOut:
                // Keep the connection alive while idle (dofs closes silent peers after minutes).
                if handshaken, Date().timeIntervalSince(lastWrite) > 5 {
                    guard LoopbackSocket.sendAll(fd, PeerMessage.keepAlive.encoded()) else { return }
                    lastWrite = Date()
                }
                continue
            case .bytes(let bytes):
                decoder.append(bytes)
            }
            if !handshaken {
                guard let raw = decoder.take(Handshake.byteCount) else { continue }
                guard let theirs = try? Handshake(decoding: raw) else { return }
                update(number) { $0.remotePeerId = theirs.peerId }
                guard theirs.swarmHash == swarmHash else { return }   // not our swarm: no reply at all
                update(number) { $0.swarmHashMatched = true }
                var all = Bitfield(pieceCount: layout.pieceCount)
                for i in 0..<layout.pieceCount where conduct != .holdsNothing { all[i] = true }
                let opening = Handshake(swarmHash: swarmHash, peerId: peerId).encoded()
                    + PeerMessage.bitfield(all.bytes).encoded() + (conduct == .withholdsChoking ? [] : PeerMessage.unchoke.encoded())
                guard LoopbackSocket.sendAll(fd, opening) else { return }
                lastWrite = Date()
                handshaken = true
            }
            while true {
                let message: PeerMessage?
                do { message = try decoder.next() } catch { return }
                guard let message else { break }
                switch message {
                case .request(let piece, let begin, let length):
                    update(number) { $0.requests.append(Request(at: Date(), piece: Int(piece), begin: Int(begin), length: Int(length))) }
                    guard length <= 128 * 1024 else { return }
                    guard conduct == .lies else { continue }
                    let lie = PeerMessage.piece(piece: piece, begin: begin,
                                                data: [UInt8](repeating: lieByte, count: Int(length)))
                    guard LoopbackSocket.sendAll(fd, lie.encoded()) else {
                        if !isStopped { update(number) { $0.closedByRemoteAt = $0.closedByRemoteAt ?? Date() } }
                        return
                    }
                    lastWrite = Date()
                case .interested where conduct != .withholdsChoking:
                    // Already unchoked; say it again, as a server does for a late `interested`.
                    guard LoopbackSocket.sendAll(fd, PeerMessage.unchoke.encoded()) else { return }
                    lastWrite = Date()
                default:
                    break
                }
            }
        }
    }
}

extension DofsMount {
    /// `user.dofs.sources` of `path` as numbers: bytes by source kind ("cdn", "cache", "peer").
    static func sources(_ path: String) -> [String: Int]? {
        guard case .success(let text) = Xattr.get(path, "user.dofs.sources"),
              let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return nil }
        return json.compactMapValues { ($0 as? Int) ?? ($0 as? NSNumber)?.intValue }
    }
}
