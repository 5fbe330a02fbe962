import DOCore
import Foundation

/// Walks a dofs cache directory without assuming its layout beyond two rules: a file whose whole name is
/// 64 hex digits claims to be the piece with that SHA-256 (files with an extension, such as metadata
/// named after a hash, make no such claim); and a pack's list (`packs/N.list`, records of 56 bytes:
/// kind `A` stored / `D` dropped, 3 zero bytes, length (4, LE), offset (8, LE), SHA-256 (32), the first 8
/// bytes of the SHA-256 of the 48 before; a record that fails its check ends the list) claims that each
/// range it stores and does not drop in `packs/N.pack` is the piece with that SHA-256. One exception: a
/// file named so under `whole/` claims to be the whole content with that HashOfHashes, every piece of it
/// as its pieces hash file (`metadata/<hex>.phf`) lists them.
enum CacheInspection {
    struct Report {
        /// Pieces checked (files and packed ranges).
        var checked = 0
        /// The bytes of the pieces checked.
        var checkedBytes = 0
        /// Whole copies checked.
        var checkedCopies = 0
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
            if stem.hasSuffix(".list"), relative.contains("packs/") {
                verifyPack(list: path, relative: relative, into: &report)
                continue
            }
            guard stem.count == 64, stem.allSatisfy(\.isHexDigit) else {
                report.otherFiles += 1
                continue
            }
            if relative.hasPrefix("whole/") {
                verifyCopy(path, relative: relative, phf: "\(root)/metadata/\(stem).phf", into: &report)
                continue
            }
            report.checked += 1
            guard let data = FileManager.default.contents(atPath: path) else {
                report.mismatches.append("\(relative) (unreadable)")
                continue
            }
            report.checkedBytes += data.count
            if SHA256.hash([UInt8](data)).hex != stem { report.mismatches.append("\(relative) (\(data.count) bytes)") }
        }
        return report
    }

    private static func verifyCopy(_ path: String, relative: String, phf phfPath: String, into report: inout Report) {
        report.checkedCopies += 1
        guard let json = FileManager.default.contents(atPath: phfPath), let phf = try? PiecesHashFile(json: [UInt8](json)),
              let bytes = FileManager.default.contents(atPath: path).map({ [UInt8]($0) }) else {
            return report.mismatches.append("\(relative) (unreadable, or no pieces hash file beside it)")
        }
        guard bytes.count == phf.layout.contentLength else {
            return report.mismatches.append("\(relative) (\(bytes.count) bytes, the content has \(phf.layout.contentLength))")
        }
        for index in 0..<phf.layout.pieceCount where SHA256.hash(bytes[phf.layout.range(ofPiece: index)]) != phf.pieces[index] {
            return report.mismatches.append("\(relative) (piece \(index))")
        }
    }

    private static func verifyPack(list path: String, relative: String, into report: inout Report) {
        let records = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
        let pack = [UInt8](FileManager.default.contents(atPath: String(path.dropLast(5)) + ".pack") ?? Data())
        var stored: [Int: (digest: [UInt8], length: Int)] = [:]
        var at = 0
        while at + 56 <= records.count {
            let r = Array(records[at..<(at + 56)])
            guard Array(SHA256.hash(r[0..<48]).bytes.prefix(8)) == Array(r[48..<56]) else { break }
            let length = r[4..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
            let offset = r[8..<16].reversed().reduce(0) { $0 << 8 | Int($1) }
            if r[0] == UInt8(ascii: "A") { stored[offset] = (Array(r[16..<48]), length) } else { stored[offset] = nil }
            at += 56
        }
        for (offset, piece) in stored {
            report.checked += 1
            report.checkedBytes += piece.length
            guard offset + piece.length <= pack.count else {
                report.mismatches.append("\(relative): \(piece.length) bytes at \(offset), past the pack's end")
                continue
            }
            if SHA256.hash(pack[offset..<(offset + piece.length)]).bytes != piece.digest {
                report.mismatches.append("\(relative): \(piece.length) bytes at \(offset)")
            }
        }
    }
}
