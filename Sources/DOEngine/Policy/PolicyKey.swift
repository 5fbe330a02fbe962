/// The DO policies dofs reads, by DO's own names (Microsoft's DO policy reference, do-client's
/// admin-config.json), each with DO's unit and the value it takes when nobody sets it.
///
/// A default is DO's where dofs behaves the same; where dofs departs from DO the reason is beside it.
public enum PolicyKey: String, CaseIterable, Sendable, Comparable {
    case downloadMode = "DODownloadMode"
    case groupId = "DOGroupId"
    case restrictPeerSelectionBy = "DORestrictPeerSelectionBy"
    case minFileSizeToCache = "DOMinFileSizeToCache"
    case maxCacheAge = "DOMaxCacheAge"
    case maxCacheSize = "DOMaxCacheSize"
    case absoluteMaxCacheSize = "DOAbsoluteMaxCacheSize"
    case minRAMAllowedToPeer = "DOMinRAMAllowedToPeer"
    case minDiskSizeAllowedToPeer = "DOMinDiskSizeAllowedToPeer"
    case cacheHost = "DOCacheHost"
    case delayCacheServerFallbackForeground = "DODelayCacheServerFallbackForeground"
    case delayCacheServerFallbackBackground = "DODelayCacheServerFallbackBackground"
    case delayForegroundDownloadFromHttp = "DODelayForegroundDownloadFromHttp"
    case delayBackgroundDownloadFromHttp = "DODelayBackgroundDownloadFromHttp"
    case maxForegroundDownloadBandwidth = "DOMaxForegroundDownloadBandwidth"
    case maxBackgroundDownloadBandwidth = "DOMaxBackgroundDownloadBandwidth"
    case percentageMaxForegroundBandwidth = "DOPercentageMaxForegroundBandwidth"
    case percentageMaxBackgroundBandwidth = "DOPercentageMaxBackgroundBandwidth"
    case setHoursToLimitForegroundDownloadBandwidth = "DOSetHoursToLimitForegroundDownloadBandwidth"
    case setHoursToLimitBackgroundDownloadBandwidth = "DOSetHoursToLimitBackgroundDownloadBandwidth"
    case monthlyUploadDataCap = "DOMonthlyUploadDataCap"

    public static func < (a: PolicyKey, b: PolicyKey) -> Bool { a.rawValue < b.rawValue }

    /// What a value of this policy is.
    public enum Kind: Sendable, Equatable {
        /// A whole number in DO's unit, within `range`.
        case integer(unit: String, range: ClosedRange<Int>)
        /// Free text (a group ID, a comma-separated host list).
        case text
        /// DO's hours-of-day limit: `{"StartHour":h,"EndHour":h,"InsidePercentage":p,"OutsidePercentage":p}`.
        case hours
    }

    public var kind: Kind {
        switch self {
        case .downloadMode: .integer(unit: "mode (0, 1, 2, 3, 99, 100)", range: 0...100)
        case .groupId, .cacheHost: .text
        case .restrictPeerSelectionBy: .integer(unit: "0 none, 1 subnet", range: 0...2)
        case .minFileSizeToCache: .integer(unit: "MB", range: 0...1_000_000)
        case .maxCacheAge: .integer(unit: "seconds (0: no limit)", range: 0...Int(Int32.max))
        case .maxCacheSize, .percentageMaxForegroundBandwidth, .percentageMaxBackgroundBandwidth:
            .integer(unit: "percent (0: no limit)", range: 0...100)
        case .absoluteMaxCacheSize, .minRAMAllowedToPeer, .minDiskSizeAllowedToPeer, .monthlyUploadDataCap:
            .integer(unit: "GB (0: no limit)", range: 0...1_000_000)
        case .delayCacheServerFallbackForeground, .delayCacheServerFallbackBackground:
            .integer(unit: "seconds (-1: never fall back)", range: -1...86_400)
        case .delayForegroundDownloadFromHttp, .delayBackgroundDownloadFromHttp:
            .integer(unit: "seconds", range: 0...86_400)
        case .maxForegroundDownloadBandwidth, .maxBackgroundDownloadBandwidth:
            .integer(unit: "KB/s (0: no limit)", range: 0...Int(Int32.max))
        case .setHoursToLimitForegroundDownloadBandwidth, .setHoursToLimitBackgroundDownloadBandwidth: .hours
        }
    }

    /// The dofs flag of `dofs node` and `dofs mount` that sets this policy, with its dashes.
    public var flag: String { "--" + flagName }

