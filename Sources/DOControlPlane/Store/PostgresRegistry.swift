import DOCore
import Foundation
import PostgresNIO

/// The registry in PostgreSQL, shared by every instance of a fleet: a content published through one
/// instance is served by all at once. Lookups that find a content are kept for a second
/// (`RegistryLookupCache`: a change to a known content published through another instance is seen
/// within it; "not registered" is never kept).
///
/// Same contract as the SQLite `Registry`. A registration is one transaction that first takes an
/// advisory lock on its URL, so two instances registering the same URL at once are serialised
/// (the owner check and the write cannot interleave); refusals come before any write.
final class PostgresRegistry: ContentRegistry {
    private let database: PostgresDatabase
    private let cache = RegistryLookupCache()

    init(_ database: PostgresDatabase) {
        self.database = database
    }

    func register(_ registration: Registration, now: Date) async throws(RegistryError) -> RegistrationOutcome {
        try await registerAll([registration], now: now)[0].get()
    }

    /// Every registration in one transaction, each judged as a single one would be (a refused one
    /// writes nothing of its own; the others still commit).
    func registerAll(_ registrations: [Registration], now: Date) async throws(RegistryError) -> [Result<RegistrationOutcome, RegistryError>] {
        let logger = database.logger
        // Whatever happened (a failed commit may still have committed), this instance's next lookups ask the database.
        defer { cache.invalidate() }
        do {
            return try await database.client.withTransaction(logger: logger) { db -> [Result<RegistrationOutcome, RegistryError>] in
                var outcomes: [Result<RegistrationOutcome, RegistryError>] = []
                outcomes.reserveCapacity(registrations.count)
                for registration in registrations {
                    outcomes.append(try await Self.apply(registration, now: now, db: db, logger: logger))
                }
                return outcomes
            }
        } catch {
            throw .storage(DatabaseFailure(error).description)
        }
    }

    /// One registration's checks and writes, inside the caller's transaction; refusals come before any write.
    private static func apply(_ registration: Registration, now: Date, db: PostgresConnection,
                              logger: Logger) async throws -> Result<RegistrationOutcome, RegistryError> {
        let id = registration.contentId.rawValue
        let url = registration.url
        let keyId = registration.publisher?.keyId
        let signature = registration.publisher?.signature
        let phf = registration.piecesHashFile.map { Data($0.jsonBytes()) }
        let hoh = registration.hashOfHashes.base64
        let length = Int64(registration.layout.contentLength), pieceSize = Int64(registration.layout.pieceSize)
        let registeredAt = Int64(now.timeIntervalSince1970), seq = Int64(now.timeIntervalSince1970 * 1000)
        let phfURL = registration.piecesHashFileUrl
            try await db.query("SELECT pg_advisory_xact_lock(hashtext(\(url)))", logger: logger)
            var owner: String??
            for try await row in try await db.query("SELECT publisher_key_id FROM content_url WHERE url = \(url)",
                                                    logger: logger).decode(String?.self) {
                owner = .some(row)
            }
            if case .some(.some(let owner)) = owner, owner != keyId {
                return .failure(.urlOwnedByAnotherPublisher(url: url, owner: owner))
            }
            var created = false
            for try await _ in try await db.query("""
                INSERT INTO content (content_id, hash_of_hashes, content_length, piece_size, phf, registered_at)
                VALUES (\(id), \(hoh), \(length), \(pieceSize), \(phf), \(registeredAt))
                ON CONFLICT (content_id) DO NOTHING RETURNING 1
                """, logger: logger).decode(Int.self) {
                created = true
            }
            if !created {
                var existing: (String, Int64, Int64, Bool)?
                for try await row in try await db.query("""
                    SELECT hash_of_hashes, content_length, piece_size, phf IS NOT NULL FROM content WHERE content_id = \(id)
                    """, logger: logger).decode((String, Int64, Int64, Bool).self) {
                    existing = row
                }
                if let existing {
                    let (h, l, p, stored) = existing
                    if h != hoh { return .failure(.conflict(contentId: id, detail: "HashOfHashes is \(h), not \(hoh)")) }
                    if l != length { return .failure(.conflict(contentId: id, detail: "ContentLength is \(l), not \(length)")) }
                    if p != pieceSize { return .failure(.conflict(contentId: id, detail: "PieceSize is \(p), not \(pieceSize)")) }
                    if let phf, !stored {
                        try await db.query("UPDATE content SET phf = \(phf) WHERE content_id = \(id) AND phf IS NULL", logger: logger)
                    }
                }
            }
            // A URL keeps its place in ContentCdnUrls unless it moves to another content.
            try await db.query("""
                INSERT INTO content_url (url, content_id, added_at, publisher_key_id, signature)
                VALUES (\(url), \(id), \(seq), \(keyId), \(signature))
                ON CONFLICT (url) DO UPDATE SET content_id = excluded.content_id,
                    publisher_key_id = excluded.publisher_key_id, signature = excluded.signature,
                    added_at = CASE WHEN content_url.content_id <> excluded.content_id
                                    THEN excluded.added_at ELSE content_url.added_at END
                """, logger: logger)
            if let phfURL {
                try await db.query("""
                    INSERT INTO content_phf_url (content_id, url, added_at) VALUES (\(id), \(phfURL), \(seq))
                    ON CONFLICT (content_id, url) DO NOTHING
                    """, logger: logger)
            }
            return .success(created ? .created : .updated)
    }

