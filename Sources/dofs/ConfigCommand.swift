import ArgumentParser
import DOControlPlane
import DOCore
import DOEngine
import DOHTTP
import DONode
import Foundation
import Logging

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

    @Option(name: .customLong("control-plane"), help: "With --content: the control plane whose content policy to apply.")
    var controlPlane: String?

    @Option(name: .customLong("content"), help: "A content ID or URL: show the policy for it, with what its content policy changes (source \"control plane\").")
    var content: String?

    @Option(name: .customLong("ca-file"), help: "CA certificates (PEM) for an HTTPS control plane.")
    var caFile: String?

    @Flag(name: .customLong("json"), help: "Print JSON: {\"DOName\": {\"value\": ..., \"source\": \"...\"}}.")
    var json = false

    func validate() throws {
        guard (controlPlane == nil) == (content == nil) else { throw ValidationError("--control-plane and --content go together") }
        if let controlPlane, !HTTPURL.isValid(controlPlane) { throw ValidationError("--control-plane '\(controlPlane)' is not an http(s) URL") }
    }

    func run() throws {
        if let config, !FileManager.default.isReadableFile(atPath: config) {
            throw UserFacingError("--config \(config) is not a readable file")
        }
        var policy: AdminPolicy
        do {
            policy = try PolicyFiles.load(PolicyFiles.paths(config: config), flags: try policies.layer())
        } catch let error as PolicyError {
            throw UserFacingError("\(error)")
        }
        if let controlPlane, let content {
            policy = policy.merging(try contentPolicyLayer(policy, controlPlane: controlPlane, content: content), from: .controlPlane)
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
            let unit = key.kind == .hours || key.kind == .text ? "" : key.unit
            let shown = value.padding(toLength: max(10, value.count), withPad: " ", startingAt: 0)
            let units = unit.padding(toLength: max(30, unit.count), withPad: " ", startingAt: 0)
            print("\(name)  \(shown)  \(units)  \(setting?.source.description ?? "default")")
        }
    }

    /// What the content's policy changes: a lower download mode (DO's DOWNLOADMODE_SET_BY_CP) and a
    /// higher peering minimum, in the policies' units.
    private func contentPolicyLayer(_ policy: AdminPolicy, controlPlane: String, content: String) throws -> PolicyLayer {
        let caFile = self.caFile
        let answer: ContentPolicy? = try SyncBridge.run {
            var config = HTTPClientConfiguration()
            config.caFile = caFile
            let client = ControlPlaneClient(controlPlaneURL: controlPlane, stateDirectory: nil, http: HTTPClient(configuration: config),
                                            logger: Logger(label: "dofs.config"))
            let id = try? ContentId(content)
            do {
                return try await client.contentPolicy(contentId: id, altCatalogId: id == nil ? content : nil)
            } catch {
                throw UserFacingError("dofs config show: cannot ask \(controlPlane) about \(content): \(error)")
            }
        }
        guard let answer else { throw UserFacingError("dofs config show: \(controlPlane) does not know \(content)") }
        var layer = PolicyLayer()
        if let mode = answer.policies.downloadMode, mode < policy.downloadMode {
            layer.values[.downloadMode] = .integer(mode)
        }
        if let bytes = answer.policies.minFileSizeForPeering, bytes > policy.minFileSizeToCacheBytes {
            layer.values[.minFileSizeToCache] = .integer((bytes + (1 << 20) - 1) >> 20)
        }
        return layer
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
