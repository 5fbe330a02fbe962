import ArgumentParser
import DOCore

/// `dofs keygen`: a publisher's Ed25519 key pair.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a publisher key pair (Ed25519): DIR/publisher.key (mode 0600) and DIR/publisher.pub.",
        discussion: """
        Sign registrations with `dofs publish --key DIR/publisher.key`; let a control plane accept them with \
        `dofs control-plane --publisher-key DIR/publisher.pub`, and make mounts believe only them with \
        `dofs mount --trust-key DIR/publisher.pub` (or a copy in /etc/dofs/trusted-keys/). The files are PEM \
        (PKCS#8 and SubjectPublicKeyInfo), so OpenSSL reads them too. Existing key files are never replaced.
        """
    )

    @Option(help: "The folder to write the key pair into (created if missing).")
    var out: String

    func run() throws {
        do {
            let key = try PublisherPrivateKey.generate()
            try PublisherKeyFile.writePair(key, folder: out)
            print(JSONText.object([
                ("KeyId", .string(key.publicKey.keyId)),
                ("PrivateKey", .string(out + "/" + PublisherKeyFile.privateKeyName)),
                ("PublicKey", .string(out + "/" + PublisherKeyFile.publicKeyName)),
            ]))
        } catch {
            throw UserFacingError("dofs keygen: \(error)")
        }
    }
}
