/// One response header line as curl hands it over (`Name: value\r\n`), parsed from its bytes.
///
/// Why bytes and not `String` with Foundation's trimming: every piece request brings about ten
/// header lines, and Foundation's `trimmingCharacters` and `lowercased` went through `NSString`,
/// which cost 5% of the daemon's CPU on a cold 1 GiB read (`bench/results/read-20261202-032936.perf.txt`).
enum HeaderLine: Equatable {
    /// A status line (`HTTP/1.1 206 Partial Content`): a new header block starts.
    case status
    /// A header: its name in lower case, its value without surrounding blanks.
    case field(name: String, value: String)
    /// Anything else (the blank line ending the block, a malformed line): ignored.
    case other

    init(_ line: UnsafeRawBufferPointer) {
        let bytes = UnsafeBufferPointer(start: line.baseAddress?.assumingMemoryBound(to: UInt8.self), count: line.count)
        var lo = 0, hi = bytes.count
        while lo < hi, Self.isBlank(bytes[lo]) { lo += 1 }
        while hi > lo, Self.isBlank(bytes[hi - 1]) { hi -= 1 }
        let trimmed = UnsafeBufferPointer(rebasing: bytes[lo..<hi])
        if trimmed.starts(with: Self.statusPrefix) {
            self = .status
            return
        }
        guard let colon = trimmed.firstIndex(of: UInt8(ascii: ":")) else {
            self = .other
            return
        }
        var valueStart = colon + 1
        while valueStart < trimmed.count, Self.isBlank(trimmed[valueStart]) { valueStart += 1 }
        let name = String(decoding: trimmed[..<colon].lazy.map(Self.lowercased), as: UTF8.self)
        let value = String(decoding: UnsafeBufferPointer(rebasing: trimmed[valueStart...]), as: UTF8.self)
        self = .field(name: name, value: value)
    }

    private static let statusPrefix = Array("HTTP/".utf8)

    private static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }

    private static func lowercased(_ b: UInt8) -> UInt8 { (0x41...0x5A).contains(b) ? b + 0x20 : b }
}
