import DOSwarm

/// How a mount takes part in swarms. Absent (nil) in download mode 0 (HTTP only) and 99 (simple).
public struct PeeringConfiguration: Sendable {
    /// DO's download mode: 1 LAN, 2 Group, 3 Internet. Sent as the join's Scope.
    public var downloadMode: Int
    public var groupId: String?
    public var peerId: PeerId
    /// Where other peers reach this mount's peer server (the join's ReportedIp and Port).
    public var reportedIp: String
    /// The mask of the network `reportedIp` is on (the join's SubnetMask; `DORestrictPeerSelectionBy` 1
    /// keeps only peers inside it). 255.255.255.0 when the interface cannot be found: a home LAN's.
    public var subnetMask = "255.255.255.0"
    /// 0 when this mount uploads nothing: the join says `RestrictedUpload` 1 instead of a port.
    public var port: Int
    /// Contents smaller than this never join a swarm: DO drops to simple mode under 10 MB, where the
    /// overhead of peering outweighs the gain. A control plane's MinFileSizeForPeering overrides it.
    public var minContentBytes = 10 << 20
    /// The longest a reader waits for the peer that owns a piece (see `SessionSwarm`) to announce it
    /// before fetching it from the CDN itself (DO's DelayForegroundDownloadFromHttp). The wait itself is
    /// the CDN's current budget (see `ContentSourceSet`), so that it follows the link; this bounds it.
    public var httpDelaySeconds = 5.0
    /// How long a shared content waits for the answer to its swarm's first join before it fetches
    /// pieces from HTTP sources (the answer is an event: pieces go the moment it arrives). Until then
    /// the member knows no other member, so it would own every piece and fetch the whole content
    /// from the origin: 100 peers started together behind one control plane on 2 busy cores waited
    /// 4-11 s for their first answer (fleet-bench), and those that went to the CDN meanwhile sent
    /// the origin half its bytes. A control plane that is down fails the join at once (connection
    /// refused) and costs nothing; only one that accepts and does not answer costs this, once per
    /// content, well inside a read's 60 s deadline. After it, HTTP fetches go one at a time until
    /// the answer comes (see `ContentSourceSet`). 0: do not wait.
    public var firstJoinWaitSeconds = 15.0
    /// How long the first member of a swarm (its join listed nobody) waits before its first CDN fetch,
    /// so that members starting at the same moment can join it and share the CDN work from the first
    /// piece. Paid once per content, only by a mount that found no peer.
    public var soloJoinGraceSeconds = 0.15
    /// How long a member that joined a swarm already holding pieces (a listed peer's bitfield announced
    /// some) waits for the bitfields of the listed peers it connects to before it decides what it owns
    /// (see `SessionSwarm.secondsUntilReady`). Meanwhile it takes pieces from peers that announced
    /// them; only a piece nobody announced waits. Without it, each of 100 peers starting over ~16 s on
    /// two busy cores decided after half a second, before its connections' bitfields were in, and
    /// fetched from the origin the pieces it ranked first for that earlier members had fetched
    /// already (fleet-bench: "we own it" was 103 of 255 CDN pieces). 5 s is the swarm's connect
    /// timeout: a listed peer that is gone holds decisions no longer than the attempt to reach it
    /// (and no longer than half a second while no listed peer said it holds a piece).
    public var runningSwarmViewWaitSeconds = 5.0
    /// Serving ahead (see `ServeAhead`): how far around the swarm's frontier a member fetches the pieces
    /// it owns. 16 is the engine's largest readahead (`maxReadaheadPieces`) and `dofs get`'s parallel
    /// pieces: how far past its last announced piece a sequential reader asks. 0 turns it off.
    public var serveAheadWindowPieces = 16
    /// How far below the frontier serving ahead reaches back for pieces that a downloading peer still
    /// lacks and nobody has (see `ServeAhead`): pieces the frontier leapt past while their owner was busy.
    /// 64 pieces is four windows: the spread between the first and the last of eight readers on two
    /// busy cores (swarm-bench, N = 8), while a reader that stopped far behind (or reads at random) does
    /// not make every owner fetch its whole share of the content.
    public var serveAheadLookBehindPieces = 64
    /// Pieces a member fetches ahead for the swarm at once. Two per member keeps the origin link busy
    /// (one 1 MiB piece is 42 ms at 200 Mbit/s; every member serves its share at the same time) while
    /// eight members together queue 16 pieces on it, not 64, so each piece still comes within a budget.
    public var serveAheadParallelPieces = 2
    /// Pieces of a shared content a member fetches from HTTP sources at once (see `ContentSourceSet`).
    /// Four 1 MiB requests keep a 200 Mbit/s link busy (42 ms a piece; 4 MiB per round trip is
    /// 320 Mbit/s even at 100 ms), while the member that joined first, owning every piece until the
    /// others are listed, does not queue its whole readahead on the origin; in a swarm of eight, 32
    /// requests at most share the origin link, so a piece still comes within a budget. Until the first
    /// join is answered the cap is 1 whatever this says (nobody knows who owns what yet). 0: no cap.
    public var maxHTTPFetchesInSwarm = 4
    /// Backups of a piece's owner that go to HTTP sources on the clock (the k-th after k owner waits);
    /// members ranked below them take the piece from peers while the swarm moves (see
    /// `PieceOwnership.lateBackupHold`). One: the origin sends a piece at most twice when its owner
    /// is late, and one of the two is honest unless two of the top three members are bad (a
    /// withholder is distrusted at its first timeout and an empty owner is passed over at its first
    /// miss, so the next member becomes a timed one).
    public var timedBackups = 1
    /// Owners (and their backups) are drawn from the swarm's this-many eldest members, by the first-join
    /// times the control plane gives (`PieceOwnership.eldest`); 0, or a service that gives no times,
    /// draws them from every member. Members that joined later own nothing: they take every piece from
    /// peers while the swarm moves, as late backups do. In a swarm that grows, each newcomer ranked
    /// itself first for pieces on the view it had then, and earlier members it was not connected to had
    /// fetched them already: 100 peers on two cores fetched 14 of 29 extra origin copies that way, all
    /// after the first 7 s (fleet-bench). The eldest are the same for every member once listed, and the
    /// first-join times are the service's, so views that differ in who else is listed still agree on them.
    /// 16: swarms of up to 16 members (every fleet of mounts in the swarm tests) are unchanged, and in
    /// the 100-peer benchmark each of the 16 owns two of the 32 pieces.
    public var ownersAmongEldest = 16
    /// How long the connected peers may announce nothing before members below the timed backups stop
    /// waiting for the swarm and open HTTP sources: DO's DelayForegroundDownloadFromHttp (5 s), the
    /// longest a reader waits for peers before the CDN when nothing comes.
    public var swarmStallSeconds = 5.0
    /// The longest such a member keeps off HTTP sources for one piece while the swarm moves: half a
    /// piece's give-up time (60 s), so that a piece nobody brings still has the CDN's time left.
    public var lateBackupMaxHoldSeconds = 30.0
    /// A piece from a peer taking longer than this is abandoned for the next source.
    public var peerPieceTimeoutSeconds = 10.0
    /// Peers a member connects to (downloads from) per content. A member that owns a piece fetches it
    /// from the CDN unless one of its connections announced it, so the fewer peers it sees, the more
    /// pieces that others hold come from the origin a second time. Measured with 100 `dofs get` peers on
    /// two cores (fleet-bench, 2026-12-03): 16 connections, the origin sent 2.0-2.9 copies; 24,
    /// 1.2-1.9 at the same CPU per peer and finishing times; 32, 1.4-2.1 with a quarter more CPU per
    /// peer and later finishes. A peer server accepts 64 (`PeerServerConfiguration.maxConnections`).
    public var maxPeers = 24
    /// Peers a join asks the control plane to list (the join's PeersWanted): 255, as DO's clients ask.
    /// Every member ranks pieces over the members it was listed (`SessionSwarm`), so a listing cut at 50
    /// in a swarm of 100 gave each member a different half: a 100-peer run had pieces owned by up to 7
    /// members at once, views of 22-50, each fetching them from the origin. Connections stay at `maxPeers`.
    public var peersWanted = 255
    /// Upper bound on the interval between two joins, whatever the control plane says.
    public var maxReannounceSeconds = 300
    /// Joins sooner than the service asks while the swarm grows around a young session (see
    /// `RejoinSchedule`): views that lag the swarm own pieces twice.
    var rejoin = RejoinSchedule()
    /// The local address our peer connections leave from (`SwarmConfiguration.localAddress`).
    public var localAddress: String?
    /// Called once a piece of a shared content is verified and stored, so the peer server can announce
    /// it to the peers waiting for it right away.
    public var onVerifiedPiece: (@Sendable (_ swarmHash: [UInt8], _ piece: Int) -> Void)?
    /// Called when a fetch of a piece of a shared content from an HTTP source starts, so the peer server
    /// can claim it to the peers connected (`PeerMessage.fetching`) and they wait for it instead of
    /// fetching it too.
    public var onFetchingFromHTTP: (@Sendable (_ swarmHash: [UInt8], _ piece: Int) -> Void)?
    /// Bytes of a content this node has served to peers, for the join's `Uploaded`.
    public var uploadedBytes: (@Sendable (_ swarmHash: [UInt8]) -> Int)?
    /// The administrator's policy in force (re-read while running); `nil`: DO's defaults, fixed.
    public var policy: LivePolicy?

    public init(downloadMode: Int, groupId: String?, peerId: PeerId, reportedIp: String, port: Int) {
        self.downloadMode = downloadMode
        self.groupId = groupId
        self.peerId = peerId
        self.reportedIp = reportedIp
        self.port = port
    }
}
