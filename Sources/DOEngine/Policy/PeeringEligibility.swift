import Foundation

/// DO's machine-level conditions for peering: `DOMinRAMAllowedToPeer` (physical memory) and
/// `DOMinDiskSizeAllowedToPeer` (the size of the disk the cache is on). Below either, a machine still
/// downloads, verified, from cache hosts and the CDN, but takes no part in swarms.
enum PeeringEligibility {
    /// Why this machine may not peer under `policy`; `nil` when it may.
    static func refusal(_ policy: AdminPolicy, cacheFolder: String,
                        memoryBytes: Int = Int(clamping: ProcessInfo.processInfo.physicalMemory),
                        diskBytes: Int? = nil) -> String? {
        if memoryBytes < policy.minRAMToPeerBytes {
            return "this machine has \(memoryBytes >> 20) MiB of RAM, under DOMinRAMAllowedToPeer (\(policy.minRAMToPeerBytes >> 30) GB)"
        }
        let disk = diskBytes ?? Self.diskSize(of: cacheFolder)
        if let disk, disk < policy.minDiskToPeerBytes {
            return "the cache's disk holds \(disk >> 20) MiB, under DOMinDiskSizeAllowedToPeer (\(policy.minDiskToPeerBytes >> 30) GB)"
        }
        return nil
    }

    /// The total size of the file system holding `path`.
    static func diskSize(of path: String) -> Int? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return Int(st.f_blocks) * Int(st.f_frsize)
    }
}
