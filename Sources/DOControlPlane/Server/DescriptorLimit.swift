#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-descriptor limit (`RLIMIT_NOFILE`), which every accepted connection spends one of.
public enum DescriptorLimit {
    /// The soft limit; nil when unlimited or unreadable.
    public static var current: Int? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < rlim_t(Int.max) else { return nil }
        return Int(limit.rlim_cur)
    }

    /// Raises the soft limit to the hard one, as a server does at start (systemd starts services
    /// with a soft limit of 1024 and a far higher hard limit). Returns the soft limit in force after.
    @discardableResult
    public static func raiseToHardLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return nil }
        if limit.rlim_cur != limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            _ = setrlimit(resource, &raised)
        }
        return current
    }

    /// `configured`, lowered so that `reserved` descriptors stay free under the current limit (at least
    /// 1). A server accepting up to a cap it cannot reach would hit EMFILE instead, with no answer and
    /// no descriptor left for its database.
    static func connectionCap(configured: Int, reserved: Int) -> Int {
        guard let limit = current else { return max(1, configured) }
        return max(1, min(configured, limit - reserved))
    }

    #if canImport(Glibc)
    private static var resource: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
    #else
    private static var resource: Int32 { RLIMIT_NOFILE }
    #endif
}
