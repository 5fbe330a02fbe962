import Foundation
import Logging

/// Holds the geo + key-value answers: fresh for `keyValueLifetimeSeconds`, then refreshed.
///
/// Guarantees: at most one refresh runs at a time (concurrent lookups share it); once any answer is
/// known, lookups never wait on a refresh (an expired answer is served while a background refresh
/// runs, as DO serves its LKG during a provider outage); a failed refresh is retried no sooner than
/// `retryAfterFailureSeconds`. With nothing in memory, the network is asked first and the
/// last-known-good file is the fallback.
actor ServiceMapCache {
    private let configuration: ControlPlaneClientConfiguration
    private let lkg: LastKnownGoodFile?
    private let logger: Logger
    private let fetch: @Sendable () async -> Result<ServiceMap, ControlPlaneError>
    private var current: ServiceMap?
    private var freshUntil = Date.distantPast
    private var nextAttempt = Date.distantPast
    private var refreshing: Task<Result<ServiceMap, ControlPlaneError>, Never>?

    init(configuration: ControlPlaneClientConfiguration, logger: Logger,
         fetch: @escaping @Sendable () async -> Result<ServiceMap, ControlPlaneError>) {
        self.configuration = configuration
        lkg = configuration.stateDirectory.map(LastKnownGoodFile.init(stateDirectory:))
        self.logger = logger
        self.fetch = fetch
    }

    /// The service map to use now.
    func map() async throws(ControlPlaneError) -> ServiceMap {
        let now = Date()
        if let current {
            if now >= freshUntil, now >= nextAttempt, refreshing == nil {
                Task { _ = await self.refresh() }
            }
            return current
        }
        switch await refresh() {
        case .success(let map):
            return map
        case .failure(let error):
            if let saved = lkg?.load(), saved.geoURL == configuration.geoURL,
               now.timeIntervalSince(saved.fetchedAt) <= configuration.lastKnownGoodMaxAgeSeconds {
                logger.warning("control plane: \(error); using the last-known-good service map from \(saved.fetchedAt)")
                current = saved
                return saved
            }
            throw error
        }
    }

    /// Forgets the in-memory answer's freshness so the next lookup refreshes (after a failure that
    /// suggests the service moved).
    func invalidate() {
        freshUntil = .distantPast
        nextAttempt = .distantPast
    }

    private func refresh() async -> Result<ServiceMap, ControlPlaneError> {
        if let refreshing { return await refreshing.value }
        let task = Task { await fetch() }
        refreshing = task
        let result = await task.value
        refreshing = nil
        let now = Date()
        switch result {
        case .success(let map):
            current = map
            freshUntil = now.addingTimeInterval(configuration.keyValueLifetimeSeconds)
            if let lkg {
                do {
                    try lkg.save(map)
                } catch {
                    logger.warning("control plane: cannot save the last-known-good service map to \(lkg.path): \(error)")
                }
            }
        case .failure(let error):
            nextAttempt = now.addingTimeInterval(configuration.retryAfterFailureSeconds)
            if current != nil { logger.warning("control plane: refresh failed, keeping the previous service map: \(error)") }
        }
        return result
    }
}
