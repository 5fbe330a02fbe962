import ArgumentParser
import DOEngine

/// One flag per DO policy, named after it (`PolicyKey.flagName`), in DO's unit; the help of each says
/// its default, read from `PolicyKey`. A flag wins over every policy file.
struct PolicyOptions: ParsableArguments {
    @Option(name: .customLong(PolicyKey.downloadMode.flagName), help: ArgumentHelp(PolicyKey.downloadMode.help + " 0 HTTP only, 1 LAN, 2 Group, 3 Internet, 99 Simple (no control plane)."))
    var downloadMode: String?
    @Option(name: .customLong(PolicyKey.groupId.flagName), help: ArgumentHelp(PolicyKey.groupId.help))
    var groupId: String?
    @Option(name: .customLong(PolicyKey.restrictPeerSelectionBy.flagName), help: ArgumentHelp(PolicyKey.restrictPeerSelectionBy.help))
    var restrictPeerSelectionBy: String?
    @Option(name: .customLong(PolicyKey.minFileSizeToCache.flagName), help: ArgumentHelp(PolicyKey.minFileSizeToCache.help + " Smaller contents never join a swarm."))
    var minFileSizeToCache: String?
    @Option(name: .customLong("min-peering-size"),
            help: ArgumentHelp("Bytes; the earlier spelling of --\(PolicyKey.minFileSizeToCache.flagName), rounded up to whole MB.", visibility: .hidden))
    var minPeeringSize: Int?
    @Option(name: .customLong(PolicyKey.maxCacheAge.flagName), help: ArgumentHelp(PolicyKey.maxCacheAge.help))
    var maxCacheAge: String?
    @Option(name: .customLong(PolicyKey.maxCacheSize.flagName), help: ArgumentHelp(PolicyKey.maxCacheSize.help))
    var maxCacheSize: String?
    @Option(name: .customLong(PolicyKey.absoluteMaxCacheSize.flagName), help: ArgumentHelp(PolicyKey.absoluteMaxCacheSize.help))
    var absoluteMaxCacheSize: String?
    @Option(name: .customLong(PolicyKey.minRAMAllowedToPeer.flagName), help: ArgumentHelp(PolicyKey.minRAMAllowedToPeer.help))
    var minRAMAllowedToPeer: String?
    @Option(name: .customLong(PolicyKey.minDiskSizeAllowedToPeer.flagName), help: ArgumentHelp(PolicyKey.minDiskSizeAllowedToPeer.help))
    var minDiskSizeAllowedToPeer: String?
    @Option(name: .customLong(PolicyKey.cacheHost.flagName), help: ArgumentHelp(PolicyKey.cacheHost.help + " Tried in order before the CDN."))
    var cacheHost: String?
    @Option(name: .customLong(PolicyKey.delayCacheServerFallbackForeground.flagName), help: ArgumentHelp(PolicyKey.delayCacheServerFallbackForeground.help))
    var delayCacheServerFallbackForeground: String?
    @Option(name: .customLong(PolicyKey.delayCacheServerFallbackBackground.flagName), help: ArgumentHelp(PolicyKey.delayCacheServerFallbackBackground.help))
    var delayCacheServerFallbackBackground: String?
    @Option(name: .customLong(PolicyKey.delayForegroundDownloadFromHttp.flagName), help: ArgumentHelp(PolicyKey.delayForegroundDownloadFromHttp.help + " How long a reader waits for the peer owning a piece before the CDN."))
    var delayForegroundDownloadFromHttp: String?
    @Option(name: .customLong(PolicyKey.delayBackgroundDownloadFromHttp.flagName), help: ArgumentHelp(PolicyKey.delayBackgroundDownloadFromHttp.help))
    var delayBackgroundDownloadFromHttp: String?
    @Option(name: .customLong(PolicyKey.maxForegroundDownloadBandwidth.flagName), help: ArgumentHelp(PolicyKey.maxForegroundDownloadBandwidth.help))
    var maxForegroundDownloadBandwidth: String?
    @Option(name: .customLong(PolicyKey.maxBackgroundDownloadBandwidth.flagName), help: ArgumentHelp(PolicyKey.maxBackgroundDownloadBandwidth.help))
    var maxBackgroundDownloadBandwidth: String?
    @Option(name: .customLong(PolicyKey.percentageMaxForegroundBandwidth.flagName), help: ArgumentHelp(PolicyKey.percentageMaxForegroundBandwidth.help))
    var percentageMaxForegroundBandwidth: String?
    @Option(name: .customLong(PolicyKey.percentageMaxBackgroundBandwidth.flagName), help: ArgumentHelp(PolicyKey.percentageMaxBackgroundBandwidth.help))
    var percentageMaxBackgroundBandwidth: String?
    @Option(name: .customLong(PolicyKey.setHoursToLimitForegroundDownloadBandwidth.flagName), help: ArgumentHelp(PolicyKey.setHoursToLimitForegroundDownloadBandwidth.help))
    var setHoursToLimitForegroundDownloadBandwidth: String?
    @Option(name: .customLong(PolicyKey.setHoursToLimitBackgroundDownloadBandwidth.flagName), help: ArgumentHelp(PolicyKey.setHoursToLimitBackgroundDownloadBandwidth.help))
    var setHoursToLimitBackgroundDownloadBandwidth: String?
    @Option(name: .customLong(PolicyKey.monthlyUploadDataCap.flagName), help: ArgumentHelp(PolicyKey.monthlyUploadDataCap.help + " Counts uploads to peers at public addresses."))
    var monthlyUploadDataCap: String?

