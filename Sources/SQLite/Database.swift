import CSQLite

/// A connection to one SQLite file: a small typed layer over the C API.
///
/// Not thread-safe: use one connection per thread. Errors carry SQLite's message and the SQL
/// statement, never bound values (which may be customer data).
public final class Database {
    public enum Mode: Sendable {
        /// Read only; the file must exist.
        case readOnly
        /// Read and write; the file must exist.
        case readWrite
        /// Read and write; the file is created when missing.
        case create
    }

    let handle: OpaquePointer
    public let path: String

    /// Turned off once, before the first connection: SQLite's memory statistics lock a global mutex
    /// on every allocation, across all threads.
    private static let configured: Bool = {
        _ = pe_sqlite3_disable_memstatus()
        return true
    }()

    public init(path: String, mode: Mode) throws {
        _ = Self.configured
        var flags: Int32 = SQLITE_OPEN_NOMUTEX
        switch mode {
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message, context: "opening \(path)")
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 10_000)
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(error)
            throw SQLiteError(code: rc, message: message, context: sql)
        }
    }

    /// Compiles `sql` into a statement.
    public func prepare(_ sql: String) throws -> Statement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)), context: sql)
        }
        return Statement(handle: statement, database: self, sql: sql)
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try transaction("BEGIN IMMEDIATE", body)
    }

    /// Runs `body` inside `begin … COMMIT` (`begin` says which kind), rolling back when it throws.
    public func transaction<T>(_ begin: String, _ body: () throws -> T) throws -> T {
        try execute(begin)
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Rows changed by the last statement.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// The first column of the first row of `sql`, as an integer.
    public func scalarInt(_ sql: String, _ arguments: [Value] = []) throws -> Int64? {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.int64(0)
    }

    /// Whether the database has a table called `name`.
    public func hasTable(_ name: String) throws -> Bool {
        try scalarInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", [.text(name)]) ?? 0 > 0
    }

    /// Whether the database has a table or a view called `name`.
    public func hasTableOrView(_ name: String) throws -> Bool {
        try scalarInt("SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", [.text(name)]) ?? 0 > 0
    }

    /// The column names of `table`.
    public func columns(of table: String) throws -> [String] {
        let statement = try prepare("SELECT name FROM pragma_table_info(?)")
        try statement.bind([.text(table)])
        var names: [String] = []
        while try statement.step() { names.append(statement.string(0) ?? "") }
        return names
    }

    /// Calls `handler` with (table, column) for every column a statement prepared from now on reads;
    /// used by tests to prove what is never read.
    public func observeReads(_ handler: @escaping (String, String) -> Void) {
        let box = ReadObserver(handler)
        observer = box
        sqlite3_set_authorizer(handle, { context, action, table, column, _, _ in
            if action == SQLITE_READ, let context, let table, let column {
                Unmanaged<ReadObserver>.fromOpaque(context).takeUnretainedValue().handler(String(cString: table), String(cString: column))
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(box).toOpaque())
    }

    private var observer: ReadObserver?

    func error(_ rc: Int32, _ context: String) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)), context: context)
    }
}

final class ReadObserver {
    let handler: (String, String) -> Void
    init(_ handler: @escaping (String, String) -> Void) { self.handler = handler }
}

/// An SQLite failure: the result code, SQLite's message and what was being done.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public let context: String

    public var description: String { "\(message) (SQLite code \(code), while \(context.prefix(200)))" }
}

/// A value to bind to a statement parameter.
public enum Value: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    /// Text given as raw bytes: stored as TEXT exactly as given, even when not valid UTF-8.
    case textBytes([UInt8])
    case blob([UInt8])
}
