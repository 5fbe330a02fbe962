import DOCore
import Foundation

/// The dofs binary under test and its `publish` command.
enum DofsCLI {
    /// `$DOFS_BIN`, else `dofs` beside the test bundle executable (.build/<triple>/debug/).
    static var binaryPath: String {
        if let override = ProcessInfo.processInfo.environment["DOFS_BIN"], !override.isEmpty { return override }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("dofs").path
    }

    /// What `dofs publish` printed on stdout.
    struct Published: Decodable, Equatable {
        let ContentId: String
        let HashOfHashes: String
        let ContentLength: Int
        let PieceSize: Int
        let PiecesHashFileUrl: String
        let Url: String
    }

    /// Runs `dofs publish FILE --url URL --phf-out PHF [--phf-url] [--piece-size]` and decodes its output.
    static func publish(file: String, url: String, phfOut: String, phfURL: String? = nil, pieceSize: Int? = nil,
                        logDirectory: String) throws -> Published {
        var args = ["publish", file, "--url", url, "--phf-out", phfOut]
        if let phfURL { args += ["--phf-url", phfURL] }
        if let pieceSize { args += ["--piece-size", String(pieceSize)] }
        let outcome = try ChildProcess.run(binaryPath, args, logDirectory: logDirectory, timeout: 60)
        guard outcome.succeeded else {
            throw ChildProcess.Failure(description: "dofs publish \(file) ended with \(outcome.termination): \(outcome.stderr)")
        }
        do {
            return try JSONDecoder().decode(Published.self, from: Data(outcome.stdout.utf8))
        } catch {
            throw ChildProcess.Failure(description: "dofs publish printed no Published JSON (\(error)): \(outcome.stdout)")
        }
    }

    /// Writes `bytes` as docroot file `name` of `origin` and publishes it there (PHF beside it) with
    /// `--control-plane`, so the control plane stores the PHF too.
    static func publishOnOrigin(_ bytes: [UInt8], as name: String, on origin: NginxOrigin, controlPlane: String,
                                logDirectory: String) throws -> Published {
        try TestContent.write(bytes, to: origin.path(name))
        return try publish(file: origin.path(name), url: origin.url(name), phfOut: origin.path(name + ".phf"),
                           phfURL: origin.url(name + ".phf"), registration: .controlPlane(controlPlane),
                           logDirectory: logDirectory).published
    }
}

/// One entry of a mount catalog (`--catalog`): a friendly name for a URL, verified when `integrity` is set.
struct CatalogEntry: Encodable {
    struct Integrity: Encodable {
        let PiecesHashFileUrl: String
        let HashOfHashes: String
    }

    let name: String
    let url: String
    let integrity: Integrity?

    /// A verified entry for published content.
    init(name: String, published: DofsCLI.Published, url: String? = nil) {
        self.name = name
        self.url = url ?? published.Url
        integrity = Integrity(PiecesHashFileUrl: published.PiecesHashFileUrl, HashOfHashes: published.HashOfHashes)
    }

    init(name: String, url: String, integrity: Integrity?) {
        self.name = name
        self.url = url
        self.integrity = integrity
    }

    /// Writes `entries` as the JSON array `dofs mount --catalog` reads.
    static func write(_ entries: [CatalogEntry], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(entries).write(to: URL(fileURLWithPath: path))
    }
}
