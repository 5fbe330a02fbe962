import DOCore

/// Who may publish through `POST /publish`: only holders of a key the control plane lists
/// (`--publisher-key`), proven by their signature of what they register.
///
/// A control plane with no publisher keys accepts no registration over HTTP at all: the registry of a
/// one-machine setup is written with `dofs publish --local`, whose authorization is the registry
/// file's permissions. Which URL a key may re-point is the registry's rule
/// (`RegistryError.urlOwnedByAnotherPublisher`), checked in the same transaction as the write.
enum PublisherAuthorization {
    static func authorize(_ request: PublishRequest, keyring: PublisherKeyring) throws(Rejection) {
        guard !keyring.isEmpty else {
            throw Rejection(status: .forbidden, reason: "this control plane accepts no publishers over HTTP: start it with --publisher-key PUB, or publish with `dofs publish --local` on its machine")
        }
        guard let signature = request.publisher else {
            throw Rejection(status: .unauthorized, reason: "publishing needs a publisher signature (PublisherKeyId, PublisherSignature): use `dofs publish --key FILE`")
        }
        switch keyring.check(request.statement, signature) {
        case .valid:
            return
        case .unknownKey:
            throw Rejection(status: .forbidden, reason: "publisher key \(signature.keyId.prefix(80)) is not one this control plane accepts")
        case .invalid:
            throw Rejection(status: .forbidden, reason: "the signature of publisher key \(signature.keyId) does not match this registration")
        }
    }
}
