/// One HTTP header line as curl hands it over (`Name: value\r\n`), parsed as bytes, without Foundation.
enum HeaderLine {
    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }

    /// The line without leading and trailing spaces, tabs, CR and LF.
    static func trimmed(_ line: UnsafeRawBufferPointer) -> Slice<UnsafeRawBufferPointer> {
        var lo = line.startIndex, hi = line.endIndex
        while lo < hi, isSpace(line[lo]) { lo += 1 }
        while hi > lo, isSpace(line[hi - 1]) { hi -= 1 }
        return line[lo..<hi]
    }

    /// Whether the line starts a response (`HTTP/1.1 200 OK`).
    static func isStatusLine(_ line: Slice<UnsafeRawBufferPointer>) -> Bool {
        line.starts(with: "HTTP/".utf8)
    }

    /// `(lowercased name, value)` of a `Name: value` line (value trimmed); `nil` without a colon.
    static func field(_ line: Slice<UnsafeRawBufferPointer>) -> (String, String)? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let name = String(decoding: line[..<colon].map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
        var lo = colon + 1, hi = line.endIndex
        while lo < hi, line[lo] == 0x20 || line[lo] == 0x09 { lo += 1 }
        while hi > lo, line[hi - 1] == 0x20 || line[hi - 1] == 0x09 { hi -= 1 }
        return (name, String(decoding: UnsafeRawBufferPointer(rebasing: line[lo..<hi]), as: UTF8.self))
    }
}
