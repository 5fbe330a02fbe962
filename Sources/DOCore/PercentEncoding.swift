/// RFC 3986 percent-encoding for one query value or path segment.
///
/// Everything but the unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded, so a URL passed as
/// `altCatalogId=` survives intact (its own `?`, `&`, `=` and `%` included). Decoding is strict: a `%`
/// not followed by two hex digits, or bytes that are not UTF-8, fail instead of passing through.
public enum PercentEncoding {
    public static func encode(_ text: String) -> String {
        encode(text, keeping: isUnreserved)
    }

    /// Encodes one path segment: like `encode`, but keeps `=`, `:` and `@`, which are legal in a path
    /// segment (RFC 3986 3.3) and appear in content IDs (base64 padding).
    public static func encodePathSegment(_ text: String) -> String {
        encode(text) { isUnreserved($0) || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "@") }
    }

    private static func encode(_ text: String, keeping keep: (UInt8) -> Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if keep(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + hex(byte >> 4) + hex(byte & 0x0f)
            }
        }
        return out
    }

    /// Decodes `%XX` escapes; `plusIsSpace` also maps `+` to a space (HTML form encoding).
    public static func decode(_ text: Substring, plusIsSpace: Bool = false) -> String? {
        var bytes = [UInt8]()
        bytes.reserveCapacity(text.utf8.count)
        var it = text.utf8.makeIterator()
        while let c = it.next() {
            switch c {
            case UInt8(ascii: "%"):
                guard let hi = it.next().flatMap(hexValue), let lo = it.next().flatMap(hexValue) else { return nil }
                bytes.append(hi << 4 | lo)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(c)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static func hex(_ nibble: UInt8) -> String {
        String(UnicodeScalar(nibble < 10 ? nibble + 48 : nibble + 55))
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - 48
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - 87
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - 55
        default: return nil
        }
    }
}

/// Builds `url?name=value&...`, appending with `&` when the URL already has a query.
public enum QueryString {
    public static func append(_ parameters: [(String, String)], to url: String) -> String {
        guard !parameters.isEmpty else { return url }
        let query = parameters.map { PercentEncoding.encode($0.0) + "=" + PercentEncoding.encode($0.1) }
            .joined(separator: "&")
        if url.contains("?") {
            return url.hasSuffix("?") || url.hasSuffix("&") ? url + query : url + "&" + query
        }
        return url + "?" + query
    }

    /// Parses a raw query string. `nil` when an escape is malformed.
    public static func parse(_ query: String?) -> [(name: String, value: String)]? {
        guard let query, !query.isEmpty else { return [] }
        var out: [(name: String, value: String)] = []
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentEncoding.decode(pieces[0], plusIsSpace: true),
                  let value = PercentEncoding.decode(pieces.count > 1 ? pieces[1] : "", plusIsSpace: true) else {
                return nil
            }
            out.append((name, value))
        }
        return out
    }
}
