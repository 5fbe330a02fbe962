import DOCore
import Foundation

/// The body of `POST /publish`: registers one content (and one of its URLs) with a dofs control plane.
///
/// Types are strict (a number where a string belongs is refused). `PiecesHashFile` is optional; when
/// present it is a JSON object in DO's PHF format (a string holding that JSON is accepted too), and the
/// control plane checks it and serves it at `/content/{contentId}/phf`. Registering is idempotent: the
/// same content registered again adds its URL and PHF URL to what is known.
///
/// `PublisherKeyId` and `PublisherSignature` sign `statement` (content ID, HashOfHashes, length, piece
/// size, URL) with the publisher's Ed25519 key; a control plane accepts a registration over HTTP only
/// with a valid signature by a key it lists.
public struct PublishRequest: Codable, Equatable, Sendable {
    public var contentId: String
    public var hashOfHashes: String
    public var contentLength: Int
    public var pieceSize: Int
    /// `Url`: where the content is served; later found by `altCatalogId=` lookups.
    public var url: String
    /// `PiecesHashFileUrl`: where the publisher serves the PHF (optional).
    public var piecesHashFileUrl: String?
    /// `PiecesHashFile`: the PHF itself, for the control plane to check and serve (optional).
    public var piecesHashFile: PiecesHashFile?
    /// `PublisherKeyId` and `PublisherSignature`: the publisher's signature of `statement`.
    public var publisher: PublisherSignature?

    public init(contentId: String, hashOfHashes: String, contentLength: Int, pieceSize: Int, url: String,
                piecesHashFileUrl: String? = nil, piecesHashFile: PiecesHashFile? = nil,
                publisher: PublisherSignature? = nil) {
        self.contentId = contentId
        self.hashOfHashes = hashOfHashes
        self.contentLength = contentLength
        self.pieceSize = pieceSize
        self.url = url
        self.piecesHashFileUrl = piecesHashFileUrl
        self.piecesHashFile = piecesHashFile
        self.publisher = publisher
    }

    /// What a publisher's signature of this registration covers.
    public var statement: PublisherStatement {
        PublisherStatement(contentId: contentId, hashOfHashes: hashOfHashes, contentLength: contentLength,
                           pieceSize: pieceSize, url: url)
    }

    /// The same request, signed with `key`.
    public func signed(with key: PublisherPrivateKey) throws(PublisherKeyError) -> PublishRequest {
        var copy = self
        copy.publisher = try statement.signed(with: key)
        return copy
    }

    /// The request `dofs publish` sends for a PHF it made: every field taken from the PHF itself.
    public init(publishing phf: PiecesHashFile, url: String, piecesHashFileUrl: String?, includePiecesHashFile: Bool = true) {
        self.init(contentId: phf.contentId.rawValue, hashOfHashes: phf.hashOfHashes.base64,
                  contentLength: phf.layout.contentLength, pieceSize: phf.layout.pieceSize, url: url,
                  piecesHashFileUrl: piecesHashFileUrl, piecesHashFile: includePiecesHashFile ? phf : nil)
    }

    enum CodingKeys: String, CodingKey {
        case contentId = "ContentId"
        case hashOfHashes = "HashOfHashes"
        case contentLength = "ContentLength"
        case pieceSize = "PieceSize"
        case url = "Url"
        case piecesHashFileUrl = "PiecesHashFileUrl"
        case piecesHashFile = "PiecesHashFile"
        case publisherKeyId = "PublisherKeyId"
        case publisherSignature = "PublisherSignature"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        contentId = try c.decode(String.self, forKey: .contentId)
        hashOfHashes = try c.decode(String.self, forKey: .hashOfHashes)
        contentLength = try c.decode(Int.self, forKey: .contentLength)
        pieceSize = try c.decode(Int.self, forKey: .pieceSize)
        url = try c.decode(String.self, forKey: .url)
        piecesHashFileUrl = try c.decodeIfPresent(String.self, forKey: .piecesHashFileUrl)
        let keyId = try c.decodeIfPresent(String.self, forKey: .publisherKeyId)
        let signature = try c.decodeIfPresent(String.self, forKey: .publisherSignature)
        switch (keyId, signature) {
        case (nil, nil): publisher = nil
        case let (keyId?, signature?): publisher = PublisherSignature(keyId: keyId, signature: signature)
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [CodingKeys.publisherSignature],
                                                    debugDescription: "PublisherKeyId and PublisherSignature come together"))
        }
        guard c.contains(.piecesHashFile), try !c.decodeNil(forKey: .piecesHashFile) else {
            piecesHashFile = nil
            return
        }
        let json: [UInt8]
        if let text = try? c.decode(String.self, forKey: .piecesHashFile) {
            json = Array(text.utf8)
        } else {
            let document = try c.decode(PiecesHashFileDocument.self, forKey: .piecesHashFile)
            json = Array(try JSONEncoder().encode(document))
        }
        do {
            piecesHashFile = try PiecesHashFile(json: json)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [CodingKeys.piecesHashFile],
                                                    debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(contentId, forKey: .contentId)
        try c.encode(hashOfHashes, forKey: .hashOfHashes)
        try c.encode(contentLength, forKey: .contentLength)
        try c.encode(pieceSize, forKey: .pieceSize)
        try c.encode(url, forKey: .url)
        try c.encodeIfPresent(piecesHashFileUrl, forKey: .piecesHashFileUrl)
        try c.encodeIfPresent(piecesHashFile.map(PiecesHashFileDocument.init), forKey: .piecesHashFile)
        try c.encodeIfPresent(publisher?.keyId, forKey: .publisherKeyId)
        try c.encodeIfPresent(publisher?.signature, forKey: .publisherSignature)
    }
}

/// A PHF as a Codable value, with DO's key names; only used to embed one in another JSON document.
struct PiecesHashFileDocument: Codable {
    var MajorVersion: Int
    var MinorVersion: Int
    var HashOfHashes: String
    var ContentLength: Int
    var PieceSize: Int
    var Pieces: [String]

    init(_ phf: PiecesHashFile) {
        MajorVersion = phf.majorVersion
        MinorVersion = phf.minorVersion
        HashOfHashes = phf.hashOfHashes.base64
        ContentLength = phf.layout.contentLength
        PieceSize = phf.layout.pieceSize
        Pieces = phf.pieces.map(\.base64)
    }
}

/// The answer to a successful registration (`201` when the content is new, `200` when it was known).
public struct PublishResponse: Codable, Equatable, Sendable {
    public var contentId: String
    /// `Created`: true when this registration added the content, false when it was already known.
    public var created: Bool
    /// `ContentPolicyUrl`: where clients will find the content's policy.
    public var contentPolicyUrl: String
    /// `PiecesHashFileUrl`: the control plane's own copy of the PHF, when it holds one.
    public var piecesHashFileUrl: String?

    public init(contentId: String, created: Bool, contentPolicyUrl: String, piecesHashFileUrl: String?) {
        self.contentId = contentId
        self.created = created
        self.contentPolicyUrl = contentPolicyUrl
        self.piecesHashFileUrl = piecesHashFileUrl
    }

    enum CodingKeys: String, CodingKey {
        case contentId = "ContentId"
        case created = "Created"
        case contentPolicyUrl = "ContentPolicyUrl"
        case piecesHashFileUrl = "PiecesHashFileUrl"
    }
}