    func lookup(id: ContentId, url: String?) async throws(RegistryError) -> RegisteredContent? {
        let cacheKey = RegistryLookupCache.Key(id: id.rawValue, url: url)
        if let kept = cache.content(cacheKey) { return kept }
        let generation = cache.generation
        let found = try await lookupInDatabase(id: id, url: url)
        if let found { cache.store(found, for: cacheKey, generation: generation) }
        return found
    }

    private func lookupInDatabase(id: ContentId, url: String?) async throws(RegistryError) -> RegisteredContent? {
        let logger = database.logger
        let key = id.rawValue
        // One round trip: the content row with its URLs, signatures and PHF URLs as arrays.
        let query: PostgresQuery = """
            SELECT c.content_id, c.hash_of_hashes, c.content_length, c.piece_size, c.phf IS NOT NULL, c.registered_at,
                   ARRAY(SELECT u.url FROM content_url u WHERE u.content_id = c.content_id ORDER BY u.added_at, u.url),
                   ARRAY(SELECT coalesce(u.publisher_key_id, '') FROM content_url u WHERE u.content_id = c.content_id ORDER BY u.added_at, u.url),
                   ARRAY(SELECT coalesce(u.signature, '') FROM content_url u WHERE u.content_id = c.content_id ORDER BY u.added_at, u.url),
                   ARRAY(SELECT p.url FROM content_phf_url p WHERE p.content_id = c.content_id ORDER BY p.added_at, p.url)
            FROM content c
            WHERE c.content_id = coalesce((SELECT u.content_id FROM content_url u WHERE u.url = \(url)), \(key))
            """
        do {
            let rows = try await database.client.query(query, logger: logger)
            var found: RegisteredContent?
            for try await (cid, h, length, pieceSize, stored, at, urls, keys, signatures, phfURLs) in rows.decode(
                (String, String, Int64, Int64, Bool, Int64, [String], [String], [String], [String]).self) {
                guard let contentId = try? ContentId(cid), let hoh = SHA256Digest(base64: h), length >= 0, pieceSize > 0 else {
                    continue
                }
                let signed = zip(urls, zip(keys, signatures)).compactMap { url, pair -> URLSignature? in
                    pair.0.isEmpty || pair.1.isEmpty ? nil : URLSignature(url: url, keyId: pair.0, signature: pair.1)
                }
                found = RegisteredContent(contentId: contentId, hashOfHashes: hoh,
                                          layout: PieceLayout(contentLength: Int(length), pieceSize: Int(pieceSize)),
                                          urls: urls, piecesHashFileUrls: phfURLs, hasStoredPiecesHashFile: stored,
                                          registeredAt: Int(at), signatures: signed)
            }
            return found
        } catch {
            throw .storage(DatabaseFailure(error).description)
        }
    }

    func piecesHashFile(id: ContentId) async throws(RegistryError) -> [UInt8]? {
        let key = id.rawValue
        do {
            var found: [UInt8]?
            for try await phf in try await database.client.query("SELECT phf FROM content WHERE content_id = \(key)",
                                                                 logger: database.logger).decode(Data?.self) {
                found = phf.map { [UInt8]($0) }
            }
            return found
        } catch {
            throw .storage(DatabaseFailure(error).description)
        }
    }

    func close() async {}
}
