import Foundation
import Synchronization

/// One instance's short memory of the registry lookups it answered from PostgreSQL (`PostgresRegistry`):
/// the content policy of a popular content is asked for by every reader at once, and the answer
/// changes only when someone publishes.
///
/// ## Contract
/// - **Only found contents are kept**, never "not registered": a content published through any
///   instance is served by every instance at once, even one that was asked for it a moment before.
/// - A found content is kept for at most `lifetime`. A publish through *this* instance empties the
///   cache when it commits (lookups that started before it store nothing), so this instance's own
///   publishes are seen at once; a publish through *another* instance that changes a known content
///   (another URL, a stored PHF, a signature, a URL moved to another content) is seen within
///   `lifetime`. A content's identity (ID, HashOfHashes, length, piece size) never changes once registered.
/// - At most `capacity` entries: at the cap, expired entries are dropped, and if none was, all are.
final class RegistryLookupCache: Sendable {
    /// How long a found content is kept. At 1 s a content asked for 5,000 times a second costs the
    /// database one lookup a second per instance, and a change published elsewhere is late by 1 s at
    /// most (readers ask for a policy once per open, and re-ask minutes later).
    static let lifetime: Duration = .seconds(1)
    /// Entries kept at most (a few hundred bytes each, with the content's URLs).
    static let capacity = 10_000

    struct Key: Hashable, Sendable {
        let id: String
        let url: String?
    }

    private struct Entry {
        let content: RegisteredContent
        let until: ContinuousClock.Instant
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Bumped by every local publish; a lookup stores its answer only if it is unchanged.
        var generation = 0
    }

    private let state = Mutex(State())
    private let clock = ContinuousClock()

    /// The kept answer for `key`, if it is still fresh.
    func content(_ key: Key) -> RegisteredContent? {
        let now = clock.now
        return state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            guard entry.until > now else {
                state.entries[key] = nil
                return nil
            }
            return entry.content
        }
    }

    /// The generation to hand back to `store` (taken before the database is asked).
    var generation: Int { state.withLock { $0.generation } }

    /// Keeps `content` for `key`, unless a local publish happened since `generation` was taken.
    func store(_ content: RegisteredContent, for key: Key, generation: Int) {
        let now = clock.now
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= Self.capacity {
                state.entries = state.entries.filter { $0.value.until > now }
                if state.entries.count >= Self.capacity { state.entries.removeAll(keepingCapacity: true) }
            }
            state.entries[key] = Entry(content: content, until: now.advanced(by: Self.lifetime))
        }
    }

    /// Forgets everything (a publish through this instance committed, or failed halfway).
    func invalidate() {
        state.withLock { state in
            state.generation += 1
            state.entries.removeAll(keepingCapacity: true)
        }
    }
}
