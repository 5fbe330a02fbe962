/// One element of the discovery answer, a JSON array (do-protocol.md 2.4).
///
/// DO's only known field is `CollectiveArray`: the base URL of the swarm ("array") service, to which a
/// client posts `join/`. dofs hands out one array per content, so the URL already names the content.
public struct DiscoveryEntry: Codable, Equatable, Sendable {
    /// `CollectiveArray`: absolute base URL, ending in `/`; the join call is `POST <CollectiveArray>join/`.
    public var collectiveArray: String

    public init(collectiveArray: String) {
        self.collectiveArray = collectiveArray
    }

    enum CodingKeys: String, CodingKey {
        case collectiveArray = "CollectiveArray"
    }
}
