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

    /// Creates every handle now, so a scrape lists each metric before its first event.
    public static func declare() { _ = readSeconds }
}

extension Timer {
    /// Records the time since `start`.
    func record(since start: ContinuousClock.Instant) {
        record(duration: ContinuousClock.now - start)
    }
}
