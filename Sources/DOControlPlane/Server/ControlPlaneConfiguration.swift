import DOCore

/// Everything a control plane needs to start; each default says why it is what it is.
public struct ControlPlaneConfiguration: Sendable {
    /// Address to listen on. `0.0.0.0` / `::` listen everywhere.
    public var host: String
    /// TCP port; `0` picks a free one (see `RunningControlPlane.port`).
    public var port: Int
    /// Folder of the registry database (created if missing).
    public var dataDirectory: String
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
    /// Proxies (IP addresses) whose `X-Real-IP` / `X-Forwarded-For` name the client, and through which a
    /// join's `ReportedIp` is believed. Empty: every request is taken to come from its connection's
    /// address, so no client can claim another's address (or put a third party in a swarm).
    public var trustedProxies: Set<String> = []
    /// Keys allowed to register content over HTTP (`--publisher-key`). Empty: `POST /publish` refuses
    /// every registration, and only `dofs publish --local` (the registry file's owner) can publish.
    public var publisherKeys = PublisherKeyring([])
    /// Per-address limits of the swarm service; see `MembershipLimits`.
    public var membershipLimits = MembershipLimits()

    public init(host: String = "127.0.0.1", port: Int = 0, dataDirectory: String, publicURL: String? = nil,
                cacheHost: String? = nil) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.publicURL = publicURL
        self.cacheHost = cacheHost
    }
}
