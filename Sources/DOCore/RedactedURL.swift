import Foundation

/// URLs as they may be shown: in logs, extended attributes and error messages.
///
/// A URL can carry credentials (`http://user:secret@host/`); they are needed to fetch, never to show.
/// Everything that prints a URL goes through `redacted`, which replaces the user-info part with `***`.
public enum RedactedURL {
    /// `url` with any `user[:password]@` before the host replaced by `***@`; other text unchanged.
    public static func redacted(_ url: String) -> String {
        // Most URLs carry no user-info: one byte scan instead of the string searches below.
        guard url.utf8.contains(UInt8(ascii: "@")) else { return url }
        guard let scheme = url.range(of: "://") else { return url }
        let authorityStart = scheme.upperBound
        let authorityEnd = url[authorityStart...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? url.endIndex
        guard let at = url[authorityStart..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<authorityStart]) + "***" + String(url[at...])
    }

    /// Every http(s) URL inside `text` redacted (for messages that embed URLs among other words).
    public static func redactingURLs(in text: String) -> String {
        guard text.contains("@") else { return text }
        var out = ""
        var rest = Substring(text)
        while let start = rest.range(of: "://") {
            // Back up to the start of the scheme.
            var schemeStart = start.lowerBound
            while schemeStart > rest.startIndex, rest[rest.index(before: schemeStart)].isLetter {
                schemeStart = rest.index(before: schemeStart)
            }
            out += rest[..<schemeStart]
            let end = rest[start.upperBound...].firstIndex(where: { $0 == " " || $0 == "\"" || $0 == "'" || $0 == ")" || $0 == "," || $0 == "\n" }) ?? rest.endIndex
            out += redacted(String(rest[schemeStart..<end]))
            rest = rest[end...]
        }
        return out + rest
    }
}
