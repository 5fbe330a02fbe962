import Foundation

/// The check every URL stored or followed by the control plane passes: an absolute http(s) URL with a
/// host, no whitespace or control characters, at most 4096 bytes.
public enum HTTPURL {
    public static let maxLength = 4096

    /// True when `text` is a URL dofs is willing to register, serve or follow.
    public static func isValid(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= maxLength,
              !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) else { return false }
        let lower = text.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return false }
        guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
            return false
        }
        return true
    }

    /// The URL with trailing slashes removed, so `base + "/path"` never doubles a slash.
    public static func trimmingTrailingSlashes(_ text: String) -> String {
        var s = Substring(text)
        while s.hasSuffix("/") { s = s.dropLast() }
        return String(s)
    }
}
