import ArgumentParser
import DOEngine
import DONode
import Foundation

/// `dofs config show`: the DO policies a node started now would apply, and where each comes from.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the DO policies in force.",
        subcommands: [ConfigShowCommand.self])
}

struct ConfigShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the effective policy: every DO policy, its value and where it came from (default, file, flag).",
        discussion: """
        Reads the policy files as a node would: do-client's \(PolicyFiles.doClientAdminConfig) when present, \
        then --config FILE (default: \(PolicyFiles.dofsDefault) when present). Flags of `dofs node` and \
        `dofs mount` override these; a content's control plane may lower its download mode (shown by \
        `dofs status`). A file that does not parse is refused, naming the policy at fault.
        """)

    @Option(name: .customLong("config"), help: "The policy file to read (default: \(PolicyFiles.dofsDefault) when present).")
    var config: String?

    @OptionGroup(title: "DO policies, as a node's flags would set them")
    var policies: PolicyOptions

    @Flag(name: .customLong("json"), help: "Print JSON: {\"DOName\": {\"value\": ..., \"source\": \"...\"}}.")
    var json = false

    func run() throws {
        if let config, !FileManager.default.isReadableFile(atPath: config) {
            throw UserFacingError("--config \(config) is not a readable file")
        }
        let policy: AdminPolicy
        do {
            policy = try PolicyFiles.load(PolicyFiles.paths(config: config), flags: try policies.layer())
        } catch let error as PolicyError {
            throw UserFacingError("\(error)")
        }
        let keys = PolicyKey.allCases.sorted()
        if json {
            var object: [String: Any] = [:]
            for key in keys {
                let setting = policy.settings[key]
                object[key.rawValue] = ["value": setting.map { Self.jsonValue($0.value) } ?? NSNull(),
                                        "source": setting?.source.description ?? "default"]
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let width = keys.map(\.rawValue.count).max() ?? 0
        for key in keys {
            let setting = policy.settings[key]
            let value = setting?.value.description ?? "(unset)"
            let name = key.rawValue.padding(toLength: width, withPad: " ", startingAt: 0)
            print("\(name)  \(value.padding(toLength: max(12, value.count), withPad: " ", startingAt: 0))  \(setting?.source.description ?? "default")")
        }
    }

    private static func jsonValue(_ value: PolicyValue) -> Any {
        switch value {
        case .integer(let n): n
        case .text(let t): t
        case .hours(let h): ["StartHour": h.startHour, "EndHour": h.endHour,
                             "InsidePercentage": h.insidePercentage, "OutsidePercentage": h.outsidePercentage]
        }
    }
}
