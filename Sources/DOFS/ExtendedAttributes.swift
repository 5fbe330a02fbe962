import DOEngine
import Foundation

/// The `user.dofs.*` attributes that show what dofs knows about a content file.
enum ExtendedAttributes {
    static let contentId = "user.dofs.content_id"
    static let mode = "user.dofs.mode"
    static let pieces = "user.dofs.pieces"
    static let sources = "user.dofs.sources"
    static let url = "user.dofs.url"
    static let modeReason = "user.dofs.mode_reason"
    /// The content's whole copy for passthrough: `ready`, `making` or `none` (large verified contents only).
    static let copy = "user.dofs.copy"
    /// On the mount root: the mount's totals (`MountTotals`) as JSON.
    static let stats = "user.dofs.stats"

    static func statsJSON(_ totals: MountTotals) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var object = StatsXattr(totals)
        object.hitRate = totals.bytes.hitRate
        return (try? encoder.encode(object)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// `user.dofs.stats`: the totals flattened, bytes per source beside the counts.
    private struct StatsXattr: Encodable {
        var contents: Int
        var readers: Int
        var piecesInFlight: Int
        var bytes: Traffic
        var hitRate: Double?

        init(_ t: MountTotals) {
            (contents, readers, piecesInFlight, bytes) = (t.contents, t.readers, t.piecesInFlight, t.bytes)
        }
    }

    static func names(of session: ContentSession) -> [String] {
        var names = [mode, pieces, sources, url]
        if session.contentId != nil { names.insert(contentId, at: 0) }
        if case .simple = session.mode { names.append(modeReason) }
        return names
    }

    static func value(_ name: String, of session: ContentSession) -> String? {
        switch name {
        case contentId: return session.contentId?.rawValue
        case mode: return session.mode.name
        case pieces: return "\(session.havePieces)/\(session.layout.pieceCount)"
        case sources: return session.sourcesJSON
        case url: return session.displayURL
        case modeReason:
            if case .simple(_, let reason) = session.mode { return reason }
            return nil
        default: return nil
        }
    }
}
