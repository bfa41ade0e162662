import CSQLite

/// The current row of a statement, read by column name: a record type decodes itself from it and a
/// renamed or missing column is an error naming it, never a silent default.
///
/// ```swift
/// let statement = try database.prepare("SELECT id, status FROM deliveries")
/// try statement.forEachRow { row in
///     let id = try row.text("id")
///     let status = try row.text("status")
/// }
/// ```
public struct Row {
    let statement: Statement
    let columns: [String: Int32]

    func index(_ name: String) throws -> Int32 {
        guard let index = columns[name] else { throw RowError(column: name, problem: "is not in the result", sql: statement.sql) }
        return index
    }

    public func isNull(_ name: String) throws -> Bool { statement.isNull(try index(name)) }

    /// A text column that must not be NULL.
    public func text(_ name: String) throws -> String {
        guard let value = try optionalText(name) else { throw RowError(column: name, problem: "is NULL", sql: statement.sql) }
        return value
    }

    public func optionalText(_ name: String) throws -> String? { statement.string(try index(name)) }

    public func int64(_ name: String) throws -> Int64 {
        let i = try index(name)
        guard !statement.isNull(i) else { throw RowError(column: name, problem: "is NULL", sql: statement.sql) }
        return statement.int64(i)
    }

    public func int(_ name: String) throws -> Int { Int(try int64(name)) }

    public func optionalInt(_ name: String) throws -> Int? {
        let i = try index(name)
        return statement.isNull(i) ? nil : Int(statement.int64(i))
    }

    public func optionalInt64(_ name: String) throws -> Int64? {
        let i = try index(name)
        return statement.isNull(i) ? nil : statement.int64(i)
    }

    public func bool(_ name: String) throws -> Bool { try int64(name) != 0 }

    /// A text or blob column's bytes (empty for NULL).
    public func bytes(_ name: String) throws -> [UInt8] { statement.textBytes(try index(name)).map { Array($0) } ?? [] }
}

/// A column a record type expected and did not find as it must be.
public struct RowError: Error, Sendable, CustomStringConvertible {
    public let column: String
    public let problem: String
    public let sql: String

    public init(column: String, problem: String, sql: String) {
        self.column = column
        self.problem = problem
        self.sql = sql
    }

    public var description: String { "column '\(column)' \(problem) (while reading \(sql.prefix(120)))" }
}

extension Statement {
    /// The result's column names and their positions.
    var columnIndexes: [String: Int32] {
        var indexes: [String: Int32] = [:]
        for i in 0..<columnCount {
            if let name = sqlite3_column_name(handle, i) { indexes[String(cString: name)] = i }
        }
        return indexes
    }

    /// Steps through every row, handing each to `body` by name.
    public func forEachRow(_ body: (Row) throws -> Void) throws {
        let row = Row(statement: self, columns: columnIndexes)
        while try step() { try body(row) }
    }

    /// Every row decoded by `decode`.
    public func rows<T>(_ decode: (Row) throws -> T) throws -> [T] {
        var result: [T] = []
        try forEachRow { result.append(try decode($0)) }
        return result
    }

    /// The first row decoded by `decode`, or nil.
    public func firstRow<T>(_ decode: (Row) throws -> T) throws -> T? {
        let row = Row(statement: self, columns: columnIndexes)
        guard try step() else { return nil }
        return try decode(row)
    }
}
