import DOCore

/// Everything a control plane needs to start; each default says why it is what it is.
public struct ControlPlaneConfiguration: Sendable {
    /// Address to listen on. `0.0.0.0` / `::` listen everywhere.
    public var host: String
    /// TCP port; `0` picks a free one (see `RunningControlPlane.port`).
    public var port: Int
    /// Folder of the registry database (created if missing); unused when `database` is set.
    public var dataDirectory: String
    /// A PostgreSQL database (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=disable|prefer|require]`)
    /// holding the registry and swarm membership, shared by every instance of a fleet. `nil`: the
    /// registry is a SQLite file in `dataDirectory` and membership lives in this process's memory.
    public var database: String?
    /// Connections to `database` each instance keeps at most. Joins use at most two at a time
    /// (`PostgresMembership` group-commits them), a policy lookup one for well under a millisecond:
    /// 16 leaves room for publishes and housekeeping without queueing hundreds of backends (each
    /// is a process of its own).
    public var databaseConnections = 16
    /// The scheme, host, port and optional path prefix clients reach this server at, e.g.
    /// `https://cp.example.net` behind a TLS-terminating nginx. Every URL the server hands out (geo,
    /// key-value, discovery, PHF) starts with it. `nil`: `http://<listen address>:<port>`, or, when
    /// listening on every address, `http://<Host header of the request>`.
    public var publicURL: String?
    /// Sent as `CacheHost` in `/geo` (a Connected Cache style cache server, e.g. an nginx cache node).
    public var cacheHost: String?
    /// Sent as `CountryCode` in `/geo`. dofs does not geolocate; "ZZ" is ISO 3166's "unknown".
    public var countryCode = "ZZ"
    /// Default policy values in the key-value answer and every content policy.
    public var policies = ContentPolicy.Policies.dofsDefaults
    /// `ReannounceSecs` of join answers. DO's interval is not public; 5 minutes keeps swarms fresh for
    /// mounts that come and go, at one small request per content per peer per 5 minutes.
    public var reannounceSeconds = 300
    /// A member not heard from for this long is dropped: two missed re-announces plus a minute of slack.
    public var memberLifetimeSeconds: Int { 2 * reannounceSeconds + 60 }
    /// Upper bound on `PeersWanted`: DO's clients ask for 255, more would only grow the answer.
    public var maxPeersPerJoin = 255
    /// `PeersWanted` when a join does not say.
    public var defaultPeersWanted = 50
    /// Largest request body in general: DO's join bodies are under 1 KiB.
    public var maxBodyBytes = 1 << 20
    /// Largest `POST /publish` body: a PHF is ~47 bytes a piece, so 32 MiB holds ~700,000 pieces
    /// (about 680 GiB of content at 1 MiB pieces).
    public var maxPublishBodyBytes = 32 << 20
    /// Most registrations in one `POST /publish/batch` (whose body is bounded by `maxPublishBodyBytes`
    /// too): each costs a signature check and a few row writes, so 1,000 keep one batch's transaction
    /// well under a second, while a tree of 2,000 small files still registers in two requests.
    public var maxPublishBatchCount = 1000
    /// Proxies (IP addresses) whose `X-Real-IP` / `X-Forwarded-For` name the client, and through which a
    /// join's `ReportedIp` is believed. Empty: every request is taken to come from its connection's
    /// address, so no client can claim another's address (or put a third party in a swarm).
    public var trustedProxies: Set<String> = []
    /// Keys allowed to register content over HTTP (`--publisher-key`). Empty: `POST /publish` refuses
    /// every registration, and only `dofs publish --local` (the registry file's owner) can publish.
    public var publisherKeys = PublisherKeyring([])
    /// Per-address limits of the swarm service; see `MembershipLimits`.
    public var membershipLimits = MembershipLimits()

    // Resource bounds: what one client, or many, can make the server hold (see `ConnectionGuard`).

    /// A connection must deliver a complete request head this long after it opens, or after its first
    /// byte when it was idle. A DO client sends its head (under 1 KiB) in one segment, so 10 s covers
    /// dozens of round trips on a bad link; a client trickling a head (slowloris) is cut off after it.
    public var headerReadTimeout: Duration = .seconds(10)
    /// A connection with nothing in flight is closed after this long without a byte, and so is one
    /// whose request body stalls this long. A client walks the chain in a burst of requests a few
    /// milliseconds apart, then comes back 5 minutes later (`reannounceSeconds`): keeping a connection
    /// across that gap saves one handshake and costs a descriptor for minutes, so 30 s.
    public var idleTimeout: Duration = .seconds(30)
    /// Open connections at most. At the cap the server stops accepting (new connections wait in the
    /// kernel's listen queue, costing no descriptor, and are served as soon as one closes) rather than
    /// accepting and closing at once, which would spend a descriptor and a syscall per refused client
    /// and give it nothing but a reset. 10,000 idle connections raised a `dofs control-plane`'s RSS
    /// (debug build) from 46 MB to 189 MB here (about 14 KiB each): affordable, and below the 20,000
    /// that exhausted descriptors in issue 8. The cap is lowered at start to fit the process's
    /// descriptor limit, with `descriptorsReserved` kept free (with `ulimit -n 1024`: 768).
    public var maxConnections = 10_000
    /// Descriptors left free below `RLIMIT_NOFILE` when the cap is fitted to it: for the registry
    /// database and its WAL, logs, and the rest of a `dofs node` that embeds the control plane.
    public var descriptorsReserved = 256
    /// `POST /publish` bodies read at once; more are answered 503 with `Retry-After` without being read.
    /// Each may be `maxPublishBodyBytes` and is held several times over while it is decoded (buffer,
    /// copy, JSON tree): 50 concurrent 30 MiB bodies raised peak RSS by about 160 MiB with 4, and by
    /// 1 GB when all were read. Publishing is rare (one request per new content) and registrations are
    /// committed one at a time anyway.
    public var maxConcurrentPublishBodies = 4
    /// `Retry-After` of that 503: one second lets a publisher retry soon without hammering.
    public var publishRetryAfterSeconds = 1
    /// Largest request head (URL and header fields together), and largest single URL or field. DO's
    /// heads are under 1 KiB, with an `altCatalogId` URL in the query; 32 KiB is four times nginx's
    /// default header buffer. Beyond it: 400, and the connection ends (Hummingbird's default: 80 KiB).
    public var maxHeaderBytes = 32 << 10
    /// After an error answer the server stops reading, sends FIN, and closes this long after. Closing
    /// at once with unread input makes the kernel send a reset, which can reach the client before it
    /// has read the answer (a 413 during an upload). 2 s is several round trips on a slow link; the
    /// connection counts against `maxConnections` meanwhile and no byte more is read.
    public var errorAnswerLinger: Duration = .seconds(2)

    /// The defaults, for a command line to show and start from.
    public static var defaults: ControlPlaneConfiguration { .init(dataDirectory: "") }

    public init(host: String = "127.0.0.1", port: Int = 0, dataDirectory: String, publicURL: String? = nil,
                cacheHost: String? = nil) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.publicURL = publicURL
        self.cacheHost = cacheHost
    }
}
