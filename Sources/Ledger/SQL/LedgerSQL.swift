import ExportCore
import SQLite

/// What the ledger needs of a SQL database: statements written once, in the SQL both SQLite and
/// PostgreSQL accept (`?` and `?N` parameters, `ON CONFLICT`, integers for booleans), run on a
/// SQLite file (``SQLite/Database``) or a PostgreSQL schema (``PostgresSQL``).
///
/// The two differ where the SQL cannot hide it, and say so here: how a write transaction shuts out
/// every other writer, how a commit that must survive a power cut is made, and how a row read for
/// an update is locked.
protocol LedgerSQL: AnyObject {
    associatedtype Prepared: LedgerStatement
    func prepare(_ sql: String) throws -> Prepared
    /// Like ``prepare(_:)``, for a read of any size: its rows stream (PostgreSQL holds one at a time).
    func prepareStreaming(_ sql: String) throws -> Prepared
    /// Runs statements whose rows, if any, are not wanted.
    func execute(_ sql: String) throws
    /// Runs `body` in a transaction that no other writer of the ledger runs beside (SQLite's
    /// `BEGIN IMMEDIATE`; PostgreSQL's transaction advisory lock), rolling back when it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T
    /// A write transaction whose `body` first does what needs no writers' turn (rows no other writer
    /// touches at the same time) and then takes the turn itself (``takeWriteTurn()``), so that what
    /// comes before overlaps with other writers. SQLite: ``transaction(_:)`` (one writer anyway).
    func transactionLockingLater<T>(_ body: () throws -> T) throws -> T
    /// Inside ``transactionLockingLater(_:)``: from here on, no other writer runs beside.
    func takeWriteTurn() throws
    /// Runs `body` in one read snapshot (SQLite: a deferred transaction; PostgreSQL: REPEATABLE READ READ ONLY).
    func readSnapshot<T>(_ body: () throws -> T) throws -> T
    /// Runs `body`, whose commits must survive a power cut before it returns (an attempt about to leave).
    func durably<T>(_ body: () throws -> T) throws -> T
    /// Rows changed by the last statement.
    var changes: Int { get }
    /// Appended to a SELECT whose rows the transaction then updates (PostgreSQL's `FOR UPDATE`).
    var forUpdate: String { get }
    /// What the ledger says it is, in messages (a path, or a URL without its password).
    var label: String { get }
    /// Turns this database's failure into a ledger error naming the ledger, or nil if it is none of its.
    func ledgerError(_ error: Error) -> ExportError?
}

extension LedgerSQL {
    func transactionLockingLater<T>(_ body: () throws -> T) throws -> T { try transaction(body) }
    func takeWriteTurn() throws {}
}

