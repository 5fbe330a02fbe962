import DOCore
import Hummingbird
import Synchronization

/// The scheme://host[:port][/prefix] every URL the server hands out starts with.
///
/// A configured public URL always wins (a server behind a TLS proxy must name the proxy). Without
/// one, a server bound to a specific address names that address; one bound to every address
/// (0.0.0.0, ::) cannot know which of its addresses a client used, so it echoes the request's Host.
final class PublicBaseURL: Sendable {
    private let configured: String?
    private let host: String
    private let listensEverywhere: Bool
    private let port: Mutex<Int>

    init(configured: String?, host: String, port: Int) {
        self.configured = configured.map(HTTPURL.trimmingTrailingSlashes)
        listensEverywhere = host == "0.0.0.0" || host == "::" || host.isEmpty
        self.host = listensEverywhere ? "127.0.0.1" : host
        self.port = Mutex(port)
    }

    /// Records the port actually bound (when the configuration asked for port 0).
    func setBoundPort(_ port: Int) {
        self.port.withLock { $0 = port }
    }

    func base(for request: Request) -> String {
        if let configured { return configured }
        if listensEverywhere, let authority = request.head.authority, Self.isPlausibleHost(authority) {
            return "http://\(authority)"
        }
        return listenURL
    }

    /// The base when there is no request to look at (logs, embedded callers).
    var fixed: String { configured ?? listenURL }

    private var listenURL: String { "http://\(IPAddress.urlHost(host)):\(port.withLock { $0 })" }

    private static func isPlausibleHost(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 262 && text.utf8.allSatisfy { c in
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"),
                 UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"):
                return true
            default:
                return false
            }
        }
    }
}
