import CPostgres

/// The rows of one statement in PostgreSQL's binary form (integers big-endian, text as UTF-8 bytes,
/// `bytea` as its bytes), read one at a time: either every row at once (``Connection/rows(_:_:streaming:)``
/// with `streaming: false`, for small results) or one row per message from the server (`streaming:
/// true`, libpq's single-row mode), so a read of millions of rows holds one.
///
/// Parameters go typed: integers as binary `int8`, bytes as binary `bytea`, text as text (its type
/// taken from where it is used).
///
/// ```swift
/// let rows = try connection.rows("SELECT seq, manifest FROM deliveries WHERE partner = $1", [.text("acme")], streaming: false)
/// while try rows.next() { use(rows.int64(0), rows.bytes(1)) }
/// ```
public final class BinaryRows {
    let connection: Connection
    let sql: String
    private let streaming: Bool
    private var result: OpaquePointer?
    private var row: Int32 = -1
    private var rowCount: Int32 = 0
    private var types: [Oid] = []
    /// Nothing sent yet, or every result read (a refused or failed query has nothing to cancel).
    private var finished = true
    /// Whether this read set the connection's `streaming` flag (only its owner clears it).
    private var ownsStream = false
    /// Rows an INSERT, UPDATE or DELETE changed (known once every row was read).
    public private(set) var changes = 0

    init(connection: Connection, sql: String, parameters: [Parameter], streaming: Bool) throws {
        self.connection = connection
        self.sql = sql
        self.streaming = streaming
        try Parameter.withLibpqArrays(parameters, sql: sql) { count, types, values, lengths, formats in
            try connection.checkIdle(sql)
            if streaming {
                guard PQsendQueryParams(connection.handle, sql, count, types, values, lengths, formats, 1) == 1 else {
                    throw PostgresError(message: Connection.trimmed(PQerrorMessage(connection.handle)), sqlState: nil, context: sql)
                }
                finished = false
                ownsStream = true
                connection.streaming = true
                guard PQsetSingleRowMode(connection.handle) == 1 else {
                    close()
                    throw PostgresError(message: "the server's rows could not be read one at a time", sqlState: nil, context: sql)
                }
            } else {
                let result = PQexecParams(connection.handle, sql, count, types, values, lengths, formats, 1)
                do {
                    try connection.check(result, sql)
                } catch {
                    PQclear(result)
                    throw error
                }
                self.result = result
                rowCount = PQntuples(result)
                changes = Int(String(cString: PQcmdTuples(result))) ?? 0
                readTypes()
            }
        }
    }

    deinit {
        close()
    }

    /// Moves to the next row; false when there is none.
    public func next() throws -> Bool {
        if !streaming {
            guard row + 1 < rowCount else { return false }
            row += 1
            return true
        }
        if let result { PQclear(result) }
        result = nil
        guard !finished else { return false }
        guard let next = PQgetResult(connection.handle) else {
            // A stream ends with a result of its own, then nil: nil first means the rows were lost.
            finish()
            throw PostgresError(message: "the rows stopped before their end (\(Connection.trimmed(PQerrorMessage(connection.handle))))",
                                sqlState: nil, context: sql)
        }
        if PQresultStatus(next) == PGRES_SINGLE_TUPLE {
            result = next
            row = 0
            if types.isEmpty { readTypes() }
            return true
        }
        // The end of the rows (or the failure): one result, then nil.
        defer { PQclear(next) }
        finish()
        var failure: Error?
        do { try connection.check(next, sql) } catch { failure = error }
        changes = Int(String(cString: PQcmdTuples(next))) ?? 0
        while let extra = PQgetResult(connection.handle) { PQclear(extra) }
        if let failure { throw failure }
        return false
    }

    /// Stops reading: rows still coming are cancelled and drained, so the connection can take the next statement.
    public func close() {
        if let result { PQclear(result) }
        result = nil
        guard !finished else { return }
        finish()
        connection.cancel()
        while let extra = PQgetResult(connection.handle) { PQclear(extra) }
    }

