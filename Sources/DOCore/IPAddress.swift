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

    /// True for an address reachable across the Internet: not private (RFC 1918, RFC 4193), shared
    /// (RFC 6598, carrier-grade NAT), loopback, link-local or unspecified. A swarm's LAN is the set of
    /// members behind one public address (do-protocol.md 4.4).
    public static func isPublic(_ text: String) -> Bool {
        let text = normalized(text)
        if let v4 = ipv4(text) {
            let nonPublic: [(UInt32, UInt32)] = [
                (0x0A00_0000, 0xFF00_0000), (0xAC10_0000, 0xFFF0_0000), (0xC0A8_0000, 0xFFFF_0000),
                (0x6440_0000, 0xFFC0_0000), (0x7F00_0000, 0xFF00_0000), (0xA9FE_0000, 0xFFFF_0000),
                (0x0000_0000, 0xFF00_0000),
            ]
            return !nonPublic.contains { v4 & $0.1 == $0.0 }
        }
        var addr = in6_addr()
        guard text.utf8.count <= 45, inet_pton(AF_INET6, text, &addr) == 1 else { return false }
        let bytes = withUnsafeBytes(of: addr) { Array($0) }
        if bytes.allSatisfy({ $0 == 0 }) || bytes == [UInt8](repeating: 0, count: 15) + [1] { return false }
        if bytes[0] & 0xFE == 0xFC { return false }                       // fc00::/7, unique local
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return false }   // fe80::/10, link-local
        return true
    }

    /// True when `a` and `b` are IPv4 addresses on the same network under `mask` (dotted quad).
    public static func sameSubnet(_ a: String, _ b: String, mask: String) -> Bool {
        guard let x = ipv4(a), let y = ipv4(b), let m = ipv4(mask) else { return false }
        return x & m == y & m
    }

    /// The URL host form: IPv6 literals in brackets.
    public static func urlHost(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }
}