    /// The flag's long name: DO's name in kebab case, except where dofs had a flag first.
    public var flagName: String {
        switch self {
        case .downloadMode: "download-mode"
        case .groupId: "group-id"
        case .cacheHost: "cache-host"
        case .delayCacheServerFallbackForeground: "cache-fallback-delay"
        case .delayForegroundDownloadFromHttp: "http-delay"
        default: Self.kebab(String(rawValue.dropFirst(2)))
        }
    }

    /// The policy's unit in words.
    public var unit: String {
        switch kind {
        case .integer(let u, _): u
        case .text: self == .cacheHost ? "HOST[:PORT][,HOST...]" : "text"
        case .hours: #"JSON {"StartHour":8,"EndHour":17,"InsidePercentage":20,"OutsidePercentage":90}"#
        }
    }

    /// The flag's help: the policy, its unit and its default.
    public var help: String {
        "DO's \(rawValue) (\(unit)); default: \(defaultValue?.description ?? "unset")."
    }

    /// The default in force when no file, flag or control plane sets the policy.
    public var defaultValue: PolicyValue? {
        switch self {
        // DO's default: peers behind the same NAT.
        case .downloadMode: .integer(1)
        case .groupId, .cacheHost, .setHoursToLimitForegroundDownloadBandwidth,
             .setHoursToLimitBackgroundDownloadBandwidth: nil
        case .restrictPeerSelectionBy: .integer(0)
        // DO's is 50 MB; dofs keeps 10 MB, DO's own simple-mode threshold, because a swarm of
        // machines that share one origin link gains from peering well below 50 MB.
        case .minFileSizeToCache: .integer(10)
        // DO's: three days.
        case .maxCacheAge: .integer(259_200)
        // DO's is 20 % of the disk; dofs sets no cap unless asked: its cache lives in a folder an
        // administrator chose, often on a disk of its own.
        case .maxCacheSize, .absoluteMaxCacheSize: .integer(0)
        // DO's: 4 GB of RAM and a 32 GB disk before a machine peers.
        case .minRAMAllowedToPeer: .integer(4)
        case .minDiskSizeAllowedToPeer: .integer(32)
        // DO's without the policy: the CDN at the first cache-host failure.
        case .delayCacheServerFallbackForeground, .delayCacheServerFallbackBackground: .integer(0)
        // dofs's: long enough for a LAN peer to fetch a 1 MiB piece from a slow CDN, short enough that
        // a dead owner costs little (DO's default is 0; dofs's piece ownership needs a wait).
        case .delayForegroundDownloadFromHttp, .delayBackgroundDownloadFromHttp: .integer(5)
        // DO's: no bandwidth limit.
        case .maxForegroundDownloadBandwidth, .maxBackgroundDownloadBandwidth,
             .percentageMaxForegroundBandwidth, .percentageMaxBackgroundBandwidth: .integer(0)
        // DO's: 20 GB a month to Internet peers.
        case .monthlyUploadDataCap: .integer(20)
        }
    }

    private static func kebab(_ name: String) -> String {
        var out = ""
        let chars = Array(name)
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0, chars[i - 1].isLowercase || (i + 1 < chars.count && chars[i + 1].isLowercase) { out += "-" }
            out += c.lowercased()
        }
        return out
    }
}

/// One policy value.
public enum PolicyValue: Sendable, Equatable, CustomStringConvertible {
    case integer(Int)
    case text(String)
    case hours(HoursLimit)

    public var integer: Int? { if case .integer(let n) = self { n } else { nil } }
    public var text: String? { if case .text(let t) = self { t } else { nil } }

    public var description: String {
        switch self {
        case .integer(let n): String(n)
        case .text(let t): "\"\(t)\""
        case .hours(let h): "hours \(h.startHour)-\(h.endHour): \(h.insidePercentage) % inside, \(h.outsidePercentage) % outside"
        }
    }
}

/// DO's `DOSetHoursTo...DownloadBandwidth`: a percentage of the bandwidth limit inside business hours
/// (local time, start inclusive, end exclusive; start > end wraps past midnight) and another outside.
public struct HoursLimit: Sendable, Equatable {
    public var startHour: Int
    public var endHour: Int
    public var insidePercentage: Int
    public var outsidePercentage: Int

    public init(startHour: Int, endHour: Int, insidePercentage: Int, outsidePercentage: Int) {
        self.startHour = startHour
        self.endHour = endHour
        self.insidePercentage = insidePercentage
        self.outsidePercentage = outsidePercentage
    }

    /// The percentage in force at `hour` (0–23).
    public func percentage(atHour hour: Int) -> Int {
        let inside = startHour <= endHour ? (startHour..<endHour).contains(hour) : hour >= startHour || hour < endHour
        return inside ? insidePercentage : outsidePercentage
    }
}
