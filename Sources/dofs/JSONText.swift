/// Writes JSON objects with keys in the order given (DO's documents list keys in a fixed order).
enum JSONText {
    enum Value {
        case string(String)
        case int(Int)
    }

    static func object(_ fields: [(String, Value)]) -> String {
        "{" + fields.map { key, value in
            let v: String
            switch value {
            case .string(let s): v = quote(s)
            case .int(let n): v = String(n)
            }
            return quote(key) + ":" + v
        }.joined(separator: ",") + "}"
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

import Foundation
