/// A fast path for reading a join body: DO's join bodies are one flat JSON object of plain ASCII
/// strings, and `JSONDecoder` spent about a tenth of a join's CPU on them (it builds a tree, and
/// looks keys up through `Codable`'s generic machinery).
///
/// ## Contract
/// `flat(_:)` returns a request only for a body it reads completely: one object whose values are all
/// strings of printable ASCII without escapes, every key at most once, nothing but whitespace
/// around. For such a body the result equals what `JSONDecoder` decodes (unknown keys ignored, as
/// there). For any other body, valid or not, it returns `nil` and the caller decodes with
/// `JSONDecoder`, which accepts, refuses and describes errors as before: the fast path never
/// accepts what the decoder would refuse, and never changes a value.
extension JoinRequest {
    public static func flat(_ body: some Collection<UInt8>) -> JoinRequest? {
        var reader = FlatJSONReader(Array(body))
        return reader.read()
    }
}

/// The reader behind `JoinRequest.flat`: a cursor over the body's bytes.
private struct FlatJSONReader {
    private let bytes: [UInt8]
    private var at = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func read() -> JoinRequest? {
        skipSpace()
        guard take(UInt8(ascii: "{")) else { return nil }
        var request = JoinRequest()
        var seen = Set<JoinRequest.CodingKeys>()
        skipSpace()
        if !take(UInt8(ascii: "}")) {
            while true {
                skipSpace()
                guard let key = string() else { return nil }
                skipSpace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                guard let value = string() else { return nil }
                if let field = JoinRequest.CodingKeys(rawValue: key) {
                    guard seen.insert(field).inserted else { return nil }
                    request.set(field, value)
                }
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return nil }
                break
            }
        }
        skipSpace()
        return at == bytes.count ? request : nil
    }

    /// A string of printable ASCII without escapes; `nil` for anything else (the decoder decides).
    private mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = at
        while at < bytes.count {
            let byte = bytes[at]
            if byte == UInt8(ascii: "\"") {
                defer { at += 1 }
                return String(decoding: bytes[start..<at], as: UTF8.self)
            }
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
            at += 1
        }
        return nil
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard at < bytes.count, bytes[at] == byte else { return false }
        at += 1
        return true
    }

    private mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0A, 0x0D: at += 1
            default: return
            }
        }
    }
}

private extension JoinRequest {
    mutating func set(_ field: CodingKeys, _ value: String) {
        switch field {
        case .contentId: contentId = value
        case .altCatalogId: altCatalogId = value
        case .peerId: peerId = value
        case .reportedIp: reportedIp = value
        case .subnetMask: subnetMask = value
        case .ipv6: ipv6 = value
        case .isBackground: isBackground = value
        case .clientDialectVersionMajor: clientDialectVersionMajor = value
        case .clientDialectVersionMinor: clientDialectVersionMinor = value
        case .clientDialectVersionBuild: clientDialectVersionBuild = value
        case .clientDialectVersionRevision: clientDialectVersionRevision = value
        case .clientCompactVersion: clientCompactVersion = value
        case .uploaded: uploaded = value
        case .downloaded: downloaded = value
        case .downloadedCdn: downloadedCdn = value
        case .downloadedDoinc: downloadedDoinc = value
        case .left: left = value
        case .uploadedBPS: uploadedBPS = value
        case .downloadedBPS: downloadedBPS = value
        case .httpDelayLeftSecs: httpDelayLeftSecs = value
        case .joinRequestEvent: joinRequestEvent = value
        case .restrictedUpload: restrictedUpload = value
        case .peersWanted: peersWanted = value
        case .groupId: groupId = value
        case .scope: scope = value
        case .profile: profile = value
        case .seq: seq = value
        case .port: port = value
        }
    }
}
