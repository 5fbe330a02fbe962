import DOCore

/// A registration that passed every check; the only input `Registry.register` accepts.
///
/// Checks (`init(validating:)`): the content ID is valid (`ContentId(_:)`), and a `DO-` ID encodes the
/// HashOfHashes given; the HashOfHashes is base64 of 32 bytes; ContentLength >= 0 and 1 <= PieceSize <=
/// 64 MiB; the URLs are absolute http(s). With a PHF: its HashOfHashes, ContentLength and PieceSize equal
/// the request's, its pieces hash to that HashOfHashes with dofs's algorithm (do-protocol.md 9.1), and
/// the content ID is the one dofs derives from it (9.2).
///
/// `publisher` is carried as given: whoever accepts the registration decides whether that signature
/// authorizes it (`PublisherAuthorization` over HTTP; file permissions for a local registry).
public struct Registration: Equatable, Sendable {
    public let contentId: ContentId
    public let hashOfHashes: SHA256Digest
    public let layout: PieceLayout
    public let url: String
    public let piecesHashFileUrl: String?
    public let piecesHashFile: PiecesHashFile?
    /// The publisher's signature of `statement`, `nil` for an unsigned local registration.
    public let publisher: PublisherSignature?
    /// What `publisher` signed.
    public let statement: PublisherStatement

    public init(validating request: PublishRequest) throws(RegistrationError) {
        let id: ContentId
        do {
            id = try ContentId(request.contentId)
        } catch {
            throw .invalidContentId(request.contentId)
        }
        guard let hoh = SHA256Digest(base64: request.hashOfHashes) else {
            throw .invalidHashOfHashes(request.hashOfHashes)
        }
        if let encoded = id.hashOfHashes, encoded != hoh {
            throw .contentIdMismatch(contentId: id.rawValue, expected: ContentId(hashOfHashes: hoh).rawValue)
        }
        guard request.contentLength >= 0 else { throw .invalidContentLength(request.contentLength) }
        guard request.pieceSize > 0, request.pieceSize <= PiecesHashFile.maxPieceSize else {
            throw .invalidPieceSize(request.pieceSize)
        }
        guard HTTPURL.isValid(request.url) else { throw .invalidURL(field: "Url", value: request.url) }
        if let phfURL = request.piecesHashFileUrl, !HTTPURL.isValid(phfURL) {
            throw .invalidURL(field: "PiecesHashFileUrl", value: phfURL)
        }
        if let phf = request.piecesHashFile {
            do {
                try phf.verify(against: hoh, requireRecompute: true)
            } catch {
                throw .piecesHashFileRejected(error)
            }
            guard phf.layout.contentLength == request.contentLength else {
                throw .piecesHashFileDisagrees(field: "ContentLength", request: "\(request.contentLength)",
                                               piecesHashFile: "\(phf.layout.contentLength)")
            }
            guard phf.layout.pieceSize == request.pieceSize else {
                throw .piecesHashFileDisagrees(field: "PieceSize", request: "\(request.pieceSize)",
                                               piecesHashFile: "\(phf.layout.pieceSize)")
            }
            guard phf.contentId == id else {
                throw .contentIdMismatch(contentId: id.rawValue, expected: phf.contentId.rawValue)
            }
        }
        contentId = id
        hashOfHashes = hoh
        layout = PieceLayout(contentLength: request.contentLength, pieceSize: request.pieceSize)
        url = request.url
        piecesHashFileUrl = request.piecesHashFileUrl
        piecesHashFile = request.piecesHashFile
        publisher = request.publisher
        statement = request.statement
    }
}

/// Why a registration was refused; every case is the publisher's mistake (HTTP 4xx).
public enum RegistrationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidContentId(String)
    case invalidHashOfHashes(String)
    case invalidContentLength(Int)
    case invalidPieceSize(Int)
    case invalidURL(field: String, value: String)
    case contentIdMismatch(contentId: String, expected: String)
    case piecesHashFileRejected(MetadataError)
    case piecesHashFileDisagrees(field: String, request: String, piecesHashFile: String)

    public var description: String {
        switch self {
        case .invalidContentId(let id):
            return "ContentId '\(id.prefix(80))' is not a valid content ID (1 to 200 of A-Z a-z 0-9 - _ . =)"
        case .invalidHashOfHashes(let v):
            return "HashOfHashes '\(v.prefix(80))' is not standard base64 of 32 bytes"
        case .invalidContentLength(let n):
            return "ContentLength \(n) is negative"
        case .invalidPieceSize(let n):
            return "PieceSize \(n) is not between 1 and \(PiecesHashFile.maxPieceSize)"
        case .invalidURL(let field, let value):
            return "\(field) '\(value.prefix(200))' is not an absolute http(s) URL"
        case .contentIdMismatch(let id, let expected):
            return "ContentId \(id) does not match its HashOfHashes: dofs's content ID for it is \(expected)"
        case .piecesHashFileRejected(let why):
            return "PiecesHashFile refused: \(why)"
        case .piecesHashFileDisagrees(let field, let request, let phf):
            return "\(field) is \(request) in the request but \(phf) in the PiecesHashFile"
        }
    }
}
