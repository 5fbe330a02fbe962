import Dispatch
import DOCore

/// Runs the registry's blocking SQLite calls on one dedicated queue, so a commit's fsync never
/// stalls a thread of Swift's cooperative pool (two threads on a two-core machine).
final class RegistryWorker: Sendable {
    let registry: Registry
    private let queue = DispatchQueue(label: "dofs.control-plane.registry")

    init(registry: Registry) {
        self.registry = registry
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (Registry) throws(RegistryError) -> T) async throws(RegistryError) -> T {
        let registry = self.registry
        let result: Result<T, RegistryError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(RegistryError) {
                    continuation.resume(returning: .success(try body(registry)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
