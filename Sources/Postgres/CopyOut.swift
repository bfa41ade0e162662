import CPostgres

/// The rows of a `COPY … TO STDOUT (FORMAT binary)`, one at a time: libpq hands over one row per
/// message, and the fields are read in place (no copy, no text parsing, no escapes).
///
/// The binary format (PostgreSQL manual, "COPY", "Binary Format"): an 11-byte signature, a flags
/// word and a header extension, then per row a 16-bit field count and per field a 32-bit length
/// (-1 for NULL) and the bytes; a count of -1 ends the data.
public final class CopyOut {
    let connection: Connection
    let sql: String
    private var buffer: UnsafeMutablePointer<CChar>?
    private var length = 0
    private let rows = CopyRows()
    public private(set) var finished = false

    init(connection: Connection, sql: String) {
        self.connection = connection
        self.sql = sql
    }

    deinit {
        reset()
    }

    /// Moves to the next row; false at the end (and the COPY's outcome checked).
    public func step() throws -> Bool {
        release()
        while !finished {
            var data: UnsafeMutablePointer<CChar>?
            let n = PQgetCopyData(connection.handle, &data, 0)
            if n == -1 {
                finished = true
                try settle()
                return false
            }
            guard n > 0, let data else {
                finished = true
                let message = Connection.trimmed(PQerrorMessage(connection.handle))
                try? settle()
                throw PostgresError(message: message.isEmpty ? "the COPY stream failed" : message, sqlState: nil, context: sql)
            }
            buffer = data
            length = Int(n)
            do {
                if try rows.parse(UnsafeRawBufferPointer(start: data, count: length)) { return true }
            } catch let error as CopyRows.Malformed {
                throw PostgresError(message: "the COPY data is malformed: \(error.what)", sqlState: nil, context: sql)
            }
            release()
        }
        return false
    }

    /// Field `column` of the current row as bytes (text comes as UTF-8), nil for NULL; valid until
    /// the next ``step()``.
    @inline(__always)
    public func textBytes(_ column: Int32) -> UnsafeRawBufferPointer? {
        guard let buffer, let (start, count) = rows.field(Int(column)) else { return nil }
        return UnsafeRawBufferPointer(start: UnsafeRawPointer(buffer) + start, count: count)
    }

    /// Field `column` as an integer (an `int8`, `int4` or `int2` field; 0 for NULL).
    @inline(__always)
    public func int64(_ column: Int32) -> Int64 {
        guard let bytes = textBytes(column) else { return 0 }
        return bigEndianInteger(bytes)
    }

    /// Ends the COPY: when rows are still coming, asks the server to cancel it and reads what is
    /// left, so the connection can take the next statement. (Inside a transaction, a cancelled COPY
    /// leaves it aborted: the caller ends it.)
    public func reset() {
        release()
        guard !finished else { return }
        finished = true
        connection.cancel()
        while true {
            var data: UnsafeMutablePointer<CChar>?
            let n = PQgetCopyData(connection.handle, &data, 0)
            if let data { PQfreemem(data) }
            if n < 0 { break }
        }
        try? settle()
    }

    private func release() {
        if let buffer { PQfreemem(buffer) }
        buffer = nil
        length = 0
    }

    /// Collects the COPY's results (one, then nil) and checks them.
    private func settle() throws {
        var failure: Error?
        while let result = PQgetResult(connection.handle) {
            if failure == nil {
                do { try connection.check(result, sql) } catch { failure = error }
            }
            PQclear(result)
        }
        if let failure { throw failure }
    }

}

/// A binary-form integer field (`int8`, `int4`, `int2`, or a 1-byte `bool`), big-endian and signed.
@inline(__always)
func bigEndianInteger(_ bytes: UnsafeRawBufferPointer) -> Int64 {
    var value: Int64 = 0
    for byte in bytes { value = value << 8 | Int64(byte) }
    switch bytes.count {
    case 4: return Int64(Int32(truncatingIfNeeded: value))
    case 2: return Int64(Int16(truncatingIfNeeded: value))
    default: return value
    }
}

/// The binary COPY format's rows, parsed in place from one message at a time: per field of the
/// current row its offset (-1 for NULL) and length, kept in plain memory (written for every field of
/// every row). Every length is checked against the message before it is used.
final class CopyRows {
    struct Malformed: Error {
        let what: String
    }

    static let signature: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]

    private var starts: UnsafeMutablePointer<Int>
    private var lengths: UnsafeMutablePointer<Int>
    private var capacity = 64
    private(set) var fieldCount = 0
    private var headerSeen = false

    init() {
        starts = .allocate(capacity: capacity)
        lengths = .allocate(capacity: capacity)
    }

    deinit {
        starts.deallocate()
        lengths.deallocate()
    }

    /// Field `i` of the last row parsed: offset and length in its message, nil for NULL or no such field.
    @inline(__always)
    func field(_ i: Int) -> (Int, Int)? {
        guard i >= 0, i < fieldCount, starts[i] >= 0 else { return nil }
        return (starts[i], lengths[i])
    }

    /// Reads the row in `bytes` (one CopyData message); false for a message with no row (the header
    /// alone, or the trailer).
    func parse(_ bytes: UnsafeRawBufferPointer) throws -> Bool {
        let length = bytes.count
        fieldCount = 0
        var position = 0
        if !headerSeen {
            guard length >= 19, Array(bytes[0..<11]) == Self.signature else { throw Malformed(what: "no binary COPY signature") }
            // Flag bits 0–15 are format-critical, bit 16 says each row carries an OID first: either is a
            // format this reader does not read (bits 17–31 may be ignored).
            guard UInt32(bitPattern: readInt32(bytes, 11)) & 0x0001_FFFF == 0 else { throw Malformed(what: "unexpected header flags") }
            let extensionLength = Int(readInt32(bytes, 15))
            position = 19 + extensionLength
            guard extensionLength >= 0, position <= length else { throw Malformed(what: "a header longer than its message") }
            headerSeen = true
            if position == length { return false }
        }
        guard position + 2 <= length else { throw Malformed(what: "a row without its field count") }
        let fields = Int(Int16(bitPattern: UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])))
        position += 2
        if fields == -1 { return false }
        guard fields >= 0 else { throw Malformed(what: "a row with \(fields) fields") }
        if fields > capacity {
            starts.deallocate()
            lengths.deallocate()
            capacity = fields
            starts = .allocate(capacity: capacity)
            lengths = .allocate(capacity: capacity)
        }
        for k in 0..<fields {
            guard position + 4 <= length else { throw Malformed(what: "a field without its length") }
            let size = Int(readInt32(bytes, position))
            position += 4
            if size < 0 {
                guard size == -1 else { throw Malformed(what: "a field of length \(size)") }
                starts[k] = -1
                lengths[k] = 0
                continue
            }
            guard size <= length - position else { throw Malformed(what: "a field longer than its row") }
            starts[k] = position
            lengths[k] = size
            position += size
        }
        guard position == length else { throw Malformed(what: "bytes after the row's last field") }
        fieldCount = fields
        return true
    }

    private func readInt32(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> Int32 {
        Int32(bitPattern: UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3]))
    }
}

extension CopyOut {
    /// Field `column` as a string (invalid UTF-8 cannot come from PostgreSQL text), nil for NULL.
    public func string(_ column: Int32) -> String? {
        textBytes(column).map { String(decoding: $0, as: UTF8.self) }
    }
}
