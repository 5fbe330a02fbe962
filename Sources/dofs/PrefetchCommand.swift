import ArgumentParser
import DOEngine
import DONode
import Foundation

/// `dofs prefetch`: fetches whole contents into the node's cache, with a progress bar on a terminal.
struct PrefetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefetch",
        abstract: "Fetch whole files of a dofs mount into the node's cache.",
        discussion: """
        Each PATH is a file on a mount of the node on --socket (a catalog name, by-id/<id> or \
        by-url/<percent-encoded URL>). The node fetches every piece not cached yet, verifies it and stores \
        it; on a terminal a progress bar shows bytes, rate, ETA and sources, otherwise a plain line every \
        few seconds. Exits 0 when every piece of every PATH is verified and cached; 1 with the reason when \
        one could not be fetched or kept (a cache cap too small); 2 when everything was cached but a content \
        is in simple mode (nothing vouches for its bytes). With --background the node keeps fetching after \
        the command returns (see `dofs status`). Reading a file whole (`cat`) caches it too.
        """)

    @Argument(help: "Files on a dofs mount.")
    var paths: [String]

    @Flag(name: .customLong("background"), help: "Return at once; the node goes on fetching.")
    var background = false

    @OptionGroup var node: NodeClientOptions

    @Flag(name: .customLong("json"), help: "Print each outcome as a JSON line (no progress).")
    var json = false

    func run() throws {
        var failed = 0
        var unverified = 0
        for path in paths {
            let absolute = Self.absolute(path)
            let display = PrefetchDisplay(name: (path as NSString).lastPathComponent,
                                          live: !json && !background && isatty(STDOUT_FILENO) == 1, quiet: json || background)
            do {
                let answer = try node.ask("dofs prefetch", .prefetch(path: absolute, background: background)) { display.show($0) }
                guard let outcome = answer.prefetch else { throw UserFacingError("dofs prefetch: the node sent no outcome") }
                display.finish()
                PrefetchDisplay.line(json ? try JSONOutput.text(outcome, pretty: false) : display.summary(outcome))
                if outcome.mode != "verified", !outcome.background { unverified += 1 }
            } catch {
                display.finish()
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                failed += 1
            }
        }
        if failed > 0 { throw ExitCode(1) }
        if unverified > 0 { throw ExitCode(2) }
    }

    /// `path` made absolute, `.` and `..` removed, symlinks left alone (the node resolves them when needed).
    static func absolute(_ path: String) -> String {
        let joined = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var parts: [Substring] = []
        for part in joined.split(separator: "/") where part != "." {
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }
}

/// How a prefetch looks while it runs: a bar redrawn in place on a terminal, plain lines otherwise.
final class PrefetchDisplay {
    let name: String
    let live: Bool
    let quiet: Bool
    private var drawn = false
    private var lastPlain: Date?
    /// Plain lines (logs, pipes) at most this often.
    static let plainEverySeconds = 2.0

    init(name: String, live: Bool, quiet: Bool) {
        self.name = name
        self.live = live
        self.quiet = quiet
    }

    func show(_ p: PrefetchProgress) {
        guard !quiet else { return }
        if live {
            FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + Self.bar(p, name: name, columns: Self.columns())).utf8))
            drawn = true
        } else if lastPlain.map({ Date().timeIntervalSince($0) >= Self.plainEverySeconds }) ?? true {
            Self.line("\(name): " + Self.figures(p))
            lastPlain = Date()
        }
    }

    /// Ends the bar's line, so what follows starts on a fresh one.
    func finish() {
        if drawn { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }

    func summary(_ o: PrefetchOutcome) -> String {
        if o.background { return "\(name): prefetching in the background (\(o.piecesCached)/\(o.piecesTotal) pieces cached so far)" }
        let sources = SourceKind.allCases.filter { $0 != .local && o.fetched[$0] > 0 }
            .map { "\($0.rawValue) \(Human.bytes(o.fetched[$0]))" }
        let fetched = sources.isEmpty ? "nothing fetched: already cached" : "fetched " + sources.joined(separator: ", ")
        var line = "\(name): \(Human.bytes(o.contentLength)) cached, \(o.piecesCached)/\(o.piecesTotal) pieces "
        line += o.mode == "verified" ? "verified" : "UNVERIFIED (simple mode: \(o.modeReason ?? "no metadata"))"
        return line + ", in \(Human.duration(o.elapsedSeconds)); \(fetched)"
    }

    static func figures(_ p: PrefetchProgress) -> String {
        let rate = p.elapsedSeconds > 0 ? Double(p.fetched.fetched) / p.elapsedSeconds : 0
        let left = p.bytesTotal - p.bytesDone
        let eta = rate > 0 ? Human.duration(Double(left) / rate) : "-"
        let sources = SourceKind.allCases.filter { $0 != .local && p.fetched[$0] > 0 }
            .map { "\($0.rawValue) \(Human.bytes(p.fetched[$0]))" }
        let percent = p.bytesTotal > 0 ? p.bytesDone * 100 / p.bytesTotal : 100
        return "\(percent)%  \(Human.bytes(p.bytesDone))/\(Human.bytes(p.bytesTotal))  \(Human.bytes(Int(rate)))/s  "
            + "ETA \(eta)  pieces \(p.piecesDone)/\(p.piecesTotal)" + (sources.isEmpty ? "" : "  from " + sources.joined(separator: ", "))
    }

    static func bar(_ p: PrefetchProgress, name: String, columns: Int) -> String {
        let width = 24
        let filled = p.bytesTotal > 0 ? p.bytesDone * width / p.bytesTotal : width
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
        let line = "\(name.count > 24 ? String(name.prefix(23)) + "…" : name) \(bar) " + figures(p)
        return String(line.prefix(max(20, columns - 1)))
    }

    /// Writes a line now (unbuffered, so it stays in order with the bar's writes).
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    private static func columns() -> Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 100 }
        return Int(size.ws_col)
    }
}
