import Foundation

/// The geo and key-value answers as last fetched: what the client uses, and what it writes to disk
/// so a control plane that is down when the client starts does not stop it.
struct ServiceMap: Codable, Equatable, Sendable {
    var geoURL: String
    var geo: GeoResponse
    var keyValue: KeyValueResponse
    var fetchedAt: Date

    enum CodingKeys: String, CodingKey {
        case geoURL = "GeoUrl"
        case geo = "Geo"
        case keyValue = "KeyValue"
        case fetchedAt = "FetchedAt"
    }
}

/// The last-known-good file (`<state>/keyValueLKG.json`, after DO's `keyValueLKG.dat`).
///
/// Written atomically (a temporary file renamed over the old one), so a reader sees the old copy or
/// the new one, never a mix. A file that cannot be read or decoded counts as absent.
struct LastKnownGoodFile: Sendable {
    static let fileName = "keyValueLKG.json"
    let path: String

    init(stateDirectory: String) {
        path = (stateDirectory as NSString).appendingPathComponent(Self.fileName)
    }

    func load() -> ServiceMap? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try? decoder.decode(ServiceMap.self, from: data)
    }

    func save(_ map: ServiceMap) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try encoder.encode(map).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
