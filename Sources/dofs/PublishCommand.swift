import ArgumentParser
import DOCore
import DOEngine
import Foundation

struct PublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Hash a file (or a whole folder tree) into pieces and write its pieces hash file (PHF).",
        discussion: """
        One file: `dofs publish FILE --url URL --phf-out PHF` prints one JSON object: ContentId, HashOfHashes, \
        ContentLength, PieceSize, PiecesHashFileUrl, Url. Put the PHF where PiecesHashFileUrl points (by default \
        next to the content, URL + ".phf").

        A tree: `dofs publish --tree DIR --url-base URL --catalog-out CATALOG` publishes every regular file under \
        DIR in one run: files hashed in parallel, each PHF written beside its file (or under --phf-dir), and one \
        catalog written whose names are the paths relative to DIR and whose URLs are URL joined with them. Its \
        entries carry size and mtime (a mount lists them without a request) and, for small files, their piece \
        hashes (a mount opens them without a request). --local or --control-plane registers them all in one \
        batch. Prints one JSON object: Files, Bytes, Catalog, and RegisteredAt when registered.
        """
    )

    @Argument(help: "The file to publish, exactly as the origin serves it (not with --tree).")
    var file: String?

    @Option(help: "The URL the content is served from.")
    var url: String?

    @Option(name: .customLong("phf-out"), help: "Where to write the pieces hash file.")
    var phfOut: String?

    @Option(name: .customLong("phf-url"), help: "The URL the pieces hash file will be served from (default: URL + \".phf\").")
    var phfURL: String?

    @Option(help: "Publish every regular file under this folder (with --url-base and --catalog-out).")
    var tree: String?

    @Option(name: .customLong("url-base"), help: "With --tree: the URL the folder is served at; a file's URL is this joined with its relative path.")
    var urlBase: String?

    @Option(name: .customLong("catalog-out"), help: "With --tree: the catalog to write (replaced whole), one entry per file.")
    var catalogOut: String?

    @Option(name: .customLong("phf-dir"), help: "With --tree: write the PHFs under this folder (same relative paths + \".phf\") instead of beside the files.")
    var phfDir: String?

    @Option(name: .customLong("phf-url-base"), help: "With --tree: the URL the PHFs are served under (default: --url-base).")
    var phfURLBase: String?

    @Option(name: .customLong("piece-size"), help: "Piece size in bytes (default 1048576, DO's).")
    var pieceSize: Int = PieceLayout.defaultPieceSize

    @Option(name: .customLong("add-to-catalog"), help: "Also add (or replace) this content's entry in a catalog file.")
    var catalogPath: String?

    @Option(help: "The entry's name in the catalog (default: the file's name).")
    var name: String?

    @Option(name: .customLong("control-plane"), help: "Register the content with the control plane at this URL.")
    var controlPlane: String?

    @Option(name: .customLong("ca-file"), help: "CA certificates (PEM) to verify an HTTPS control plane with.")
    var caFile: String?

    @Flag(name: .customLong("local"), help: "Register the content in this machine's control-plane registry folder (what `dofs mount` embeds).")
    var local = false

    @Option(help: "The publisher's private key (from `dofs keygen`) to sign the registration with; a control plane over HTTP requires it.")
    var key: String?

    @Option(name: .customLong("control-plane-data"),
            help: "The registry folder for --local (default: $DOFS_CONTROL_PLANE_DATA, else /var/lib/dofs/control-plane).")
    var controlPlaneData: String?

    func validate() throws {
        if tree != nil {
            try validateTree()
        } else {
            guard file != nil else { throw ValidationError("give the FILE to publish, or --tree DIR") }
            guard let url else { throw ValidationError("--url is required: where the file is served") }
            guard phfOut != nil else { throw ValidationError("--phf-out is required: where to write the pieces hash file") }
            for (flag, given) in [("--url-base", urlBase), ("--catalog-out", catalogOut), ("--phf-dir", phfDir), ("--phf-url-base", phfURLBase)]
            where given != nil {
                throw ValidationError("\(flag) only applies with --tree")
            }
            guard HTTPURL.isValid(url) else { throw ValidationError("--url '\(url)' is not an http(s) URL") }
        }
        if let phfURL, !HTTPURL.isValid(phfURL) { throw ValidationError("--phf-url '\(phfURL)' is not an http(s) URL") }
        if controlPlane != nil && local { throw ValidationError("--control-plane and --local cannot be used together") }
        if let controlPlane, !HTTPURL.isValid(controlPlane) {
            throw ValidationError("--control-plane '\(controlPlane)' is not an http(s) URL")
        }
        if controlPlaneData != nil && !local { throw ValidationError("--control-plane-data only applies with --local") }
        if key != nil && controlPlane == nil && !local {
            throw ValidationError("--key signs a registration: use it with --control-plane or --local")
        }
        guard pieceSize > 0 && pieceSize <= PiecesHashFile.maxPieceSize else {
            throw ValidationError("--piece-size must be between 1 and \(PiecesHashFile.maxPieceSize)")
        }
    }

    private func validateTree() throws {
        guard file == nil else { throw ValidationError("give either a FILE or --tree, not both") }
        guard let urlBase else { throw ValidationError("--tree needs --url-base: where the folder is served") }
        guard catalogOut != nil else { throw ValidationError("--tree needs --catalog-out: the catalog to write") }
        for (flag, given) in [("--url", url), ("--phf-out", phfOut), ("--phf-url", phfURL), ("--add-to-catalog", catalogPath), ("--name", name)]
        where given != nil {
            throw ValidationError("\(flag) applies to one file, not with --tree")
        }
        guard HTTPURL.isValid(urlBase) else { throw ValidationError("--url-base '\(urlBase)' is not an http(s) URL") }
        if let phfURLBase, !HTTPURL.isValid(phfURLBase) { throw ValidationError("--phf-url-base '\(phfURLBase)' is not an http(s) URL") }
    }

    func run() throws {
        if let tree { return try runTree(tree) }
        guard let file, let url, let phfOut else { throw UserFacingError("dofs publish: give FILE, --url and --phf-out") }
        let signingKey: PublisherPrivateKey?
        do {
            signingKey = try key.map { path throws(PublisherKeyError) in try PublisherPrivateKey(contentsOfFile: path) }
        } catch {
            throw UserFacingError("dofs publish: --key: \(error)")
        }
        let phf: PiecesHashFile
        do {
            phf = try Publisher.hashFile(atPath: file, pieceSize: pieceSize)
        } catch {
            throw UserFacingError("dofs publish: \(error)")
        }
        let phfLocation = phfURL ?? url + ".phf"
        guard FileManager.default.createFile(atPath: phfOut, contents: Data(phf.jsonBytes())) else {
            throw UserFacingError("dofs publish: cannot write \(phfOut): \(String(cString: strerror(errno)))")
        }
        if let catalogPath {
            let entryName = name ?? (file as NSString).lastPathComponent
            do {
                try CatalogFile.upsert(path: catalogPath, name: entryName, url: url, phfURL: phfLocation,
                                       hashOfHashes: phf.hashOfHashes.base64)
            } catch {
                throw UserFacingError("dofs publish: cannot update catalog \(catalogPath): \(error)")
            }
        }
        var registered: PublishRegistration.Outcome?
        if let controlPlane {
            registered = try PublishRegistration.register(phf, url: url, phfURL: phfLocation, key: signingKey,
                                                          target: .controlPlane(url: controlPlane, caFile: caFile))
        } else if local {
            let folder = PublishRegistration.Target.localDataDirectory(option: controlPlaneData)
            registered = try PublishRegistration.register(phf, url: url, phfURL: phfLocation, key: signingKey,
                                                          target: .local(dataDirectory: folder))
        }
        var fields: [(String, JSONText.Value)] = [
            ("ContentId", .string(phf.contentId.rawValue)),
            ("HashOfHashes", .string(phf.hashOfHashes.base64)),
            ("ContentLength", .int(phf.layout.contentLength)),
            ("PieceSize", .int(phf.layout.pieceSize)),
            ("PiecesHashFileUrl", .string(phfLocation)),
            ("Url", .string(url)),
        ]
        if let registered { fields.append(("RegisteredAt", .string(registered.location))) }
        if let signingKey, registered != nil { fields.append(("PublisherKeyId", .string(signingKey.publicKey.keyId))) }
        print(JSONText.object(fields))
    }
}

