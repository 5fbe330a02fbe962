import DOSwarm
import Foundation
import Logging

/// The peer id a node announces, kept in its cache folder beside the address it was announced from.
///
/// A node restarted at the same address answers as the member its swarms already list. With a new
/// id, every peer holding the old listing would refuse it (the handshake checks the id the control
/// plane listed) until its next join answer, seconds later; a fleet restarted together would fetch
/// those seconds from the origin. A node at another address draws a new id: the control plane binds
/// an id to the address that joined with it and would refuse the old one until that binding expired.
///
/// The file is one line, `<40 hex digits> <address>`, replaced whole (Foundation's atomic write).
/// Anything else in it is not trusted: the node draws a new id and rewrites it.
enum NodePeerId {
    static let fileName = "peer-id"

    /// The id to announce from `address`, for the node whose cache is `cacheDirectory`. Never fails:
    /// when the file cannot be read or written, the id is a new one for this run only (and says so).
    static func forNode(cacheDirectory: String, address: String, logger: Logger) -> PeerId {
        let path = cacheDirectory + "/" + fileName
        if let kept = read(path), kept.address == address { return kept.id }
        let id = PeerId.random()
        do {
            try write(id, address: address, to: path)
        } catch {
            logger.warning("cannot keep the peer id in \(path) (\(error.localizedDescription)): a restart will announce another, and peers listing this one reach it only after their next join")
        }
        return id
    }

    private static func read(_ path: String) -> (id: PeerId, address: String)? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 2, let id = PeerId(hex: String(fields[0])) else { return nil }
        let address = fields[1].hasSuffix("\n") ? fields[1].dropLast() : fields[1]
        guard !address.isEmpty, !address.contains(where: \.isWhitespace) else { return nil }
        return (id, String(address))
    }

    /// Losing the file in a crash costs only a new id, so the write is atomic, not synced.
    private static func write(_ id: PeerId, address: String, to path: String) throws {
        try Data("\(id.hex) \(address)\n".utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
