import Foundation

/// One request an origin served, as its access log recorded it.
struct AccessLogEntry: Equatable, CustomStringConvertible {
    let method: String
    let uri: String
    let status: Int
    /// Body bytes the origin sent (for an aborted transfer: the part sent before the abort).
    let bodyBytes: Int
    /// The request's Range header, empty when it had none.
    let range: String
    /// The request's User-Agent (nginx's log only; empty elsewhere).
    let userAgent: String

    /// The first byte range of the Range header (`bytes=a-b`, `bytes=a-`), clipped to `contentLength`;
    /// the whole content when there is no Range header.
    func requestedBytes(contentLength: Int) -> ClosedRange<Int>? {
        guard contentLength > 0 else { return nil }
        guard range.hasPrefix("bytes=") else { return 0...(contentLength - 1) }
        let first = range.dropFirst(6).split(separator: ",").first.map(String.init) ?? ""
        let parts = first.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { return nil }
        if parts[0].isEmpty, let suffix = Int(parts[1]) {   // bytes=-N: the last N bytes
            return max(0, contentLength - suffix)...(contentLength - 1)
        }
        guard let start = Int(parts[0]), start < contentLength else { return nil }
        let end = Int(parts[1]).map { min($0, contentLength - 1) } ?? contentLength - 1
        return start <= end ? start...end : nil
    }

    var description: String { "\(method) \(uri) \(status) \(bodyBytes) range=\(range.isEmpty ? "-" : range)" }

    /// Parses a line of the tab-separated format both test origins write:
    /// `METHOD<TAB>URI<TAB>STATUS<TAB>BODY_BYTES<TAB>RANGE` (nginx writes `-` for a missing header).
    init?(line: Substring) {
        let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard f.count >= 5, let status = Int(f[2]), let bytes = Int(f[3]) else { return nil }
        method = f[0]
        uri = f[1]
        self.status = status
        bodyBytes = bytes
        range = f[4] == "-" ? "" : f[4]
        userAgent = f.count > 5 && f[5] != "-" ? f[5] : ""
    }

    static func parse(file path: String) -> [AccessLogEntry] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { AccessLogEntry(line: $0) }
    }
}

extension Array where Element == AccessLogEntry {
    /// GET requests that carried a Range header.
    var rangeRequests: [AccessLogEntry] { filter { $0.method == "GET" && !$0.range.isEmpty } }
    var gets: [AccessLogEntry] { filter { $0.method == "GET" } }
    var bodyBytes: Int { reduce(0) { $0 + $1.bodyBytes } }
}

/// Waits until the access log at `path` has not grown for `quiet` seconds (at most `timeout`), so that
/// requests finishing just after a read returned are counted.
func settleLog(_ path: String, quiet: TimeInterval = 0.3, timeout: TimeInterval = 5) {
    func size() -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1 }
    var last = size()
    var lastChange = Date()
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        Thread.sleep(forTimeInterval: 0.05)
        let now = size()
        if now != last {
            last = now
            lastChange = Date()
        } else if Date().timeIntervalSince(lastChange) >= quiet {
            return
        }
    }
}
