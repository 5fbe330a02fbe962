import DOCore

/// What a mount that pins publisher keys (`--trust-key`) believes of a content policy: only what a
/// trusted key signed, whoever served the policy.
///
/// A policy is vouched for when one of its `PublisherSignatures` verifies under a trusted key over
/// the policy's own ContentId, HashOfHashes, ContentLength and PieceSize and the signature's URL; for
/// a lookup by URL, that URL must be one a trusted key signed, and for a lookup by ID, the policy must
/// be for that ID (a genuine policy of another content is not an answer). Then:
/// - the content is fetched only from URLs a trusted key signed (other `ContentCdnUrls` are ignored);
/// - the pieces hash file must recompute to the signed HashOfHashes (do-protocol.md 9.1), whatever
///   the policy's `DofsHashOfHashes` says, or a forged PHF with the right HashOfHashes string would pass.
/// So a control plane that is compromised, spoofed or wrong can withhold content, never substitute it.
public struct PublisherTrust: Sendable {
    public let keyring: PublisherKeyring

    public init(keyring: PublisherKeyring) {
        self.keyring = keyring
    }

    /// What a trusted signature vouches for.
    public struct Vouched: Equatable, Sendable {
        /// The key whose signature was accepted (for the URL asked, when asked by URL).
        public let keyId: String
        /// The URLs trusted keys signed, the one asked for first.
        public let contentUrls: [String]
    }

    /// Checks `policy`, looked up by `askedContentId` or by `askedURL`.
    public func vouch(for policy: ContentPolicy, askedContentId: String? = nil, askedURL: String?) throws(TrustRefusal) -> Vouched {
        if let askedContentId, askedURL == nil, policy.contentId != askedContentId {
            throw .otherContent(asked: askedContentId, answered: policy.contentId)
        }
        let signatures = policy.publisherSignatures ?? []
        guard !signatures.isEmpty else { throw .unsigned }
        guard let length = policy.contentLength, let pieceSize = policy.pieceSize else {
            throw .incomplete("the policy gives no ContentLength or PieceSize to check the signature over")
        }
        var valid: [URLSignature] = []
        var sawTrustedKey = false
        for signature in signatures {
            let statement = PublisherStatement(contentId: policy.contentId, hashOfHashes: policy.hashOfHashes,
                                               contentLength: length, pieceSize: pieceSize, url: signature.url)
            switch keyring.check(statement, signature.publisherSignature) {
            case .valid: valid.append(signature)
            case .invalid: sawTrustedKey = true
            case .unknownKey: break
            }
        }
        guard !valid.isEmpty else {
            if sawTrustedKey { throw .badSignature }
            throw .noTrustedKey(signedBy: Array(Set(signatures.map(\.keyId))).sorted())
        }
        let urls = valid.map(\.url)
        if let askedURL {
            guard let forURL = valid.first(where: { $0.url == askedURL }) else { throw .urlNotSigned(askedURL) }
            return Vouched(keyId: forURL.keyId, contentUrls: [askedURL] + urls.filter { $0 != askedURL })
        }
        return Vouched(keyId: valid[0].keyId, contentUrls: urls)
    }
}

/// Why a content policy is not believed.
public enum TrustRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case unsigned
    case incomplete(String)
    case noTrustedKey(signedBy: [String])
    case badSignature
    case urlNotSigned(String)
    case otherContent(asked: String, answered: String)

    public var description: String {
        switch self {
        case .unsigned: return "the content policy carries no publisher signature"
        case .incomplete(let why): return why
        case .noTrustedKey(let keys): return "it is signed only by keys this mount does not trust (\(keys.joined(separator: ", ")))"
        case .badSignature: return "a signature by a trusted key does not match the policy (altered or forged)"
        case .urlNotSigned(let url): return "no trusted publisher signed this content for URL \(url.prefix(300))"
        case .otherContent(let asked, let answered): return "the control plane answered content \(answered.prefix(200)) when asked for \(asked.prefix(200))"
        }
    }
}
