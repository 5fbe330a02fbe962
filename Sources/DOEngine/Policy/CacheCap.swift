import Foundation

/// DO's cache size policies as one cap in bytes: `DOMaxCacheSize` (percent of the disk holding the
/// cache) and `DOAbsoluteMaxCacheSize` (GB); the smaller wins when both are set, as in DO.
public enum CacheCap {
    /// The cap `policy` sets for a cache in `cacheFolder`; `nil`: no cap.
    public static func bytes(_ policy: AdminPolicy, cacheFolder: String, diskBytes: Int? = nil) -> Int? {
        var caps: [Int] = []
        if let absolute = policy.absoluteMaxCacheBytes { caps.append(absolute) }
        if let percent = policy.maxCacheSizePercent, let disk = diskBytes ?? PeeringEligibility.diskSize(of: cacheFolder) {
            caps.append(disk / 100 * percent)
        }
        return caps.min()
    }
}
