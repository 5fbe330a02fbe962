import Metrics

/// The FUSE adapter's metrics, through swift-metrics (the process picks the backend; `dofs node
/// --metrics-listen` bootstraps Prometheus). Handles are made on first use, after that bootstrap.
public enum FuseMetrics {
    /// `dofs_read_seconds`: each FUSE read from the request to its reply, served or failed.
    static let readSeconds = Timer(label: "dofs_read_seconds")

    /// Buckets for `dofs_read_seconds`, for a backend that asks (Prometheus): from a read answered from
    /// the page-cache-warm piece cache (well under 1 ms) to one that waits out a read deadline (60 s).
    public static let readBuckets: [Duration] = [
        .microseconds(250), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
        .milliseconds(250), .seconds(1), .milliseconds(2500), .seconds(10), .seconds(30), .seconds(60),
    ]

    /// The requests counted in `dofs_fuse_requests_total{op=…}`.
    enum Operation: String, CaseIterable {
        case lookup, getattr, readdir, readdirplus, open, read, release, getxattr, listxattr
    }

    /// `dofs_fuse_requests_total{op=…}`: the requests the kernel sent, by operation. Each one is a round
    /// trip a reader waits for, so this is what a workload costs beyond its bytes (a folder listed with
    /// READDIRPLUS is opened without a `lookup` per file).
    private static let requests = Dictionary(uniqueKeysWithValues: Operation.allCases.map {
        ($0, Counter(label: "dofs_fuse_requests_total", dimensions: [("op", $0.rawValue)]))
    })

    static func count(_ operation: Operation) { requests[operation]?.increment() }

    /// `dofs_passthrough_opens_total`: opens answered with a whole copy as backing file, whose reads the
    /// kernel serves (they are never counted as `read` requests).
    static let passthroughOpens = Counter(label: "dofs_passthrough_opens_total")

    /// What became of a content given to the kernel's page cache ahead of its reads (`KernelPageCache`).
    enum PageCacheFill: String, CaseIterable {
        case filled, declined
    }

    /// `dofs_page_cache_fills_total{result=…}`: small files put into the kernel's page cache as they were
    /// fetched ahead of a reader (their reads are never counted as `read` requests), and fills the kernel
    /// declined (it held no such inode yet; each is tried once more at the next open in its folder).
    static let pageCacheFills = Dictionary(uniqueKeysWithValues: PageCacheFill.allCases.map {
        ($0, Counter(label: "dofs_page_cache_fills_total", dimensions: [("result", $0.rawValue)]))
    })

    /// Creates every handle now, so a scrape lists each metric before its first event.
    public static func declare() {
        _ = readSeconds
        _ = requests
        _ = passthroughOpens
        _ = pageCacheFills
    }
}

extension Timer {
    /// Records the time since `start`.
    func record(since start: ContinuousClock.Instant) {
        record(duration: ContinuousClock.now - start)
    }
}