    private func finish() {
        finished = true
        if ownsStream {
            connection.streaming = false
            ownsStream = false
        }
    }

    public var columnCount: Int32 { Int32(types.count) }

    public func columnName(_ column: Int32) -> String? {
        guard let result, column < PQnfields(result), let name = PQfname(result, column) else { return nil }
        return String(cString: name)
    }

    public func isNull(_ column: Int32) -> Bool {
        guard let result, row >= 0, column < columnCount else { return true }
        return PQgetisnull(result, row, column) != 0
    }

    /// Bytes of the column (text as UTF-8, `bytea` as is), nil for NULL; valid until the next ``next()``.
    public func bytes(_ column: Int32) -> UnsafeRawBufferPointer? {
        guard let result, !isNull(column) else { return nil }
        return UnsafeRawBufferPointer(start: PQgetvalue(result, row, column), count: Int(PQgetlength(result, row, column)))
    }

    /// An integer column (`int8`, `int4`, `int2`; `bool` as 0 or 1), 0 for NULL or any other type.
    public func int64(_ column: Int32) -> Int64 {
        guard let bytes = bytes(column) else { return 0 }
        switch types[Int(column)] {
        case 20, 23, 21, 16:
            return bigEndianInteger(bytes)
        case 25, 1043, 705, 19:
            // Text holding a number (a `max()` over a text column holding one).
            return Int64(String(decoding: bytes, as: UTF8.self)) ?? 0
        default:
            return 0
        }
    }

    private func readTypes() {
        guard let result else { return }
        types = (0..<PQnfields(result)).map { PQftype(result, $0) }
    }
}

extension Connection {
    /// Runs `sql` (`$1…` bound to `parameters`) and returns its rows in binary form (see ``BinaryRows``).
    public func rows(_ sql: String, _ parameters: [Parameter], streaming: Bool) throws -> BinaryRows {
        try BinaryRows(connection: self, sql: sql, parameters: parameters, streaming: streaming)
    }
}

extension Parameter {
    /// The parameters as libpq's arrays (types, values, lengths, formats), valid during `body`.
    static func withLibpqArrays<T>(_ parameters: [Parameter], sql: String,
                                   _ body: (Int32, UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?,
                                            UnsafePointer<Int32>?, UnsafePointer<Int32>?) throws -> T) throws -> T {
        var storage: [[UInt8]] = []
        var types: [Oid] = []
        var formats: [Int32] = []
        var present: [Bool] = []
        for parameter in parameters {
            switch parameter {
            case .null:
                storage.append([]); types.append(0); formats.append(0); present.append(false)
            case .text(let text):
                guard !text.utf8.contains(0) else {
                    throw PostgresError(message: "a parameter holds a NUL character, which PostgreSQL text cannot hold", sqlState: nil,
                                        context: sql)
                }
                storage.append(Array(text.utf8) + [0]); types.append(0); formats.append(0); present.append(true)
            case .integer(let value):
                storage.append(withUnsafeBytes(of: value.bigEndian) { Array($0) }); types.append(20); formats.append(1); present.append(true)
            case .bytes(let bytes):
                storage.append(bytes); types.append(17); formats.append(1); present.append(true)
            }
        }
        var lengths = storage.enumerated().map { Int32(formats[$0.offset] == 0 ? max(0, $0.element.count - 1) : $0.element.count) }
        var pointers: [UnsafePointer<CChar>?] = []
        var buffers: [UnsafeMutableRawPointer] = []
        defer { for buffer in buffers { buffer.deallocate() } }
        for (i, bytes) in storage.enumerated() {
            guard present[i] else {
                pointers.append(nil)
                lengths[i] = 0
                continue
            }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
            bytes.withUnsafeBytes { if let base = $0.baseAddress { buffer.copyMemory(from: base, byteCount: bytes.count) } }
            buffers.append(buffer)
            pointers.append(UnsafePointer(buffer.assumingMemoryBound(to: CChar.self)))
        }
        return try body(Int32(parameters.count), types, pointers, lengths, formats)
    }
}
