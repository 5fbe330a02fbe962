import DOControlPlane
import DOCore
import DOHTTP
import Foundation
import Logging

/// Registers what `dofs publish` made with a control plane, so clients find it by content ID or URL.
///
/// Either over HTTP (`--control-plane URL`: the chain's key-value answer names the publish endpoint),
/// or straight into a local registry folder (`--local`), which a control plane (standalone or embedded
/// in `dofs mount`) reading the same folder serves at once. Both check the same things and both return
/// only once the registration is durable.
enum PublishRegistration {
    /// Where to register.
    enum Target {
        /// A running control plane, by its base URL (or its geo URL).
        case controlPlane(url: String, caFile: String?)
        /// A registry data folder on this machine.
        case local(dataDirectory: String)

        /// The local registry folder: `--control-plane-data`, else `$DOFS_CONTROL_PLANE_DATA`, else
        /// `/var/lib/dofs/control-plane`.
        static func localDataDirectory(option: String?) -> String {
            if let option { return option }
            if let env = ProcessInfo.processInfo.environment["DOFS_CONTROL_PLANE_DATA"], !env.isEmpty { return env }
            return "/var/lib/dofs/control-plane"
        }
    }

    /// What happened, for the command's output.
    struct Outcome {
        let contentId: String
        let created: Bool
        /// The control plane's content-policy URL (HTTP) or the registry folder (local).
        let location: String
    }

    /// One content of a batch: its PHF, where it and its PHF are served.
    struct Item {
        let phf: PiecesHashFile
        let url: String
        let phfURL: String
    }

    /// Registers every item in one batch (one transaction locally; one request per few hundred over
    /// HTTP), each signed with `key` when given. Returns where they were registered; throws a
    /// `UserFacingError` naming every registration refused (the others are registered).
    static func registerAll(_ items: [Item], key: PublisherPrivateKey?, target: Target) throws -> String {
        var requests: [PublishRequest] = []
        requests.reserveCapacity(items.count)
        do {
            for item in items {
                let unsigned = PublishRequest(publishing: item.phf, url: item.url, piecesHashFileUrl: item.phfURL,
                                              includePiecesHashFile: true)
                requests.append(try key.map { key throws(PublisherKeyError) in try unsigned.signed(with: key) } ?? unsigned)
            }
        } catch {
            throw UserFacingError("dofs publish: cannot sign the registrations: \(error)")
        }
        var refused: [String] = []
        let location: String
        switch target {
        case .local(let folder):
            do {
                let registrations = try requests.map { try Registration(validating: $0) }
                let registry = try Registry(dataDirectory: folder)
                defer { registry.close() }
                for (item, outcome) in zip(items, try registry.registerAll(registrations)) {
                    if case .failure(let error) = outcome { refused.append("\(item.url): \(error)") }
                }
            } catch {
                throw UserFacingError("dofs publish: cannot register in \(folder): \(error)")
            }
            location = folder
        case .controlPlane(let controlPlane, let caFile):
            let signed = requests
            let outcomes = try SyncBridge.run { () async throws -> [Result<PublishResponse, ControlPlaneError>] in
                var config = HTTPClientConfiguration()
                config.caFile = caFile
                let client = ControlPlaneClient(controlPlaneURL: controlPlane, stateDirectory: nil, http: HTTPClient(configuration: config),
                                                logger: Logger(label: "dofs.publish"))
                do {
                    return try await client.publishAll(signed)
                } catch {
                    throw UserFacingError("dofs publish: cannot register with \(controlPlane): \(error)")
                }
            }
            for (item, outcome) in zip(items, outcomes) {
                if case .failure(let error) = outcome { refused.append("\(item.url): \(error)") }
            }
            location = controlPlane
        }
        guard refused.isEmpty else {
            let shown = refused.prefix(20).joined(separator: "\n  ")
            let more = refused.count > 20 ? "\n  ... and \(refused.count - 20) more" : ""
            throw UserFacingError("dofs publish: \(refused.count) of \(items.count) registration(s) refused (the others are registered):\n  \(shown)\(more)")
        }
        return location
    }

    /// Registers `phf` as served at `url`, its PHF at `phfURL`, with the PHF itself included so the
    /// control plane can check it and serve it, signed with `key` when given (a control plane over HTTP
    /// accepts only signed registrations). Throws a `UserFacingError` that says what failed.
    static func register(_ phf: PiecesHashFile, url: String, phfURL: String?, key: PublisherPrivateKey?,
                         target: Target) throws -> Outcome {
        let unsigned = PublishRequest(publishing: phf, url: url, piecesHashFileUrl: phfURL, includePiecesHashFile: true)
        let request: PublishRequest
        do {
            request = try key.map { key throws(PublisherKeyError) in try unsigned.signed(with: key) } ?? unsigned
        } catch {
            throw UserFacingError("dofs publish: cannot sign the registration: \(error)")
        }
        switch target {
        case .local(let folder):
            do {
                let registration = try Registration(validating: request)
                let registry = try Registry(dataDirectory: folder)
                defer { registry.close() }
                let outcome = try registry.register(registration)
                return Outcome(contentId: registration.contentId.rawValue, created: outcome == .created, location: folder)
            } catch {
                throw UserFacingError("dofs publish: cannot register in \(folder): \(error)")
            }
        case .controlPlane(let controlPlane, let caFile):
            return try SyncBridge.run {
                var config = HTTPClientConfiguration()
                config.caFile = caFile
                let http = HTTPClient(configuration: config)
                let client = ControlPlaneClient(controlPlaneURL: controlPlane, stateDirectory: nil, http: http,
                                                logger: Logger(label: "dofs.publish"))
                do {
                    let answer = try await client.publish(request)
                    return Outcome(contentId: answer.contentId, created: answer.created, location: answer.contentPolicyUrl)
                } catch {
                    throw UserFacingError("dofs publish: cannot register with \(controlPlane): \(error)")
                }
            }
        }
    }
}
