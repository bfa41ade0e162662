import CPostgres

/// Rows sent by `COPY … FROM STDIN (FORMAT binary)`: many rows in a few messages, where an INSERT
/// per row would wait for the server once per row. Fields are written in the binary COPY format
/// (PostgreSQL manual, "COPY", "Binary Format"): per row a 16-bit field count, per field a 32-bit
/// length (-1 for NULL) and the bytes — integers big-endian `int8`, text as UTF-8, `bytea` as is.
///
/// ```swift
/// let copy = try connection.copyIn("COPY disclosures (customer_id, scope) FROM STDIN (FORMAT binary)")
/// copy.startRow(fields: 2); copy.int64(42); copy.bytes(scope)
/// let rows = try copy.finish()
/// ```
public final class CopyIn {
    let connection: Connection
    let sql: String
    private var buffer: [UInt8] = []
    private var finished = false
    /// Sent to the server once this much is buffered.
    private static let flushAt = 1 << 20

    init(connection: Connection, sql: String) {
        self.connection = connection
        self.sql = sql
        buffer.reserveCapacity(Self.flushAt + 4096)
        buffer += CopyRows.signature
        buffer += [0, 0, 0, 0, 0, 0, 0, 0]  // flags, header extension length
    }

    deinit {
        if !finished { abort("abandoned") }
    }

    public func startRow(fields: Int16) throws {
        if buffer.count >= Self.flushAt { try flush() }
        append16(UInt16(bitPattern: fields))
    }

    public func int64(_ value: Int64) {
        append32(8)
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }

    /// Text (UTF-8) or `bytea` bytes; nil is NULL.
    public func bytes(_ value: UnsafeRawBufferPointer?) {
        guard let value else {
            append32(UInt32(bitPattern: -1))
            return
        }
        append32(UInt32(value.count))
        buffer.append(contentsOf: value)
    }

    /// Ends the data and returns how many rows the server took.
    @discardableResult
    public func finish() throws -> Int {
        append16(UInt16(bitPattern: -1))
        try flush()
        finished = true
        guard PQputCopyEnd(connection.handle, nil) == 1 else { throw failure() }
        var count = 0
        var problem: Error?
        while let result = PQgetResult(connection.handle) {
            do {
                try connection.check(result, sql)
                count += Int(String(cString: PQcmdTuples(result))) ?? 0
            } catch {
                if problem == nil { problem = error }
            }
            PQclear(result)
        }
        if let problem { throw problem }
        return count
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        let sent = buffer.withUnsafeBytes { raw in
            PQputCopyData(connection.handle, raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(raw.count))
        }
        guard sent == 1 else { throw failure() }
        buffer.removeAll(keepingCapacity: true)
    }

    private func abort(_ reason: String) {
        finished = true
        _ = PQputCopyEnd(connection.handle, reason)
        while let result = PQgetResult(connection.handle) { PQclear(result) }
    }

    /// The server's reason when it ended the COPY (read from its results), else libpq's.
    private func failure() -> PostgresError {
        let local = Connection.trimmed(PQerrorMessage(connection.handle))
        finished = true
        _ = PQputCopyEnd(connection.handle, "failed")
        var reason: PostgresError?
        while let result = PQgetResult(connection.handle) {
            if reason == nil { do { try connection.check(result, sql) } catch let error as PostgresError { reason = error } catch {} }
            PQclear(result)
        }
        return reason ?? PostgresError(message: local.isEmpty ? "the COPY could not be sent" : local, sqlState: nil, context: sql)
    }

    private func append16(_ value: UInt16) {
        buffer.append(UInt8(value >> 8))
        buffer.append(UInt8(value & 0xFF))
    }

    private func append32(_ value: UInt32) {
        buffer.append(UInt8(value >> 24))
        buffer.append(UInt8((value >> 16) & 0xFF))
        buffer.append(UInt8((value >> 8) & 0xFF))
        buffer.append(UInt8(value & 0xFF))
    }
}

extension Connection {
    /// Starts `sql`, a `COPY … FROM STDIN (FORMAT binary)`; write every row, then ``CopyIn/finish()``.
    public func copyIn(_ sql: String) throws -> CopyIn {
        try startCopy(sql, expecting: PGRES_COPY_IN)
        return CopyIn(connection: self, sql: sql)
    }
}
