import Foundation

/// The policies in force, each with where its value came from: DO's administrator policies by DO's
/// names and units (`PolicyKey`), merged from layers in order of precedence — the default, the policy
/// files, the command line's flags — and, for one content, its control plane's content policy.
///
/// A value type: the node keeps the current one in a `LivePolicy` and replaces it whole when a policy
/// file changes. The typed accessors below convert DO's units to what the engine uses.
public struct AdminPolicy: Sendable, Equatable {
    /// One policy's value and its origin.
    public struct Setting: Sendable, Equatable {
        public var value: PolicyValue
        public var source: PolicySource
    }

    public private(set) var settings: [PolicyKey: Setting] = [:]

    /// Every default of `PolicyKey.defaultValue`.
    public static let defaults: AdminPolicy = {
        var p = AdminPolicy()
        for key in PolicyKey.allCases {
            if let v = key.defaultValue { p.settings[key] = Setting(value: v, source: .default) }
        }
        return p
    }()

    public init() {}

    public subscript(key: PolicyKey) -> PolicyValue? { settings[key]?.value }

    /// This policy with `layer`'s values on top, each marked as coming from `source`.
    public func merging(_ layer: PolicyLayer, from source: PolicySource) -> AdminPolicy {
        var p = self
        for (key, value) in layer.values { p.settings[key] = Setting(value: value, source: source) }
        return p
    }

    private func int(_ key: PolicyKey) -> Int { self[key]?.integer ?? key.defaultValue?.integer ?? 0 }

    // MARK: Typed views, in the engine's units

