import DOCore
import Foundation
import Synchronization

/// The registry of published content: content ID <-> URL(s) <-> HashOfHashes, PHF URLs, stored PHF,
/// size and piece size, in one SQLite file.
///
/// Guarantees:
/// - Durable before it returns: every `register` is one `BEGIN IMMEDIATE ... COMMIT` transaction in WAL
///   mode with `synchronous=FULL`, so a registration acknowledged to a caller survives `kill -9` and
///   power loss, and a crash mid-write leaves the previous state, never half a registration.
/// - Thread-safe: one connection, serialised by a lock. Calls block (disk I/O); async callers should
///   run them off the cooperative pool (the server does, on its own queue).
/// - Several processes may share the file (a `dofs publish --local` next to a running control plane):
///   WAL lets readers run during a write, and writers wait up to 10 s for each other.
/// - A URL belongs to one content at a time: registering a URL for new content moves it there (the file
///   behind the URL changed). A content ID's metadata never changes: a registration that disagrees with
///   it is refused as a conflict.
/// - A URL registered with a publisher's signature belongs to that publisher's key: a registration
///   of it under any other key, or unsigned, is refused (`urlOwnedByAnotherPublisher`); its own key
///   may re-point or re-sign it. An unsigned URL is taken over by the first signed registration.
public final class Registry: Sendable {
    /// The file name inside a data folder.
    public static let fileName = "registry.sqlite3"
    /// The schema this code writes (`PRAGMA user_version`).
    static let schemaVersion = 2

    public let path: String
    private let connection: Mutex<SQLiteConnection?>

