import ArgumentParser
import DONode
import Foundation

/// The options of a command that only talks to a running node: its socket, and JSON output.
struct NodeClientOptions: ParsableArguments {
    @Option(name: .customLong("socket"), help: "The node's control socket.")
    var socket = ControlSocketClient.defaultPath

    /// Sends `request` and returns the node's final answer, failing with its error (prefixed `command`).
    func ask(_ command: String, _ request: ControlRequest,
             onProgress: (PrefetchProgress) -> Void = { _ in }) throws -> ControlAnswer {
        let answer: ControlAnswer
        do {
            answer = try ControlSocketClient(path: socket).send(request, onProgress: onProgress)
        } catch {
            throw UserFacingError("\(command): \(error)")
        }
        if let error = answer.error { throw UserFacingError("\(command): \(error)") }
        return answer
    }
}

/// JSON as the commands print it: sorted keys, indented, one document.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) throws {
        Swift.print(try text(value))
    }

    static func text<T: Encodable>(_ value: T, pretty: Bool = true) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// Sizes, rates and durations as people read them.
enum Human {
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", s / 60 % 60))m"
    }

    static func percent(_ rate: Double?) -> String {
        rate.map { String(format: "%.0f%%", $0 * 100) } ?? "-"
    }
}
