import Foundation

/// DO's pieces hash file (PHF): the SHA-256 of every piece of a content, plus its HashOfHashes.
///
/// Parsing checks the *shape* (version, base64 widths, piece count = ceil(length / piece size)); whether
/// the file is *trusted* is a separate question answered by `verified(against:)`, which compares its
/// HashOfHashes with the one from a trusted channel (catalog, control plane).
public struct PiecesHashFile: Equatable, Sendable {
    /// Larger pieces would make a single piece fetch unreasonably large; DO uses 1 MiB.
    public static let maxPieceSize = 64 << 20

    public var majorVersion: Int
    public var minorVersion: Int
    public var hashOfHashes: SHA256Digest
    public var layout: PieceLayout
    public var pieces: [SHA256Digest]

    public init(majorVersion: Int = 1, minorVersion: Int = 0, hashOfHashes: SHA256Digest,
                layout: PieceLayout, pieces: [SHA256Digest]) {
        self.majorVersion = majorVersion
        self.minorVersion = minorVersion
        self.hashOfHashes = hashOfHashes
        self.layout = layout
        self.pieces = pieces
    }

    /// Builds the PHF dofs publishes: HashOfHashes computed per do-protocol.md section 9.1.
    public init(layout: PieceLayout, pieces: [SHA256Digest]) {
        precondition(pieces.count == layout.pieceCount)
        self.init(hashOfHashes: HashOfHashes.compute(pieces), layout: layout, pieces: pieces)
    }

    public var contentId: ContentId { ContentId(hashOfHashes: hashOfHashes) }

    /// Parses and shape-checks a PHF.
    public init(json: [UInt8]) throws(MetadataError) {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(json))
        } catch {
            throw .malformedJSON(Self.describe(error))
        }
        guard wire.MajorVersion == 1 else {
            throw .unsupportedVersion(major: wire.MajorVersion, minor: wire.MinorVersion)
        }
        guard let hoh = SHA256Digest(base64: wire.HashOfHashes) else { throw .invalidHashOfHashes(wire.HashOfHashes) }
        guard wire.ContentLength >= 0, wire.ContentLength <= PieceLayout.maxContentLength else {
            throw .invalidContentLength(wire.ContentLength)
        }
        guard wire.PieceSize > 0, wire.PieceSize <= Self.maxPieceSize else { throw .invalidPieceSize(wire.PieceSize) }
        let layout = PieceLayout(contentLength: wire.ContentLength, pieceSize: wire.PieceSize)
        guard wire.Pieces.count == layout.pieceCount else {
            throw .pieceCountMismatch(expected: layout.pieceCount, found: wire.Pieces.count)
        }
        var pieces = [SHA256Digest]()
        pieces.reserveCapacity(wire.Pieces.count)
        for (i, text) in wire.Pieces.enumerated() {
            guard let d = SHA256Digest(base64: text) else { throw .invalidPieceHash(index: i, value: String(text.prefix(60))) }
            pieces.append(d)
        }
        self.init(majorVersion: wire.MajorVersion, minorVersion: wire.MinorVersion,
                  hashOfHashes: hoh, layout: layout, pieces: pieces)
    }

    /// Checks this PHF against a trusted HashOfHashes.
    ///
    /// DO's own content can only be string-compared (its HashOfHashes algorithm is not public);
    /// with `requireRecompute` (dofs-published content) the pieces must also hash to it.
    public func verify(against trusted: SHA256Digest, requireRecompute: Bool) throws(MetadataError) {
        guard hashOfHashes == trusted else {
            throw .hashOfHashesMismatch(expected: trusted.base64, found: hashOfHashes.base64)
        }
        if requireRecompute {
            let computed = HashOfHashes.compute(pieces)
            guard computed == hashOfHashes else {
                throw .hashOfHashesNotRecomputed(declared: hashOfHashes.base64, computed: computed.base64)
            }
        }
    }

    /// True when the pieces hash to the declared HashOfHashes with dofs's algorithm (section 9.1).
    public var isDofsHashOfHashes: Bool { HashOfHashes.compute(pieces) == hashOfHashes }

    /// Serialises in DO's key order (MajorVersion, MinorVersion, HashOfHashes, ContentLength, PieceSize, Pieces).
    public func jsonBytes() -> [UInt8] {
        var s = "{\"MajorVersion\":\(majorVersion),\"MinorVersion\":\(minorVersion),"
        s += "\"HashOfHashes\":\"\(hashOfHashes.base64)\",\"ContentLength\":\(layout.contentLength),"
        s += "\"PieceSize\":\(layout.pieceSize),\"Pieces\":["
        s += pieces.map { "\"\($0.base64)\"" }.joined(separator: ",")
        s += "]}"
        return Array(s.utf8)
    }

    private struct Wire: Decodable {
        var MajorVersion: Int
        var MinorVersion: Int
        var HashOfHashes: String
        var ContentLength: Int
        var PieceSize: Int
        var Pieces: [String]
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing key \(key.stringValue)"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted(let ctx): return ctx.debugDescription
        default: return "\(error)"
        }
    }
}

/// dofs's HashOfHashes: SHA-256 over the raw 32-byte piece hashes in piece order (do-protocol.md 9.1).
public enum HashOfHashes {
    public static func compute(_ pieces: [SHA256Digest]) -> SHA256Digest {
        let h = SHA256Hasher()
        for p in pieces { h.update(p.bytes) }
        return h.finish()
    }
}