    /// Opens (creating if needed) the registry database file at `path`.
    public init(path: String) throws(RegistryError) {
        self.path = path
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path)
            try Self.prepare(db, path: path)
        } catch let error as SQLiteError {
            throw .cannotOpen(path: path, detail: error.description)
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .cannotOpen(path: path, detail: "\(error)")
        }
        connection = Mutex(db)
    }

    /// Opens the registry in a data folder (creating the folder, mode 0755, if needed).
    public convenience init(dataDirectory: String) throws(RegistryError) {
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw .cannotOpen(path: dataDirectory, detail: error.localizedDescription)
        }
        try self.init(path: (dataDirectory as NSString).appendingPathComponent(Self.fileName))
    }

    /// Closes the database; later calls throw `RegistryError.closed`.
    public func close() {
        connection.withLock { db in
            db?.close()
            db = nil
        }
    }

    // MARK: - Writing

    /// Records a checked registration, durably, before returning.
    @discardableResult
    public func register(_ registration: Registration, now: Date = Date()) throws(RegistryError) -> RegistrationOutcome {
        try withConnection { db throws(SQLiteError) -> Result<RegistrationOutcome, RegistryError> in
            try db.transaction { () throws(SQLiteError) -> Result<RegistrationOutcome, RegistryError> in
                try Self.apply(registration, db, now: now)
            }
        }.get()
    }

    /// Records many checked registrations in one transaction (one sync for all: a tree of thousands of
    /// small files registers in well under a second). Each is judged on its own, in order, exactly as
    /// `register` would judge it: a refused one is reported in its place and the others still count.
    public func registerAll(_ registrations: [Registration], now: Date = Date()) throws(RegistryError) -> [Result<RegistrationOutcome, RegistryError>] {
        try withConnection { db throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                var outcomes: [Result<RegistrationOutcome, RegistryError>] = []
                outcomes.reserveCapacity(registrations.count)
                for registration in registrations { outcomes.append(try Self.apply(registration, db, now: now)) }
                return outcomes
            }
        }
    }

    /// One registration's checks and writes, inside the caller's transaction.
    private static func apply(_ registration: Registration, _ db: SQLiteConnection, now: Date) throws(SQLiteError) -> Result<RegistrationOutcome, RegistryError> {
        let id = registration.contentId.rawValue
        // Refusals come before any write: returning a failure still commits the transaction.
        let owner = try db.query("SELECT publisher_key_id FROM content_url WHERE url = ?", [.text(registration.url)])
            .first?[0].string
        if let owner, owner != registration.publisher?.keyId {
            return .failure(.urlOwnedByAnotherPublisher(url: registration.url, owner: owner))
        }
        let existing = try db.query(
            "SELECT hash_of_hashes, content_length, piece_size, phf IS NOT NULL FROM content WHERE content_id = ?",
            [.text(id)])
        let outcome: RegistrationOutcome
        if let row = existing.first {
            if let conflict = Self.conflict(row, registration) {
                return .failure(.conflict(contentId: id, detail: conflict))
            }
            if let phf = registration.piecesHashFile, row[3].int == 0 {
                try db.query("UPDATE content SET phf = ? WHERE content_id = ?", [.blob(phf.jsonBytes()), .text(id)])
            }
            outcome = .updated
        } else {
            try db.query("""
                INSERT INTO content (content_id, hash_of_hashes, content_length, piece_size, phf, registered_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, [.text(id), .text(registration.hashOfHashes.base64),
                      .integer(Int64(registration.layout.contentLength)),
                      .integer(Int64(registration.layout.pieceSize)),
                      registration.piecesHashFile.map { .blob($0.jsonBytes()) } ?? .null,
                      .integer(Int64(now.timeIntervalSince1970))])
            outcome = .created
        }
        let seq = Int64(now.timeIntervalSince1970 * 1000)
        // A URL keeps its place in ContentCdnUrls unless it moves to another content.
        try db.query("""
            INSERT INTO content_url (url, content_id, added_at, publisher_key_id, signature) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(url) DO UPDATE SET content_id = excluded.content_id,
                publisher_key_id = excluded.publisher_key_id, signature = excluded.signature,
                added_at = CASE WHEN content_url.content_id != excluded.content_id
                                THEN excluded.added_at ELSE content_url.added_at END
            """, [.text(registration.url), .text(id), .integer(seq),
                  registration.publisher.map { .text($0.keyId) } ?? .null,
                  registration.publisher.map { .text($0.signature) } ?? .null])
        if let phfURL = registration.piecesHashFileUrl {
            try db.query("""
                INSERT INTO content_phf_url (content_id, url, added_at) VALUES (?, ?, ?)
                ON CONFLICT(content_id, url) DO NOTHING
                """, [.text(id), .text(phfURL), .integer(seq)])
        }
        return .success(outcome)
    }

    // MARK: - Reading

    /// The content registered under `contentId`, or `nil`.
    public func content(id contentId: ContentId) throws(RegistryError) -> RegisteredContent? {
        try withConnection { db throws(SQLiteError) in try Self.load(db, contentId.rawValue) }
    }

    /// The content a URL was last registered for (DO's `altCatalogId` lookup), or `nil`.
    public func content(url: String) throws(RegistryError) -> RegisteredContent? {
        try withConnection { db throws(SQLiteError) -> RegisteredContent? in
            guard let id = try db.query("SELECT content_id FROM content_url WHERE url = ?", [.text(url)]).first?[0].string else {
                return nil
            }
            return try Self.load(db, id)
        }
    }

    /// The stored PHF of a content (DO's JSON format, exactly as served), or `nil` when none is stored.
    public func piecesHashFile(id contentId: ContentId) throws(RegistryError) -> [UInt8]? {
        try withConnection { db throws(SQLiteError) in
            try db.query("SELECT phf FROM content WHERE content_id = ?", [.text(contentId.rawValue)]).first?[0].bytes
        }
    }

    /// How many contents are registered.
    public func count() throws(RegistryError) -> Int {
        try withConnection { db throws(SQLiteError) in
            try db.query("SELECT count(*) FROM content").first?[0].int ?? 0
        }
    }

    // MARK: - Internals

    private func withConnection<T>(_ body: (SQLiteConnection) throws(SQLiteError) -> T) throws(RegistryError) -> T {
        let result: Result<T, RegistryError> = connection.withLock { db in
            guard let db else { return .failure(.closed) }
            do throws(SQLiteError) {
                return .success(try body(db))
            } catch {
                return .failure(.storage(error.description))
            }
        }
        return try result.get()
    }

    private static func conflict(_ row: [SQLiteValue], _ registration: Registration) -> String? {
        if row[0].string != registration.hashOfHashes.base64 {
            return "HashOfHashes is \(row[0].string ?? "?"), not \(registration.hashOfHashes.base64)"
        }
        if row[1].int != registration.layout.contentLength {
            return "ContentLength is \(row[1].int ?? -1), not \(registration.layout.contentLength)"
        }
        if row[2].int != registration.layout.pieceSize {
            return "PieceSize is \(row[2].int ?? -1), not \(registration.layout.pieceSize)"
        }
        return nil
    }

    private static func load(_ db: SQLiteConnection, _ id: String) throws(SQLiteError) -> RegisteredContent? {
        guard let row = try db.query("""
            SELECT hash_of_hashes, content_length, piece_size, phf IS NOT NULL, registered_at
            FROM content WHERE content_id = ?
            """, [.text(id)]).first,
            let contentId = try? ContentId(id),
            let hoh = row[0].string.flatMap(SHA256Digest.init(base64:)),
            let length = row[1].int, let pieceSize = row[2].int, length >= 0, pieceSize > 0 else {
            return nil
        }
        let urlRows = try db.query("""
            SELECT url, publisher_key_id, signature FROM content_url WHERE content_id = ? ORDER BY added_at, url
            """, [.text(id)])
        let urls = urlRows.compactMap { $0[0].string }
        let signatures = urlRows.compactMap { row -> URLSignature? in
            guard let url = row[0].string, let key = row[1].string, let signature = row[2].string else { return nil }
            return URLSignature(url: url, keyId: key, signature: signature)
        }
        let phfURLs = try db.query("SELECT url FROM content_phf_url WHERE content_id = ? ORDER BY added_at, url", [.text(id)])
            .compactMap { $0[0].string }
        return RegisteredContent(contentId: contentId, hashOfHashes: hoh,
                                 layout: PieceLayout(contentLength: length, pieceSize: pieceSize),
                                 urls: urls, piecesHashFileUrls: phfURLs,
                                 hasStoredPiecesHashFile: row[3].int == 1, registeredAt: row[4].int ?? 0,
                                 signatures: signatures)
    }

    private static func prepare(_ db: SQLiteConnection, path: String) throws -> Void {
        // WAL: readers never block the writer; FULL: a commit is on disk before COMMIT returns.
        let mode = try db.query("PRAGMA journal_mode=WAL").first?[0].string
        guard mode?.lowercased() == "wal" else {
            throw RegistryError.cannotOpen(path: path, detail: "cannot switch to WAL mode (got \(mode ?? "nothing"))")
        }
        try db.execute("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON")
        let version = try db.query("PRAGMA user_version").first?[0].int ?? 0
        guard version <= schemaVersion else { throw RegistryError.unsupportedSchema(path: path, version: version) }
        guard version < schemaVersion else { return }
        try db.transaction { () throws(SQLiteError) in
            if version < 1 {
                try db.execute("""
                    CREATE TABLE IF NOT EXISTS content (
                        content_id     TEXT PRIMARY KEY,
                        hash_of_hashes TEXT NOT NULL,
                        content_length INTEGER NOT NULL,
                        piece_size     INTEGER NOT NULL,
                        phf            BLOB,
                        registered_at  INTEGER NOT NULL
                    );
                    CREATE TABLE IF NOT EXISTS content_url (
                        url        TEXT PRIMARY KEY,
                        content_id TEXT NOT NULL REFERENCES content(content_id) ON DELETE CASCADE,
                        added_at   INTEGER NOT NULL
                    );
                    CREATE INDEX IF NOT EXISTS content_url_by_content ON content_url(content_id);
                    CREATE TABLE IF NOT EXISTS content_phf_url (
                        content_id TEXT NOT NULL REFERENCES content(content_id) ON DELETE CASCADE,
                        url        TEXT NOT NULL,
                        added_at   INTEGER NOT NULL,
                        PRIMARY KEY (content_id, url)
                    );
                    """)
            }
            if version < 2 {
                // Version 2: who signed each URL. Rows of version 1 stay unsigned (no owner).
                try db.execute("""
                    ALTER TABLE content_url ADD COLUMN publisher_key_id TEXT;
                    ALTER TABLE content_url ADD COLUMN signature TEXT;
                    """)
            }
            try db.execute("PRAGMA user_version = \(schemaVersion)")
        }
    }
}
