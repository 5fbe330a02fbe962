import Foundation

/// Reads /proc/mounts.
enum MountTable {
    /// One line of /proc/mounts, octal escapes (`\040` for a space) decoded.
    struct Entry: Equatable {
        let source: String
        let mountpoint: String
        let type: String
        let options: String
    }

    static func entries() -> [Entry] {
        guard let text = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: false).map { unescape(String($0)) }
            guard f.count >= 4 else { return nil }
            return Entry(source: f[0], mountpoint: f[1], type: f[2], options: f[3])
        }
    }

    static func entry(at mountpoint: String) -> Entry? {
        entries().last { $0.mountpoint == mountpoint }
    }

    static func isMounted(_ mountpoint: String) -> Bool { entry(at: mountpoint) != nil }

    static func mountpoints(under directory: String) -> [String] {
        entries().map(\.mountpoint).filter { $0 == directory || $0.hasPrefix(directory + "/") }
    }

    private static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = [UInt8]()
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
               let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
