import Foundation
import Logging

/// The registry and the membership store a control plane serves from, chosen by its configuration:
/// SQLite in `dataDirectory` and memory (one instance), or one PostgreSQL database (a fleet).
struct ControlPlaneStores: Sendable, CustomStringConvertible {
    let registry: any ContentRegistry
    let membership: any MembershipStore
    /// Where the state is, for logs (a database URL without its password).
    let description: String
    private let database: PostgresDatabase?

    static func open(_ configuration: ControlPlaneConfiguration, logger: Logger) async throws(ControlPlaneServerError) -> ControlPlaneStores {
        if let url = configuration.database {
            let target: PostgresTarget
            do {
                target = try PostgresTarget(url)
            } catch {
                throw .invalidConfiguration("\(error)")
            }
            let database: PostgresDatabase
            do {
                database = try await PostgresDatabase.open(target, maxConnections: configuration.databaseConnections,
                                                           logger: logger)
            } catch {
                throw .database("\(target.redacted): \(error)")
            }
            return ControlPlaneStores(registry: PostgresRegistry(database),
                                      membership: PostgresMembership(database, limits: configuration.membershipLimits),
                                      description: target.redacted, database: database)
        }
        let registry: Registry
        do {
            registry = try Registry(dataDirectory: configuration.dataDirectory)
        } catch {
            throw .registry(error)
        }
        return ControlPlaneStores(registry: SQLiteContentRegistry(registry),
                                  membership: SwarmMembership(configuration.membershipLimits),
                                  description: configuration.dataDirectory, database: nil)
    }

    func close() async {
        await registry.close()
        await membership.close()
        await database?.close()
    }
}
