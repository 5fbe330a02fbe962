import Foundation
import XCTest

/// One `GET /metrics` of a node, fetched with curl and parsed from Prometheus' text format.
struct MetricsScrape {
    /// `name{labels}` as written -> value; comment lines skipped.
    let samples: [String: Double]
    /// The body as served.
    let text: String

    subscript(_ series: String) -> Double? { samples[series] }

    /// Scrapes 127.0.0.1:`port`; throws when nothing answers with a 2xx or a line is not `series value`.
    static func get(port: Int, logDirectory: String) throws -> MetricsScrape {
        let out = try ChildProcess.run("curl", ["-sSf", "--max-time", "5", "http://127.0.0.1:\(port)/metrics"],
                                       logDirectory: logDirectory, timeout: 15)
        guard out.succeeded else {
            throw ChildProcess.Failure(description: "GET /metrics on 127.0.0.1:\(port): \(out.termination): \(out.stderr)")
        }
        var samples: [String: Double] = [:]
        for row in out.stdout.split(separator: "\n") where !row.hasPrefix("#") && !row.isEmpty {
            guard let space = row.lastIndex(of: " "), let value = Double(row[row.index(after: space)...]) else {
                throw ChildProcess.Failure(description: "not `name{labels} value`: \(row)")
            }
            samples[String(row[..<space])] = value
        }
        return MetricsScrape(samples: samples, text: out.stdout)
    }
}
