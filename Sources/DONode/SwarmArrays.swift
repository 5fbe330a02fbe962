import DOCore
import Foundation
import Synchronization

/// Where each content's swarm (array) service is, as discovery last named it, kept for
/// `lifetimeSeconds` so that a re-join is one request, not two. A join re-announces every
/// ReannounceSecs and again whenever a new peer connects (up to ten times a second per content while a
/// fleet starts together): asking discovery before each of them doubled the control plane's work in
/// exactly the burst it must answer fast. A failed join forgets the content's entry (`forget`), so an
/// array service that moved is found again by the next join.
final class SwarmArrays: Sendable {
    /// How long a discovery answer is used. Five minutes is the control plane's default re-announce
    /// interval: a member asks discovery about once per interval, as a DO client does.
    static let lifetimeSeconds = 300.0
    /// Contents remembered at most (each a URL of ~100 bytes); beyond it the table starts over.
    static let maxEntries = 4096

    private let entries = Mutex<[ContentId: (array: String, at: ContinuousClock.Instant)]>([:])

    init() {}

    /// The remembered array service of `content`, when it is fresh.
    func array(of content: ContentId) -> String? {
        entries.withLock { e in
            guard let found = e[content], ContinuousClock.now - found.at < .seconds(Self.lifetimeSeconds) else { return nil }
            return found.array
        }
    }

    func remember(_ array: String, of content: ContentId) {
        entries.withLock { e in
            if e.count >= Self.maxEntries { e.removeAll(keepingCapacity: true) }
            e[content] = (array, .now)
        }
    }

    func forget(_ content: ContentId) {
        _ = entries.withLock { $0.removeValue(forKey: content) }
    }
}
