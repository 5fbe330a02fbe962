import Foundation

/// Address parsing and IPv4 subnet arithmetic for the swarm's LAN matching.
public enum IPAddress {
    /// The 32-bit value of a dotted-quad IPv4 address (`nil` for anything else).
    public static func ipv4(_ text: String) -> UInt32? {
        var addr = in_addr()
        guard text.utf8.count <= 15, inet_pton(AF_INET, text, &addr) == 1 else { return nil }
        return UInt32(bigEndian: addr.s_addr)
    }

    /// True for a literal IPv6 address.
    public static func isIPv6(_ text: String) -> Bool {
        var addr = in6_addr()
        return text.utf8.count <= 45 && inet_pton(AF_INET6, text, &addr) == 1
    }

    public static func isValid(_ text: String) -> Bool { ipv4(text) != nil || isIPv6(text) }

    /// `::ffff:a.b.c.d` (how a dual-stack socket reports an IPv4 peer) becomes `a.b.c.d`.
    public static func normalized(_ text: String) -> String {
        let lower = text.lowercased()
        if lower.hasPrefix("::ffff:"), ipv4(String(text.dropFirst(7))) != nil { return String(text.dropFirst(7)) }
        return text
    }

    /// The URL host form: IPv6 literals in brackets.
    public static func urlHost(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }
}
