import Foundation

/// The kernel's mount table as this process sees it (`/proc/self/mountinfo`): which paths are mount
/// points, and a mount's device number, without a lookup through the mount (which would hold it busy).
public enum MountInfo {
    /// One line of the table: the mount's device ("MAJOR:MINOR") and its mount point.
    struct Entry {
        let device: String
        let mountPoint: String
    }

    /// The table's entries, oldest mount first; `table` stands in for the file in tests.
    static func entries(table: String? = nil) -> [Entry] {
        // Read to the end: `String(contentsOfFile:)` reads one page of a /proc file, and the newest
        // mounts are the last lines.
        let read = { FileHandle(forReadingAtPath: "/proc/self/mountinfo").flatMap { try? $0.readToEnd() } }
        guard let text = table ?? read().map({ String(decoding: $0, as: UTF8.self) }) else { return [] }
        // Fields: id, parent id, MAJOR:MINOR, root, mount point, ...
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? Entry(device: String(fields[2]), mountPoint: unescape(fields[4])) : nil
        }
    }

    /// "MAJOR:MINOR" of the mount at `mountpoint` (the one on top of a stack), `nil` when none is there.
    static func device(of mountpoint: String, table: String? = nil) -> String? {
        entries(table: table).last { $0.mountPoint == mountpoint }?.device
    }

    /// Whether `path` (as the kernel resolved it) is a mount point.
    public static func isMountPoint(_ path: String) -> Bool {
        entries().contains { $0.mountPoint == path }
    }

    /// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
    private static func unescape(_ field: Substring) -> String {
        var out = ""
        var chars = field.makeIterator()
        while let c = chars.next() {
            guard c == "\\" else { out.append(c); continue }
            let digits = String([chars.next(), chars.next(), chars.next()].compactMap { $0 })
            if let code = UInt8(digits, radix: 8) { out.append(Character(UnicodeScalar(code))) } else { out += "\\" + digits }
        }
        return out
    }
}
