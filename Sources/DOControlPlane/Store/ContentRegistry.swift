import DOCore
import Foundation

/// Where the control plane keeps published content: the SQLite file of one instance
/// (`SQLiteContentRegistry`, the embedded default) or a PostgreSQL database that any number of
/// instances share (`PostgresRegistry`).
///
/// Every implementation keeps `Registry`'s contract: a registration is durable before `register`
/// returns, and is one transaction (all of it or none); refusals (`conflict`,
/// `urlOwnedByAnotherPublisher`) write nothing; a URL belongs to one content at a time.
public protocol ContentRegistry: Sendable {
    @discardableResult
    func register(_ registration: Registration, now: Date) async throws(RegistryError) -> RegistrationOutcome
    /// Many registrations in one transaction, each judged as `register` would judge it alone: a refused
    /// one is a failure in its place and writes nothing; the others commit together.
    func registerAll(_ registrations: [Registration], now: Date) async throws(RegistryError) -> [Result<RegistrationOutcome, RegistryError>]
    /// The content a URL was last registered for, else the content registered under `id`, else `nil`
    /// (DO's lookup with `altCatalogId`: the ID is then a placeholder).
    func lookup(id: ContentId, url: String?) async throws(RegistryError) -> RegisteredContent?
    /// The stored PHF of a content (exactly as served), or `nil` when none is stored.
    func piecesHashFile(id: ContentId) async throws(RegistryError) -> [UInt8]?
    /// Releases the storage; later calls throw `RegistryError.closed`.
    func close() async
}

/// The SQLite registry behind `ContentRegistry`: its blocking calls run on one dedicated queue, so a
/// commit's fsync never stalls a thread of Swift's cooperative pool (two threads on a two-core machine).
final class SQLiteContentRegistry: ContentRegistry {
    private let worker: RegistryWorker

    init(_ registry: Registry) {
        worker = RegistryWorker(registry: registry)
    }

    func register(_ registration: Registration, now: Date) async throws(RegistryError) -> RegistrationOutcome {
        try await worker.run { registry throws(RegistryError) in try registry.register(registration, now: now) }
    }

    func registerAll(_ registrations: [Registration], now: Date) async throws(RegistryError) -> [Result<RegistrationOutcome, RegistryError>] {
        try await worker.run { registry throws(RegistryError) in try registry.registerAll(registrations, now: now) }
    }

    func lookup(id: ContentId, url: String?) async throws(RegistryError) -> RegisteredContent? {
        try await worker.run { registry throws(RegistryError) -> RegisteredContent? in
            if let url, let byURL = try registry.content(url: url) { return byURL }
            return try registry.content(id: id)
        }
    }

    func piecesHashFile(id: ContentId) async throws(RegistryError) -> [UInt8]? {
        try await worker.run { registry throws(RegistryError) in try registry.piecesHashFile(id: id) }
    }

    func close() async {
        worker.registry.close()
    }
}
