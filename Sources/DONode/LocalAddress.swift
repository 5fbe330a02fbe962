import DOCore
import Foundation

/// This machine's address as peers on the LAN see it.
enum LocalAddress {
    /// The first IPv4 address of an interface that is up and not loopback; 127.0.0.1 if there is none.
    static func firstIPv4() -> String {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return "127.0.0.1" }
        defer { freeifaddrs(list) }
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            let flags = Int32(entry.pointee.ifa_flags)
            guard let addr = entry.pointee.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET),
                  flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0 else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard getnameinfo(addr, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count),
                              nil, 0, NI_NUMERICHOST) == 0 else { continue }
            return String(cString: host)
        }
        return "127.0.0.1"
    }

    /// The netmask of the IPv4 interface whose network holds `ip` (an interface's own address first,
    /// so 127.0.0.2 finds lo's 255.0.0.0); `nil` when no interface's network holds it.
    static func subnetMask(of ip: String) -> String? {
        guard let target = IPAddress.ipv4(ip) else { return nil }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var best: (mask: UInt32, exact: Bool)?
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let addr = entry.pointee.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET),
                  let netmask = entry.pointee.ifa_netmask else { continue }
            let a = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            let m = netmask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            guard a & m == target & m else { continue }
            let exact = a == target
            if best == nil || (exact && !best!.exact) { best = (m, exact) }
        }
        return best.map { m in [24, 16, 8, 0].map { String((m.mask >> UInt32($0)) & 0xFF) }.joined(separator: ".") }
    }

    /// True when `ip` is an address of this machine (a socket can be bound to it).
    static func isAssigned(_ ip: String) -> Bool {
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, ip, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            return canBind(family: AF_INET, &v4)
        }
        if inet_pton(AF_INET6, ip, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            return canBind(family: AF_INET6, &v6)
        }
        return false
    }

    private static func canBind<Address>(family: Int32, _ address: inout Address) -> Bool {
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<Address>.size)) == 0 }
        }
    }
}
