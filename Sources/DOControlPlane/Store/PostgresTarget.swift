import Foundation

/// A PostgreSQL database named by URL: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=MODE]`
/// (`postgresql://` too). MODE is `disable` (the default: a database on the same host or network),
/// `prefer` or `require`; `require` verifies the server's certificate against the system's CAs.
struct PostgresTarget: Sendable, Equatable {
    enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    let host: String
    let port: Int
    let user: String
    let password: String?
    let database: String
    let tls: TLSMode

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(_ text: String) throws(Invalid) {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme?.lowercased() ?? "") else {
            throw Invalid(description: "--database '\(Self.redact(text))' is not a postgres://USER@HOST:PORT/DB URL")
        }
        guard let host = url.host, !host.isEmpty else { throw Invalid(description: "--database names no host") }
        guard let user = url.user, !user.isEmpty else { throw Invalid(description: "--database names no user (postgres://USER@HOST/DB)") }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw Invalid(description: "--database names no database (postgres://USER@HOST/DB)") }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        port = url.port ?? 5432
        self.user = user.removingPercentEncoding ?? user
        password = url.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        let mode = url.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        guard let tls = TLSMode(rawValue: mode) else {
            throw Invalid(description: "--database sslmode '\(mode)' is not disable, prefer or require")
        }
        self.tls = tls
    }

    /// The URL with its password replaced, for logs and errors.
    var redacted: String { "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)" }

    private static func redact(_ text: String) -> String {
        guard var url = URLComponents(string: text), url.password != nil else { return text }
        url.password = "***"
        return url.string ?? "(unparsable)"
    }
}
