import CSQLite

/// A failed SQLite call: the operation, SQLite's result code and its message.
struct SQLiteError: Error, CustomStringConvertible {
    let operation: String
    let code: Int32
    let message: String

    var description: String { "\(operation): \(message) (SQLite code \(code))" }
}

/// One SQLite connection: the only place the C API is touched.
///
/// Not thread-safe by itself: its owner (`Registry`) only touches it under its lock, which is what the
/// `@unchecked Sendable` stands for. Statements are prepared, run and finalised inside one call, so no
/// statement handle outlives the call that made it.
final class SQLiteConnection: @unchecked Sendable {
    private var db: OpaquePointer?

    /// Opens (creating if needed) the database at `path`. Busy waits up to `busyTimeoutMs` for another
    /// process's write lock (a `dofs publish --local` next to a running server) before failing.
    init(path: String, busyTimeoutMs: Int32 = 10_000) throws(SQLiteError) {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            db = nil
            throw SQLiteError(operation: "open \(path)", code: rc, message: message)
        }
        sqlite3_busy_timeout(db, busyTimeoutMs)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { close() }

    func close() {
        guard let db else { return }
        sqlite3_close_v2(db)
        self.db = nil
    }

    /// Runs SQL that returns no rows (several statements allowed, no parameters).
    func execute(_ sql: String) throws(SQLiteError) {
        let handle = try open()
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        guard rc == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(message)
            throw SQLiteError(operation: String(sql.prefix(60)), code: rc, message: text)
        }
    }

    /// Runs one statement with `bindings` and returns every row, each as its column values.
    @discardableResult
    func query(_ sql: String, _ bindings: [SQLiteValue] = []) throws(SQLiteError) -> [[SQLiteValue]] {
        let handle = try open()
        var statement: OpaquePointer?
        var rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw failure("prepare", rc) }
        defer { sqlite3_finalize(statement) }
        for (i, value) in bindings.enumerated() {
            let index = Int32(i + 1)
            switch value {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .integer(let n): rc = sqlite3_bind_int64(statement, index, n)
            case .text(let s): rc = sqlite3_bind_text(statement, index, s, -1, csqlite_transient())
            case .blob(let bytes):
                rc = bytes.withUnsafeBytes { raw in
                    sqlite3_bind_blob64(statement, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                        sqlite3_uint64(raw.count), csqlite_transient())
                }
            }
            guard rc == SQLITE_OK else { throw failure("bind", rc) }
        }
        var rows: [[SQLiteValue]] = []
        while true {
            rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw failure(String(sql.prefix(60)), rc) }
            let columns = sqlite3_column_count(statement)
            var row: [SQLiteValue] = []
            row.reserveCapacity(Int(columns))
            for column in 0..<columns {
                row.append(Self.value(statement, column))
            }
            rows.append(row)
        }
        return rows
    }

    /// Runs `body` inside `BEGIN IMMEDIATE ... COMMIT`; any error rolls the transaction back.
    ///
    /// IMMEDIATE takes the write lock up front, so two writers never both read-then-upgrade and deadlock.
    /// `COMMIT` returns only once the transaction is durable (WAL with `synchronous=FULL`).
    func transaction<T>(_ body: () throws(SQLiteError) -> T) throws(SQLiteError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    private func open() throws(SQLiteError) -> OpaquePointer {
        guard let db else { throw SQLiteError(operation: "use", code: SQLITE_MISUSE, message: "database is closed") }
        return db
    }

    private func failure(_ operation: String, _ rc: Int32) -> SQLiteError {
        SQLiteError(operation: operation, code: rc,
                    message: db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc)))
    }

    private static func value(_ statement: OpaquePointer, _ column: Int32) -> SQLiteValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_TEXT:
            return .text(sqlite3_column_text(statement, column).map { String(cString: $0) } ?? "")
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let base = sqlite3_column_blob(statement, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: base, count: count)))
        default:
            return .null
        }
    }
}

/// A value bound to, or read from, a statement.
enum SQLiteValue: Equatable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])

    var int: Int? { if case .integer(let n) = self { Int(n) } else { nil } }
    var string: String? { if case .text(let s) = self { s } else { nil } }
    var bytes: [UInt8]? { if case .blob(let b) = self { b } else { nil } }
}
