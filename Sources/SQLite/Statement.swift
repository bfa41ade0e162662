import CSQLite

/// A compiled statement. Column reads are valid until the next `step()`.
public final class Statement {
    let handle: OpaquePointer
    let database: Database
    public let sql: String

    init(handle: OpaquePointer, database: Database, sql: String) {
        self.handle = handle
        self.database = database
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// Binds `values` to parameters 1…n.
    public func bind(_ values: [Value]) throws {
        for (i, value) in values.enumerated() { try bind(value, at: Int32(i + 1)) }
    }

    public func bind(_ value: Value, at index: Int32) throws {
        let rc: Int32
        switch value {
        case .null: rc = sqlite3_bind_null(handle, index)
        case .integer(let n): rc = sqlite3_bind_int64(handle, index, n)
        case .real(let d): rc = sqlite3_bind_double(handle, index, d)
        case .text(let s):
            rc = s.utf8CString.withUnsafeBufferPointer { buffer in
                pe_sqlite3_bind_text_copy(handle, index, buffer.baseAddress, Int32(buffer.count - 1))
            }
        case .textBytes(let bytes) where bytes.isEmpty:
            return try bind(.text(""), at: index)  // a nil pointer would bind NULL
        case .textBytes(let bytes):
            rc = bytes.withUnsafeBytes { buffer in
                pe_sqlite3_bind_text_copy(handle, index, buffer.baseAddress?.assumingMemoryBound(to: CChar.self),
                                          Int32(buffer.count))
            }
        case .blob(let bytes):
            rc = bytes.withUnsafeBytes { buffer in
                pe_sqlite3_bind_blob_copy(handle, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count))
            }
        }
        guard rc == SQLITE_OK else { throw database.error(rc, "binding parameter \(index) of \(sql)") }
    }

    /// Binds text given as bytes (copied by SQLite), without building a String or an Array.
    public func bindText(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws {
        let rc = bytes.count == 0
            ? pe_sqlite3_bind_text_copy(handle, index, "", 0)
            : pe_sqlite3_bind_text_copy(handle, index, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        guard rc == SQLITE_OK else { throw database.error(rc, "binding parameter \(index) of \(sql)") }
    }

    /// Binds a blob given as bytes (copied by SQLite); an empty one is an empty blob, never NULL.
    public func bindBlob(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws {
        let rc = pe_sqlite3_bind_blob_copy(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count))
        guard rc == SQLITE_OK else { throw database.error(rc, "binding parameter \(index) of \(sql)") }
    }

    /// Advances to the next row; false when there is none.
    @discardableResult
    public func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw database.error(rc, sql)
        }
    }

    /// Resets the statement so that it can run again (bindings are kept).
    public func reset() {
        sqlite3_reset(handle)
    }

    /// Runs the statement to completion with `values` bound, then resets it.
    public func run(_ values: [Value] = []) throws {
        sqlite3_reset(handle)
        try bind(values)
        while try step() {}
        sqlite3_reset(handle)
    }

    public var columnCount: Int32 { sqlite3_column_count(handle) }

    public func columnName(_ column: Int32) -> String? { sqlite3_column_name(handle, column).map { String(cString: $0) } }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    /// The column's bytes as text (NULL → nil), embedded NULs included; valid until the next step.
    public func textBytes(_ column: Int32) -> UnsafeRawBufferPointer? {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
        guard let pointer = sqlite3_column_text(handle, column) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let count = Int(sqlite3_column_bytes(handle, column))
        return UnsafeRawBufferPointer(start: pointer, count: count)
    }

    /// The column as a String (invalid UTF-8 repaired), or nil for NULL.
    public func string(_ column: Int32) -> String? {
        textBytes(column).map { String(decoding: $0, as: UTF8.self) }
    }
}
