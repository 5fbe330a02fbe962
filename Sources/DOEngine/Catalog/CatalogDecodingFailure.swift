import Foundation

/// Turns a `DecodingError` from reading a catalog into a `Catalog.Failure` that names the entry (its
/// index, and its name when the entry has a readable one) and the field, in words instead of the
/// decoder's internal description.
enum CatalogDecodingFailure {
    static func describe(_ error: DecodingError, json: [UInt8]) -> Catalog.Failure {
        let (path, detail) = Self.parts(of: error)
        guard let first = path.first, let index = first.intValue else {
            if case .dataCorrupted = error, path.isEmpty {
                return .malformed(path: nil, detail: "not valid JSON (\(detail))")
            }
            return .malformed(path: nil, detail: "is not a JSON array of entries")
        }
        let field = path.dropFirst().map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        let location = Catalog.Location(index: index, name: Self.name(ofEntry: index, in: json),
                                        field: field.isEmpty ? nil : field)
        return .invalidEntry(path: nil, location, detail: detail)
    }

    /// The coding path of the failure and what went wrong, in plain words.
    private static func parts(of error: DecodingError) -> ([any CodingKey], String) {
        switch error {
        case .keyNotFound(let key, let context):
            return (context.codingPath + [key], "missing")
        case .typeMismatch(let type, let context):
            return (context.codingPath, "must be \(Self.jsonName(type))")
        case .valueNotFound(let type, let context):
            return (context.codingPath, "is null; must be \(Self.jsonName(type))")
        case .dataCorrupted(let context):
            return (context.codingPath, context.underlyingError.map { "\($0.localizedDescription)" } ?? context.debugDescription)
        @unknown default:
            return ([], "\(error)".prefix(300).description)
        }
    }

    private static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Double.Type, is Int.Type: return "a number"
        case is [Any].Type: return "an array"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") || name.contains("IntegrityCheckInfo") || name.contains("WireEntry") { return "an object" }
            return name
        }
    }

    /// The `name` of entry `index` when the text parses that far, so the message can say which entry.
    private static func name(ofEntry index: Int, in json: [UInt8]) -> String? {
        guard let array = try? JSONSerialization.jsonObject(with: Data(json)) as? [Any], index < array.count,
              let entry = array[index] as? [String: Any], let name = entry["name"] as? String else { return nil }
        return String(name.prefix(200))
    }
}
