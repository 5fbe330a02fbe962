import Foundation
import Synchronization

/// Bytes by where they came from (see `SourceKind`), and the share served from the local cache.
///
/// A value, added up as it is read: sessions keep their counts current as pieces arrive and reads are
/// answered, and a mount's totals are the sum over the contents it opened (a handful of numbers per
/// content, never a walk over pieces).
public struct Traffic: Codable, Sendable, Equatable {
    public var cdn = 0
    public var cache = 0
    public var peer = 0
    /// Bytes of reads answered from the piece cache without waiting for a fetch.
    public var local = 0

    public init() {}

    public subscript(kind: SourceKind) -> Int {
        get {
            switch kind {
            case .cdn: return cdn
            case .cache: return cache
            case .peer: return peer
            case .local: return local
            }
        }
        set {
            switch kind {
            case .cdn: cdn = newValue
            case .cache: cache = newValue
            case .peer: peer = newValue
            case .local: local = newValue
            }
        }
    }

    /// Bytes fetched from the network (CDN, cache hosts, peers).
    public var fetched: Int { cdn + cache + peer }

    /// `local / (local + fetched)`: the share of bytes that needed no network; `nil` before any byte.
    public var hitRate: Double? {
        let all = local + fetched
        return all == 0 ? nil : Double(local) / Double(all)
    }

    public static func + (a: Traffic, b: Traffic) -> Traffic {
        var sum = a
        for kind in SourceKind.allCases { sum[kind] += b[kind] }
        return sum
    }

    public static func - (a: Traffic, b: Traffic) -> Traffic {
        var difference = a
        for kind in SourceKind.allCases { difference[kind] -= b[kind] }
        return difference
    }
}

/// When a content was last read: one atomic store per read, read by `dofs cache ls`.
public final class LastUse: Sendable {
    private let seconds: Atomic<Int64>

    public init(_ date: Date = Date()) { seconds = Atomic(Int64(date.timeIntervalSince1970)) }

    public func touch() { seconds.store(Int64(Date().timeIntervalSince1970), ordering: .relaxed) }

    public var date: Date { Date(timeIntervalSince1970: TimeInterval(seconds.load(ordering: .relaxed))) }
}
