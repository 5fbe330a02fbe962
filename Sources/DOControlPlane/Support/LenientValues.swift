import Foundation

// DO's answers are only known from PowerShell views and logs (do-protocol.md 2.3), so whether a number
// arrives as a JSON number or a string, and whether "empty" is null or "", is not certain. Decoding of
// the few numeric and boolean fields accepts all of those forms; encoding always writes the plain type.

extension KeyedDecodingContainer {
    /// An integer written as a number, a decimal string, or absent / null / "" (then `nil`).
    func decodeLenientInt(forKey key: Key) throws -> Int? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let n = try? decode(Int.self, forKey: key) { return n }
        if let s = try? decode(String.self, forKey: key) {
            let trimmed = s.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { return nil }
            if let n = Int(trimmed) { return n }
        }
        throw DecodingError.typeMismatch(Int.self, .init(
            codingPath: codingPath + [key], debugDescription: "expected an integer"))
    }

    /// A boolean written as true/false, "true"/"false" (any case), 0/1, or absent / null (then `nil`).
    func decodeLenientBool(forKey key: Key) throws -> Bool? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let b = try? decode(Bool.self, forKey: key) { return b }
        if let n = try? decode(Int.self, forKey: key), n == 0 || n == 1 { return n == 1 }
        if let s = try? decode(String.self, forKey: key) {
            switch s.lowercased() {
            case "true", "1": return true
            case "false", "0": return false
            case "": return nil
            default: break
            }
        }
        throw DecodingError.typeMismatch(Bool.self, .init(
            codingPath: codingPath + [key], debugDescription: "expected a boolean"))
    }

    /// A list of strings; absent, null or "" (DO's "(empty)") is an empty list.
    func decodeLenientStrings(forKey key: Key) throws -> [String] {
        guard contains(key), try !decodeNil(forKey: key) else { return [] }
        if let list = try? decode([String].self, forKey: key) { return list }
        if let s = try? decode(String.self, forKey: key), s.isEmpty { return [] }
        throw DecodingError.typeMismatch([String].self, .init(
            codingPath: codingPath + [key], debugDescription: "expected an array of strings"))
    }
}

/// Turns a `DecodingError` into one line naming the offending field, for error bodies and logs.
enum DecodingFailure {
    static func describe(_ error: any Error) -> String {
        func path(_ ctx: DecodingError.Context) -> String {
            let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "the document" : p
        }
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            let parent = ctx.codingPath.isEmpty ? "" : " in \(path(ctx))"
            return "missing key \(key.stringValue)\(parent)"
        case DecodingError.typeMismatch(let type, let ctx):
            return "wrong type at \(path(ctx)): expected \(typeName(type))"
        case DecodingError.valueNotFound(let type, let ctx):
            return "null at \(path(ctx)): expected \(typeName(type))"
        case DecodingError.dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty { return "not valid JSON" }
            return "invalid value at \(path(ctx)): \(ctx.debugDescription)"
        default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type: return "an integer"
        case is Bool.Type: return "a boolean"
        case is [String].Type: return "an array of strings"
        default: return "\(type)"
        }
    }
}
