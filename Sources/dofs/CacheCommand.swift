import ArgumentParser
import DOEngine
import DONode
import Foundation

/// `dofs cache`: the contents in the node's cache, and evicting them.
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "List or evict the contents in the node's piece cache.",
        subcommands: [CacheListCommand.self, CacheEvictCommand.self])
}

/// `dofs cache ls`.
struct CacheListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the verified contents the cache knows: content ID, name or URL, pieces, bytes, last use.")

    @OptionGroup var node: NodeClientOptions

    @Flag(name: .customLong("json"), help: "Print the list as one JSON array.")
    var json = false

    func run() throws {
        let listed = try node.ask("dofs cache ls", .cacheList).cache ?? []
        if json { return try JSONOutput.print(listed) }
        print(Self.text(listed), terminator: "")
    }

    static func text(_ listed: [CachedContents.Listed]) -> String {
        guard !listed.isEmpty else { return "the cache holds no verified content\n" }
        let rows = listed.map { c in
            [c.contentId, "\(c.piecesHave)/\(c.piecesTotal)", Human.bytes(c.bytesStored), c.copyBytes.map(Human.bytes) ?? "-",
             c.lastUse, c.name ?? c.url ?? "-"]
        }
        let header = ["CONTENT ID", "PIECES", "BYTES", "WHOLE COPY", "LAST USE", "NAME / URL"]
        let widths = (0..<header.count - 1).map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { i, cell in i < widths.count ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) : cell }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

/// `dofs cache evict`.
struct CacheEvictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evict",
        abstract: "Remove a content's pieces from the cache (refused while it is open for reading or being prefetched).",
        discussion: """
        Every stored piece of the content goes, pieces it shares with another content included (that content \
        fetches them again when read). Its pieces hash file stays, so it is still listed, with no pieces. \
        With --all, every content not in use is evicted and the ones in use are named; the exit status is \
        non-zero when any was left.
        """)

    @Argument(help: "The content ID (see `dofs cache ls`).")
    var contentId: String?

    @Flag(name: .customLong("all"), help: "Evict every content not in use.")
    var all = false

    @OptionGroup var node: NodeClientOptions

    @Flag(name: .customLong("json"), help: "Print what was evicted as JSON.")
    var json = false

    func validate() throws {
        guard (contentId == nil) == all else { throw ValidationError("name one CONTENT_ID, or --all") }
    }

    func run() throws {
        guard let report = try node.ask("dofs cache evict", .cacheEvict(contentId: contentId)).eviction else {
            throw UserFacingError("dofs cache evict: the node sent no report (an older node?)")
        }
        if json {
            try JSONOutput.print(report)
        } else {
            for e in report.evicted { print("evicted \(e.contentId): \(e.pieces) pieces, \(Human.bytes(e.bytes))") }
            for b in report.busy { print("left \(b)") }
        }
        if !report.busy.isEmpty { throw ExitCode(1) }
    }
}