extension PublishCommand {
    /// `--tree`: hash and write every PHF, write the catalog once, register everything in one batch.
    private func runTree(_ folder: String) throws {
        let signingKey: PublisherPrivateKey?
        do {
            signingKey = try key.map { path throws(PublisherKeyError) in try PublisherPrivateKey(contentsOfFile: path) }
        } catch {
            throw UserFacingError("dofs publish: --key: \(error)")
        }
        let publisher = TreePublisher(folder: folder, urlBase: urlBase!, phfDirectory: phfDir, phfURLBase: phfURLBase,
                                      pieceSize: pieceSize)
        let published: [TreePublisher.Published]
        do {
            published = try publisher.publish()
        } catch {
            throw UserFacingError("dofs publish: \(error)")
        }
        do {
            let catalog = try TreePublisher.catalogJSON(published)
            try Data(catalog).write(to: URL(fileURLWithPath: catalogOut!), options: .atomic)
        } catch {
            throw UserFacingError("dofs publish: cannot write catalog \(catalogOut!): \(error)")
        }
        let items = published.map { PublishRegistration.Item(phf: $0.piecesHashFile, url: $0.url, phfURL: $0.piecesHashFileURL) }
        var registeredAt: String?
        if let controlPlane {
            registeredAt = try PublishRegistration.registerAll(items, key: signingKey, target: .controlPlane(url: controlPlane, caFile: caFile))
        } else if local {
            let folder = PublishRegistration.Target.localDataDirectory(option: controlPlaneData)
            registeredAt = try PublishRegistration.registerAll(items, key: signingKey, target: .local(dataDirectory: folder))
        }
        var fields: [(String, JSONText.Value)] = [
            ("Files", .int(published.count)),
            ("Bytes", .int(published.reduce(0) { $0 + $1.piecesHashFile.layout.contentLength })),
            ("Catalog", .string(catalogOut!)),
        ]
        if let registeredAt { fields.append(("RegisteredAt", .string(registeredAt))) }
        if let signingKey, registeredAt != nil { fields.append(("PublisherKeyId", .string(signingKey.publicKey.keyId))) }
        print(JSONText.object(fields))
    }
}

/// Edits a catalog file in place: one entry per name, rewritten atomically.
enum CatalogFile {
    static func upsert(path: String, name: String, url: String, phfURL: String, hashOfHashes: String) throws {
        var entries: [[String: Any]] = []
        if let data = FileManager.default.contents(atPath: path), !data.isEmpty {
            guard let existing = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
                throw UserFacingError("it is not a JSON array of entries")
            }
            entries = existing.filter { ($0["name"] as? String) != name }
        }
        entries.append([
            "name": name, "url": url,
            "integrity": ["PiecesHashFileUrl": phfURL, "HashOfHashes": hashOfHashes],
        ])
        let data = try JSONSerialization.data(withJSONObject: entries, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        _ = try Catalog.parse([UInt8](data))  // never write a catalog that mount would refuse
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
