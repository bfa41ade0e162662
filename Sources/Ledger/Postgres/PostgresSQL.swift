import ExportCore
import Postgres
import SQLite

/// The ledger's SQL on a PostgreSQL connection whose `search_path` is the ledger's schema.
///
/// Statements are written for both databases (``LedgerSQL``): `?` and `?N` become `$N` here, the way
/// SQLite numbers them (a bare `?` takes the number after the highest so far). Every write
/// transaction takes one transaction-level advisory lock first, so the ledger's writers — threads of
/// one run, or processes on several machines — take turns the way SQLite's `BEGIN IMMEDIATE` makes
/// them: a check and the write it guards never interleave with another writer's.
final class PostgresSQL: LedgerSQL {
    let connection: Connection
    var label: String { connection.label }
    private(set) var changes = 0
    private var translated: [String: String] = [:]

    /// The lock every write transaction of a ledger takes ('PEXP').
    static let writeLock: Int64 = 0x5045_5850

    init(_ connection: Connection) {
        self.connection = connection
    }

    func prepare(_ sql: String) throws -> PostgresStatement { PostgresStatement(self, sql: sql, streaming: false) }
    func prepareStreaming(_ sql: String) throws -> PostgresStatement { PostgresStatement(self, sql: sql, streaming: true) }

    func execute(_ sql: String) throws { try connection.execute(sql) }

    func transaction<T>(_ body: () throws -> T) throws -> T {
        try connection.transaction("BEGIN; SELECT pg_advisory_xact_lock(\(Self.writeLock))", body)
    }

    func transactionLockingLater<T>(_ body: () throws -> T) throws -> T {
        try connection.transaction("BEGIN", body)
    }

    func takeWriteTurn() throws {
        try connection.execute("SELECT pg_advisory_xact_lock(\(Self.writeLock))")
    }

    func readSnapshot<T>(_ body: () throws -> T) throws -> T {
        try connection.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    /// A commit is durable once it returns (the session runs with `synchronous_commit = on`).
    func durably<T>(_ body: () throws -> T) throws -> T { try body() }

    var forUpdate: String { " FOR UPDATE" }

    func ledgerError(_ error: Error) -> ExportError? {
        (error as? PostgresError).map { ExportError.ledger("the ledger \(label): \($0.message)") }
    }

    func noteChanges(_ count: Int) { changes = count }

    /// `sql` with `?`/`?N` parameters written `$N` (not inside quotes).
    func translate(_ sql: String) -> String {
        if let known = translated[sql] { return known }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var highest = 0
        var quote: Character?
        var characters = sql.makeIterator()
        var pending: Character? = characters.next()
        while let c = pending {
            pending = characters.next()
            if let open = quote {
                out.append(c)
                if c == open { quote = nil }
                continue
            }
            if c == "'" || c == "\"" {
                quote = c
                out.append(c)
                continue
            }
            guard c == "?" else {
                out.append(c)
                continue
            }
            var digits = ""
            while let d = pending, d.isASCII, d.isNumber {
                digits.append(d)
                pending = characters.next()
            }
            let number = Int(digits) ?? (highest + 1)
            highest = max(highest, number)
            out += "$\(number)"
        }
        translated[sql] = out
        return out
    }
}

/// A ledger statement on PostgreSQL: bound values kept until it runs (its first step), rows read in
/// binary form.
final class PostgresStatement: LedgerStatement {
    private let database: PostgresSQL
    let sql: String
    private let streaming: Bool
    private var values: [Parameter] = []
    private var rows: BinaryRows?

    init(_ database: PostgresSQL, sql: String, streaming: Bool) {
        self.database = database
        self.sql = sql
        self.streaming = streaming
    }

    deinit {
        rows?.close()
    }

    private func set(_ parameter: Parameter, at index: Int32) {
        let i = Int(index) - 1
        guard i >= 0 else { return }
        if values.count <= i { values += Array(repeating: .null, count: i + 1 - values.count) }
        values[i] = parameter
    }

    func bind(_ value: Value, at index: Int32) throws {
        switch value {
        case .null: set(.null, at: index)
        case .integer(let n): set(.integer(n), at: index)
        case .real(let d): set(.text(String(d)), at: index)
        case .text(let s): set(.text(s), at: index)
        case .textBytes(let bytes): set(.text(String(decoding: bytes, as: UTF8.self)), at: index)
        case .blob(let bytes): set(.bytes(bytes), at: index)
        }
    }

    func bindText(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws {
        set(.text(String(decoding: bytes, as: UTF8.self)), at: index)
    }

    func bindBlob(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws {
        set(.bytes(Array(bytes)), at: index)
    }

    func step() throws -> Bool {
        if rows == nil {
            rows = try database.connection.rows(database.translate(sql), values, streaming: streaming)
        }
        guard let rows else { return false }
        if try rows.next() { return true }
        database.noteChanges(rows.changes)
        return false
    }

    func reset() {
        rows?.close()
        rows = nil
    }

    var columnCount: Int32 { rows?.columnCount ?? 0 }
    func columnName(_ column: Int32) -> String? { rows?.columnName(column) }
    func isNull(_ column: Int32) -> Bool { rows?.isNull(column) ?? true }
    func int64(_ column: Int32) -> Int64 { rows?.int64(column) ?? 0 }
    func textBytes(_ column: Int32) -> UnsafeRawBufferPointer? { rows?.bytes(column) }
}