    /// `DODownloadMode`.
    public var downloadMode: Int { int(.downloadMode) }
    /// `DOGroupId`; `nil` when empty.
    public var groupId: String? { self[.groupId]?.text.flatMap { $0.isEmpty ? nil : $0 } }
    /// `DORestrictPeerSelectionBy`.
    public var restrictPeerSelectionBy: Int { int(.restrictPeerSelectionBy) }
    /// `DOMinFileSizeToCache` in bytes (DO's MB taken as MiB, as Windows counts).
    public var minFileSizeToCacheBytes: Int { int(.minFileSizeToCache) << 20 }
    /// `DOMaxCacheAge` in seconds; `nil`: no limit.
    public var maxCacheAgeSeconds: Int? { int(.maxCacheAge) > 0 ? int(.maxCacheAge) : nil }
    /// `DOMaxCacheSize`: percent of the cache's disk; `nil`: no limit.
    public var maxCacheSizePercent: Int? { int(.maxCacheSize) > 0 ? int(.maxCacheSize) : nil }
    /// `DOAbsoluteMaxCacheSize` in bytes; `nil`: no limit.
    public var absoluteMaxCacheBytes: Int? { int(.absoluteMaxCacheSize) > 0 ? int(.absoluteMaxCacheSize) << 30 : nil }
    /// `DOMinRAMAllowedToPeer` in bytes.
    public var minRAMToPeerBytes: Int { int(.minRAMAllowedToPeer) << 30 }
    /// `DOMinDiskSizeAllowedToPeer` in bytes.
    public var minDiskToPeerBytes: Int { int(.minDiskSizeAllowedToPeer) << 30 }
    /// `DOCacheHost` as a list; empty when unset.
    public var cacheHosts: [String] {
        (self[.cacheHost]?.text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
    public var delayCacheServerFallbackForegroundSeconds: Int { int(.delayCacheServerFallbackForeground) }
    public var delayCacheServerFallbackBackgroundSeconds: Int { int(.delayCacheServerFallbackBackground) }
    public var delayForegroundDownloadFromHttpSeconds: Int { int(.delayForegroundDownloadFromHttp) }
    public var delayBackgroundDownloadFromHttpSeconds: Int { int(.delayBackgroundDownloadFromHttp) }
    /// `DOMonthlyUploadDataCap` in bytes; `nil`: no cap.
    public var monthlyUploadCapBytes: Int? { int(.monthlyUploadDataCap) > 0 ? int(.monthlyUploadDataCap) << 30 : nil }

    /// The download limit in bytes/s for `priority` at local hour `hour`, given the best rate the
    /// HTTP sources have reached (`measuredBytesPerSecond`, for the percentage policies); `nil`: no limit.
    ///
    /// An absolute limit (`DOMax...DownloadBandwidth`, KB/s = 1024 bytes/s) wins over a percentage, as
    /// in DO. A percentage (`DOPercentageMax...Bandwidth`, or the hours policy's percentage for the hour)
    /// is of the measured rate, since dofs, like DO, cannot know the link's capacity otherwise.
    public func downloadLimit(_ priority: DownloadPriority, hour: Int, measuredBytesPerSecond: Double?) -> Double? {
        let fg = priority == .foreground
        let absolute = int(fg ? .maxForegroundDownloadBandwidth : .maxBackgroundDownloadBandwidth)
        if absolute > 0 { return Double(absolute) * 1024 }
        var percent = int(fg ? .percentageMaxForegroundBandwidth : .percentageMaxBackgroundBandwidth)
        if case .hours(let h)? = self[fg ? .setHoursToLimitForegroundDownloadBandwidth : .setHoursToLimitBackgroundDownloadBandwidth] {
            percent = h.percentage(atHour: hour)
        }
        guard percent > 0, percent < 100, let measured = measuredBytesPerSecond else { return nil }
        return measured * Double(percent) / 100
    }

    /// `DORestrictPeerSelectionBy` values.
    public enum RestrictPeerSelection {
        public static let none = 0
        public static let subnet = 1
    }
}

/// Where a policy value came from, as `dofs config show` prints it.
public enum PolicySource: Sendable, Equatable, CustomStringConvertible {
    case `default`
    case file(String)
    case flag
    case controlPlane

    public var description: String {
        switch self {
        case .default: "default"
        case .file(let path): "file \(path)"
        case .flag: "flag"
        case .controlPlane: "control plane"
        }
    }
}

/// The policies one source sets: a policy file's, or the command line's.
public struct PolicyLayer: Sendable, Equatable {
    public var values: [PolicyKey: PolicyValue] = [:]
    /// Names skipped as unknown (only when decoding `allowingUnknownKeys`).
    public var ignoredKeys: [String] = []

    public init(_ values: [PolicyKey: PolicyValue] = [:]) { self.values = values }

    /// Decodes a policy file: one JSON object of DO policy names. Unknown names, values of the wrong
    /// type or unit ("8MB" where KB/s is asked) and values out of range are refused, each naming the key.
    /// With `allowingUnknownKeys`, names dofs does not know are skipped (listed in `ignoredKeys`)
    /// instead of refused: for do-client's admin config, which carries do-client's own settings too.
    public init(json: [UInt8], file: String, allowingUnknownKeys: Bool = false) throws(PolicyError) {
        let object: PolicyJSON
        do {
            object = try JSONDecoder().decode(PolicyJSON.self, from: Data(json))
        } catch {
            throw .notAPolicyFile(file: file, reason: "not JSON")
        }
        guard case .object(let dictionary) = object else { throw .notAPolicyFile(file: file, reason: "not a JSON object") }
        for (name, raw) in dictionary.sorted(by: { $0.key < $1.key }) {
            guard let key = PolicyKey(rawValue: name) else {
                if allowingUnknownKeys {
                    ignoredKeys.append(name)
                    continue
                }
                throw .unknownPolicy(name, file: file)
            }
            values[key] = try Self.value(raw, for: key, file: file)
        }
    }

    /// Parses a flag's text as `key`'s value (the same rules as a file's).
    public static func parse(_ text: String, for key: PolicyKey) throws(PolicyError) -> PolicyValue {
        switch key.kind {
        case .text: return .text(text)
        case .integer: return try value(.string(text), for: key, file: key.flag)
        case .hours:
            let object = (try? JSONDecoder().decode(PolicyJSON.self, from: Data(text.utf8))) ?? .string(text)
            return try value(object, for: key, file: key.flag)
        }
    }

    static func value(_ raw: PolicyJSON, for key: PolicyKey, file: String) throws(PolicyError) -> PolicyValue {
        switch key.kind {
        case .text:
            guard case .string(let s) = raw else { throw .wrongType(key, file: file, expected: "a string", got: raw.description) }
            return .text(s)
        case .integer(let unit, let range):
            let n: Int
            switch raw {
            case .number(let d) where Int(exactly: d) != nil: n = Int(exactly: d)!
            case .string(let s) where Int(s.trimmingCharacters(in: .whitespaces)) != nil: n = Int(s.trimmingCharacters(in: .whitespaces))!
            default: throw .wrongType(key, file: file, expected: "a whole number of \(unit)", got: raw.description)
            }
            guard range.contains(n) else { throw .outOfRange(key, file: file, value: n, range: range, unit: unit) }
            if key == .downloadMode, ![0, 1, 2, 3, 99, 100].contains(n) {
                throw .wrongType(key, file: file, expected: "a DO download mode (0, 1, 2, 3, 99, 100)", got: String(n))
            }
            return .integer(n)
        case .hours:
            let fields = ["StartHour", "EndHour", "InsidePercentage", "OutsidePercentage"]
            guard case .object(let d) = raw, Set(d.keys) == Set(fields) else {
                throw .wrongType(key, file: file, expected: "an object of \(fields.joined(separator: ", "))", got: raw.description)
            }
            var n: [Int] = []
            for (field, range) in zip(fields, [0...23, 0...23, 0...100, 0...100]) {
                guard case .number(let d)? = d[field], let v = Int(exactly: d), range.contains(v) else {
                    throw .wrongType(key, file: file, expected: "\(field) as a whole number in \(range.lowerBound)...\(range.upperBound)",
                                     got: d[field]?.description ?? "nothing")
                }
                n.append(v)
            }
            return .hours(HoursLimit(startHour: n[0], endHour: n[1], insidePercentage: n[2], outsidePercentage: n[3]))
        }
    }
}

/// Any JSON value, with booleans, numbers and strings kept apart (so `true` is never read as 1).
enum PolicyJSON: Decodable, CustomStringConvertible {
    case bool(Bool), number(Double), string(String), object([String: PolicyJSON]), array([PolicyJSON]), null

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let o = try? c.decode([String: PolicyJSON].self) { self = .object(o) }
        else { self = .array(try c.decode([PolicyJSON].self)) }
    }

    var description: String {
        switch self {
        case .bool(let b): String(b)
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
        case .string(let s): "\"\(s.prefix(60))\""
        case .object: "an object"
        case .array: "an array"
        case .null: "null"
        }
    }
}

/// Why a policy file or flag was refused; every case names the policy.
public enum PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    case notAPolicyFile(file: String, reason: String)
    case unknownPolicy(String, file: String)
    case wrongType(PolicyKey, file: String, expected: String, got: String)
    case outOfRange(PolicyKey, file: String, value: Int, range: ClosedRange<Int>, unit: String)

    public var description: String {
        switch self {
        case .notAPolicyFile(let file, let reason):
            "\(file): \(reason)"
        case .unknownPolicy(let name, let file):
            "\(file): \(name) is not a DO policy dofs knows (known: \(PolicyKey.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .wrongType(let key, let file, let expected, let got):
            "\(file): \(key.rawValue) must be \(expected), got \(got)"
        case .outOfRange(let key, let file, let value, let range, let unit):
            "\(file): \(key.rawValue) \(value) is outside \(range.lowerBound)...\(range.upperBound) (\(unit))"
        }
    }
}
