import DOCore
import Foundation

/// Walks a dofs cache directory without assuming its layout beyond one rule: a file whose whole name is
/// 64 hex digits claims to be the piece with that SHA-256 (files with an extension, such as metadata
/// named after a hash, make no such claim).
enum CacheInspection {
    struct Report {
        var checked = 0
        var otherFiles = 0
        var mismatches: [String] = []
    }

    static func verifyContentAddressedFiles(under root: String) -> Report {
        var report = Report()
        guard let walker = FileManager.default.enumerator(atPath: root) else { return report }
        while let relative = walker.nextObject() as? String {
            let path = "\(root)/\(relative)"
            guard case .success(let a) = FileIO.attributes(path), !a.isDirectory else { continue }
            let stem = URL(fileURLWithPath: path).lastPathComponent.lowercased()
            guard stem.count == 64, stem.allSatisfy(\.isHexDigit) else {
                report.otherFiles += 1
                continue
            }
            report.checked += 1
            guard let data = FileManager.default.contents(atPath: path) else {
                report.mismatches.append("\(relative) (unreadable)")
                continue
            }
            if SHA256.hash([UInt8](data)).hex != stem { report.mismatches.append("\(relative) (\(data.count) bytes)") }
        }
        return report
    }
}
