import ArgumentParser
import DOEngine
import DONode
import Foundation

/// `dofs status`: what the node on --socket holds and serves, and where its bytes came from.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the node: uptime, cache, mounts, and per content where the bytes came from.",
        discussion: """
        Per mount and per content it opened: pieces HAVE/TOTAL, bytes by source (cdn, cache host, peer, and \
        local: reads answered from the piece cache), the hit rate (local bytes over all bytes), pieces in \
        flight, readers, peers connected and banned, and the scored source table (per peer, cache host and \
        CDN URL: pieces, bytes, p50/p95 piece time, failures, timeouts, bad pieces, budget, score, drops); \
        then the cache hosts and their bans. Network sources \
        count whole pieces fetched, once each; local counts the bytes of reads. `getfattr -n user.dofs.stats \
        MOUNTPOINT` gives a mount's totals as JSON.
        """)

    @OptionGroup var node: NodeClientOptions

    @Flag(name: .customLong("json"), help: "Print the status as one JSON document.")
    var json = false

    func run() throws {
        guard let status = try node.ask("dofs status", .status).status else {
            throw UserFacingError("dofs status: the node sent no status (an older node?)")
        }
        if json { return try JSONOutput.print(status) }
        print(Self.text(status), terminator: "")
    }

    static func text(_ s: NodeStatus) -> String {
        var out = "dofs node \(s.version), process \(s.pid), up \(Human.duration(s.uptimeSeconds))\n"
        let cap = s.cache.capBytes.map { " of \(Human.bytes($0))" } ?? " (no cap)"
        out += "cache \(s.cache.directory): \(Human.bytes(s.cache.bytes))\(cap), \(s.cache.pieces) pieces\n"
        for host in s.cacheHosts {
            var bans: [String] = []
            if let all = host.bannedSeconds { bans.append("banned for \(Human.duration(all))") }
            for (origin, left) in host.bannedForOrigins.sorted(by: { $0.key < $1.key }) {
                bans.append("banned for \(origin) for \(Human.duration(left))")
            }
            out += "cache host \(host.host): \(bans.isEmpty ? "usable" : bans.joined(separator: ", "))"
            out += host.badPieces > 0 ? ", \(host.badPieces) bad piece(s)\n" : "\n"
        }
        for path in s.backgroundPrefetches { out += "prefetching in the background: \(path)\n" }
        if s.mounts.isEmpty { out += "no mounts\n" }
        for mount in s.mounts {
            out += "\nmount \(mount.mountpoint)\(mount.catalog.map { " (catalog \($0))" } ?? ""): "
            out += "\(mount.totals.contents) content(s) opened, \(mount.totals.readers) reader(s), "
            out += "\(mount.totals.piecesInFlight) piece(s) in flight, hit rate \(Human.percent(mount.hitRate))\n"
            out += "  " + traffic(mount.totals.bytes) + "\n"
            for c in mount.contents {
                out += "  \(c.path)\n"
                out += "    \(c.mode)\(c.contentId.map { " \($0)" } ?? ""), pieces \(c.piecesHave)/\(c.piecesTotal), "
                out += "\(c.piecesInFlight) in flight, \(c.readers) reader(s), peers \(c.peersConnected) (\(c.peersBanned) banned), "
                out += "hit rate \(Human.percent(c.hitRate))\n"
                out += "    " + traffic(c.bytes) + "\n"
                if let reason = c.modeReason { out += "    simple because \(reason)\n" }
                for row in c.sources ?? [] { out += "    " + source(row) + "\n" }
            }
        }
        return out
    }

    /// One row of the scored source table.
    static func source(_ r: SourceScore) -> String {
        func ms(_ s: Double?) -> String { s.map { "\(Int(($0 * 1000).rounded())) ms" } ?? "-" }
        var line = "source \(r.source) (\(r.kind.rawValue)): \(r.pieces) piece(s), \(Human.bytes(r.bytes)), "
        line += "p50 \(ms(r.p50Seconds)), p95 \(ms(r.p95Seconds)), budget \(ms(r.budgetSeconds)), score \(ms(r.score)), "
        line += "\(r.failures) failure(s), \(r.timeouts) timeout(s), \(r.badPieces) bad"
        if r.ownerMisses > 0 { line += ", \(r.ownerMisses) owner miss(es)" }
        if let left = r.droppedSeconds { line += ", dropped for \(Human.duration(left))" }
        return line
    }

    static func traffic(_ t: Traffic) -> String {
        SourceKind.allCases.map { "\($0.rawValue) \(Human.bytes(t[$0]))" }.joined(separator: ", ")
    }
}