    /// The flags given, each checked as a policy file's value would be (the error names the flag).
    func layer() throws -> PolicyLayer {
        let given: [(PolicyKey, String?)] = [
            (.downloadMode, downloadMode), (.groupId, groupId), (.restrictPeerSelectionBy, restrictPeerSelectionBy),
            (.minFileSizeToCache, minFileSizeToCache), (.maxCacheAge, maxCacheAge), (.maxCacheSize, maxCacheSize),
            (.absoluteMaxCacheSize, absoluteMaxCacheSize), (.minRAMAllowedToPeer, minRAMAllowedToPeer),
            (.minDiskSizeAllowedToPeer, minDiskSizeAllowedToPeer), (.cacheHost, cacheHost),
            (.delayCacheServerFallbackForeground, delayCacheServerFallbackForeground),
            (.delayCacheServerFallbackBackground, delayCacheServerFallbackBackground),
            (.delayForegroundDownloadFromHttp, delayForegroundDownloadFromHttp),
            (.delayBackgroundDownloadFromHttp, delayBackgroundDownloadFromHttp),
            (.maxForegroundDownloadBandwidth, maxForegroundDownloadBandwidth),
            (.maxBackgroundDownloadBandwidth, maxBackgroundDownloadBandwidth),
            (.percentageMaxForegroundBandwidth, percentageMaxForegroundBandwidth),
            (.percentageMaxBackgroundBandwidth, percentageMaxBackgroundBandwidth),
            (.setHoursToLimitForegroundDownloadBandwidth, setHoursToLimitForegroundDownloadBandwidth),
            (.setHoursToLimitBackgroundDownloadBandwidth, setHoursToLimitBackgroundDownloadBandwidth),
            (.monthlyUploadDataCap, monthlyUploadDataCap),
        ]
        var layer = PolicyLayer()
        if let bytes = minPeeringSize {
            guard minFileSizeToCache == nil else {
                throw ValidationError("--min-peering-size and --\(PolicyKey.minFileSizeToCache.flagName) set the same policy; give one")
            }
            guard bytes >= 0 else { throw ValidationError("--min-peering-size must not be negative") }
            layer.values[.minFileSizeToCache] = .integer((bytes + (1 << 20) - 1) >> 20)
        }
        for case let (key, text?) in given {
            do {
                layer.values[key] = try PolicyLayer.parse(text, for: key)
            } catch {
                throw ValidationError("\(error)")
            }
        }
        return layer
    }
}