/// A prepared statement: parameters bound by position, rows read by column position while it steps.
protocol LedgerStatement: AnyObject {
    var sql: String { get }
    func bind(_ value: Value, at index: Int32) throws
    func bindText(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws
    func bindBlob(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws
    @discardableResult func step() throws -> Bool
    /// Ready to run again (bindings are kept); a read not stepped to its end is abandoned.
    func reset()
    var columnCount: Int32 { get }
    func columnName(_ column: Int32) -> String?
    func isNull(_ column: Int32) -> Bool
    func int64(_ column: Int32) -> Int64
    /// Text or blob bytes (NULL: nil), valid until the next step.
    func textBytes(_ column: Int32) -> UnsafeRawBufferPointer?
}

extension LedgerSQL {
    /// The first column of the first row of `sql`, as an integer.
    func scalarInt(_ sql: String, _ arguments: [Value] = []) throws -> Int64? {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.int64(0)
    }

    /// The first column of the first row of `sql`, as text.
    func scalarText(_ sql: String, _ arguments: [Value] = []) throws -> String? {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        defer { statement.reset() }
        guard try statement.step(), let bytes = statement.textBytes(0) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension LedgerStatement {
    /// Binds `values` to parameters 1…n.
    func bind(_ values: [Value]) throws {
        for (i, value) in values.enumerated() { try bind(value, at: Int32(i + 1)) }
    }

    /// The statement, reset, with `values` bound: for a read (`rows`, `firstRow`).
    func bound(_ values: [Value]) throws -> Self {
        reset()
        try bind(values)
        return self
    }

    /// Runs the statement to completion with `values` bound, then resets it.
    func run(_ values: [Value] = []) throws {
        reset()
        try bind(values)
        while try step() {}
        reset()
    }

    func string(_ column: Int32) -> String? {
        textBytes(column).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Steps through every row, handing each to `body` by name.
    func forEachRow(_ body: (LedgerRow) throws -> Void) throws {
        defer { reset() }
        // The columns are known once the statement ran (PostgreSQL says them with the rows).
        var row: LedgerRow?
        while try step() {
            if row == nil { row = LedgerRow(self) }
            try body(row!)
        }
    }

    /// Every row decoded by `decode`.
    func rows<T>(_ decode: (LedgerRow) throws -> T) throws -> [T] {
        var result: [T] = []
        try forEachRow { result.append(try decode($0)) }
        return result
    }

    /// The first row decoded by `decode`, or nil.
    func firstRow<T>(_ decode: (LedgerRow) throws -> T) throws -> T? {
        defer { reset() }
        guard try step() else { return nil }
        return try decode(LedgerRow(self))
    }
}

/// The current row of a ledger statement, read by column name: a record type decodes itself from it
/// and a renamed or missing column is an error naming it, never a silent default.
struct LedgerRow {
    let statement: any LedgerStatement
    let columns: [String: Int32]

    init(_ statement: any LedgerStatement) {
        self.statement = statement
        var columns: [String: Int32] = [:]
        for i in 0..<statement.columnCount {
            if let name = statement.columnName(i) { columns[name] = i }
        }
        self.columns = columns
    }

    func index(_ name: String) throws -> Int32 {
        guard let index = columns[name] else { throw RowError(column: name, problem: "is not in the result", sql: statement.sql) }
        return index
    }

    func isNull(_ name: String) throws -> Bool { statement.isNull(try index(name)) }

    /// A text column that must not be NULL.
    func text(_ name: String) throws -> String {
        guard let value = try optionalText(name) else { throw RowError(column: name, problem: "is NULL", sql: statement.sql) }
        return value
    }

    func optionalText(_ name: String) throws -> String? { statement.string(try index(name)) }

    func int64(_ name: String) throws -> Int64 {
        let i = try index(name)
        guard !statement.isNull(i) else { throw RowError(column: name, problem: "is NULL", sql: statement.sql) }
        return statement.int64(i)
    }

    func int(_ name: String) throws -> Int { Int(try int64(name)) }

    func optionalInt(_ name: String) throws -> Int? {
        let i = try index(name)
        return statement.isNull(i) ? nil : Int(statement.int64(i))
    }

    func optionalInt64(_ name: String) throws -> Int64? {
        let i = try index(name)
        return statement.isNull(i) ? nil : statement.int64(i)
    }

    func bool(_ name: String) throws -> Bool { try int64(name) != 0 }

    /// A text or blob column's bytes (empty for NULL).
    func bytes(_ name: String) throws -> [UInt8] { statement.textBytes(try index(name)).map { Array($0) } ?? [] }
}

// MARK: - SQLite

extension Database: LedgerSQL {
    func prepareStreaming(_ sql: String) throws -> Statement { try prepare(sql) }

    func readSnapshot<T>(_ body: () throws -> T) throws -> T {
        // In WAL mode a deferred transaction reads one snapshot, from its first read to COMMIT.
        try transaction("BEGIN DEFERRED", body)
    }

    func durably<T>(_ body: () throws -> T) throws -> T {
        // WAL with NORMAL sync survives a killed process; FULL makes this commit survive a power cut.
        try execute("PRAGMA synchronous = FULL")
        defer { try? execute("PRAGMA synchronous = NORMAL") }
        return try body()
    }

    var forUpdate: String { "" }
    var label: String { path }

    func ledgerError(_ error: Error) -> ExportError? {
        (error as? SQLiteError).map { ExportError.ledger("the ledger \(path): \($0.message)") }
    }
}

extension Statement: LedgerStatement {}
