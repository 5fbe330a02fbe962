import DOCore

/// How a `ControlPlaneClient` talks to its control plane; each default says why.
public struct ControlPlaneClientConfiguration: Sendable {
    /// The one URL the client is given: the geo call. Everything else comes from the answers.
    public var geoURL: String
    /// Folder for the last-known-good key-value answer (`keyValueLKG.json`, DO's `keyValueLKG.dat`);
    /// `nil` keeps it in memory only, so a restart during an outage has nothing to fall back on.
    public var stateDirectory: String?
    /// The DO client dialect dofs speaks: the join's `ClientDialectVersionMajor/Minor/Build/Revision`.
    /// 10.1.0.12 is what the Windows client in do-protocol.md 2.6 sends, and its geo call's version.
    public var dialectVersion = ClientDialectVersion.current
    /// Sent as `doClientVersion=` on every call: the dialect version, so the two never disagree.
    public var doClientVersion: String { dialectVersion.dotted }
    /// Sent as `profile=`; 768 is a Windows PC, the only value known (do-protocol.md 2.1).
    public var profile = "768"
    /// Sent as `groupID=` to geo when set.
    public var groupId: String?
    /// How long a key-value answer is used before it is fetched again: DO refreshes hourly.
    public var keyValueLifetimeSeconds: Double = 3600
    /// After a failed refresh, the stale answer is used this long before the next attempt, so an
    /// outage costs one failed request per interval, not one per lookup.
    public var retryAfterFailureSeconds: Double = 30
    /// A last-known-good answer older than this is not used: a week-old service map is more likely
    /// wrong than an outage is long.
    public var lastKnownGoodMaxAgeSeconds: Double = 7 * 24 * 3600
    /// Largest answer accepted from any call: real answers are a few KiB.
    public var maxAnswerBytes = 1 << 20
    /// A control plane already reading its maximum of publish bodies answers 503 with `Retry-After`;
    /// `publish` waits and retries for up to this long in total. Publishing is a batch job: a minute
    /// in a queue is better than a failed `dofs publish`.
    public var publishBusyWaitSeconds: Double = 60
    /// Registrations per `POST /publish/batch`: half the control plane's default bound
    /// (`ControlPlaneConfiguration.maxPublishBatchCount`), so one configured lower still accepts them.
    public var publishBatchCount = 500
    /// Body bytes per batch: a quarter of the control plane's default body bound (32 MiB), with room
    /// for a large PHF that goes alone.
    public var publishBatchBytes = 8 << 20

    public init(geoURL: String, stateDirectory: String? = nil) {
        self.geoURL = geoURL
        self.stateDirectory = stateDirectory
    }

    /// The geo URL of a control plane given by its base URL (`http://host:port` -> `.../geo`); a URL
    /// already ending in `/geo` is kept as it is.
    public static func geoURL(forControlPlane url: String) -> String {
        let trimmed = HTTPURL.trimmingTrailingSlashes(url)
        let path = trimmed.split(separator: "?", maxSplits: 1).first.map(String.init) ?? trimmed
        return path.hasSuffix("/geo") ? trimmed : trimmed + "/geo"
    }
}

/// A DO client dialect version, `major.minor.build.revision`.
public struct ClientDialectVersion: Sendable, Equatable {
    public var major: Int, minor: Int, build: Int, revision: Int

    /// The Windows client's of do-protocol.md 2.1 and 2.6 (`doClientVersion=10.1.0.12`).
    public static let current = ClientDialectVersion(major: 10, minor: 1, build: 0, revision: 12)

    public var dotted: String { "\(major).\(minor).\(build).\(revision)" }
}
