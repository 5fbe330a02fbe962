/// What a publisher vouches for when it publishes: one content, served at one URL.
///
/// The signed bytes are a fixed, length-prefixed encoding (`signedBytes`), so no two statements share
/// them whatever their fields hold. The statement is about dofs's HashOfHashes (do-protocol.md 9.1):
/// whoever checks it must also require the pieces hash file to recompute to `hashOfHashes`, or a
/// forged PHF carrying the right HashOfHashes string could pass.
public struct PublisherStatement: Equatable, Sendable {
    public var contentId: String
    /// Standard base64 of the 32-byte HashOfHashes, as in DO's JSON.
    public var hashOfHashes: String
    public var contentLength: Int
    public var pieceSize: Int
    /// The URL the content is served from (DO's altCatalogId for it).
    public var url: String

    /// Names the format; a later format gets another tag, so old signatures never match new meanings.
    static let tag = "dofs-publish-v1"

    public init(contentId: String, hashOfHashes: String, contentLength: Int, pieceSize: Int, url: String) {
        self.contentId = contentId
        self.hashOfHashes = hashOfHashes
        self.contentLength = contentLength
        self.pieceSize = pieceSize
        self.url = url
    }

    /// `tag` NUL, then for each field `Name:<byte count>:<bytes>` and a newline, in a fixed order.
    public var signedBytes: [UInt8] {
        var out = Array(Self.tag.utf8) + [0]
        for (name, value) in [("ContentId", contentId), ("HashOfHashes", hashOfHashes),
                              ("ContentLength", String(contentLength)), ("PieceSize", String(pieceSize)),
                              ("Url", url)] {
            let bytes = Array(value.utf8)
            out += Array("\(name):\(bytes.count):".utf8) + bytes + [UInt8(ascii: "\n")]
        }
        return out
    }

    /// Signs the statement.
    public func signed(with key: PublisherPrivateKey) throws(PublisherKeyError) -> PublisherSignature {
        PublisherSignature(keyId: key.publicKey.keyId, signature: Base64.encode(try key.sign(signedBytes)))
    }

    /// True when `signature` is `key`'s signature of this statement.
    public func isSigned(by key: PublisherPublicKey, _ signature: PublisherSignature) -> Bool {
        guard signature.keyId == key.keyId, let bytes = Base64.decode(signature.signature) else { return false }
        return key.isValidSignature(bytes, of: signedBytes)
    }
}

/// A publisher's signature of a `PublisherStatement`: which key, and the signature (base64).
public struct PublisherSignature: Equatable, Sendable, Codable {
    public var keyId: String
    public var signature: String

    public init(keyId: String, signature: String) {
        self.keyId = keyId
        self.signature = signature
    }

    enum CodingKeys: String, CodingKey {
        case keyId = "KeyId"
        case signature = "Signature"
    }
}

/// A set of publisher keys, by key ID: who may publish (a control plane) or whom a mount believes.
public struct PublisherKeyring: Sendable {
    private let keys: [String: PublisherPublicKey]

    public init(_ keys: [PublisherPublicKey]) {
        self.keys = Dictionary(keys.map { ($0.keyId, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Reads every key file named; the error names the file that failed.
    public init(files: [String]) throws(PublisherKeyError) {
        var keys: [PublisherPublicKey] = []
        for file in files { keys.append(try PublisherPublicKey(contentsOfFile: file)) }
        self.init(keys)
    }

    public var isEmpty: Bool { keys.isEmpty }
    public var keyIds: [String] { keys.keys.sorted() }

    public func key(id: String) -> PublisherPublicKey? { keys[id] }

    /// What checking `signature` over `statement` found.
    public func check(_ statement: PublisherStatement, _ signature: PublisherSignature) -> SignatureCheck {
        guard let key = keys[signature.keyId] else { return .unknownKey }
        return statement.isSigned(by: key, signature) ? .valid : .invalid
    }

    public enum SignatureCheck: Equatable, Sendable {
        case valid
        /// No key of this ring has the signature's key ID.
        case unknownKey
        /// The key is known, the signature does not verify.
        case invalid
    }
}
