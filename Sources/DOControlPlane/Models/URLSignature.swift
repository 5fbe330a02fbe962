import DOCore

/// A publisher's signature of one content at one URL (`PublisherStatement`), as the registry keeps it
/// and content policies carry it (`PublisherSignatures`, a dofs extension).
public struct URLSignature: Codable, Equatable, Sendable {
    public var url: String
    public var keyId: String
    /// Base64 of the 64-byte Ed25519 signature.
    public var signature: String

    public init(url: String, keyId: String, signature: String) {
        self.url = url
        self.keyId = keyId
        self.signature = signature
    }

    public init(url: String, _ signature: PublisherSignature) {
        self.init(url: url, keyId: signature.keyId, signature: signature.signature)
    }

    public var publisherSignature: PublisherSignature { PublisherSignature(keyId: keyId, signature: signature) }

    enum CodingKeys: String, CodingKey {
        case url = "Url"
        case keyId = "KeyId"
        case signature = "Signature"
    }
}
