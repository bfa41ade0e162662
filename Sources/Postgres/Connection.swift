import CPostgres
#if canImport(Glibc)
import Glibc
#endif

/// A connection to a PostgreSQL server: a small typed layer over libpq.
///
/// Not thread-safe: use one connection per thread (or hand it from thread to thread, never share it
/// at once). Errors carry the server's message, its SQLSTATE and the SQL text, never the password of
/// the URL. Parameter values are not added to them, but a server's message may quote one (a
/// duplicate key's DETAIL): the export's own statements only read.
///
/// ```swift
/// let connection = try Connection(url: "postgresql://exporter@db.internal/crm?sslmode=verify-full")
/// let rows = try connection.query("SELECT scope FROM consents WHERE customer_id = $1", ["42"])
/// let copy = try connection.copyOut("SELECT id::int8, email FROM customers ORDER BY id")
/// while try copy.step() { use(copy.int64(0), copy.textBytes(1)) }
/// ```
public final class Connection {
    let handle: OpaquePointer
    /// The URL with its password removed, for messages.
    public let label: String

    /// Opens `url` (libpq's URI form) and sets up the session: UTF-8, UTC, ISO dates, standard
    /// strings, and the statements given in `setup`.
    ///
    /// The URL is taken apart by libpq's own parser here (``PostgresURL/split(_:)``) and the connection
    /// opened with its options one by one, so that no message of libpq's — which quote a URL when it
    /// is malformed — can contain a password. Messages are scrubbed of it all the same.
    public init(url: String, setup: [String] = [], parameters: [(keyword: String, value: String)] = []) throws {
        let parts = try PostgresURL.split(url)
        label = parts.label
        // `parameters` (keepalives, say) come after the URL's: libpq lets a later keyword override it.
        let keywords = parts.options.map(\.keyword) + parameters.map(\.keyword)
        let values = parts.options.map(\.value) + parameters.map(\.value)
        let connection: OpaquePointer? = withCStrings(keywords) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 0) }
        }
        guard let connection else {
            throw PostgresError(message: "out of memory", sqlState: nil, context: "connecting to \(label)")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = parts.scrub(Self.trimmed(PQerrorMessage(connection)))
            PQfinish(connection)
            throw PostgresError(message: message, sqlState: nil, context: "connecting to \(label)")
        }
        handle = connection
        // The server's notices and warnings (a schema that exists, a session being ended) would be printed
        // on standard error by libpq's default receiver, once per connection and outside the log format:
        // what matters of them comes back in the errors of the statements they concern.
        _ = PQsetNoticeReceiver(connection, { _, _ in }, nil)
        guard PQsetClientEncoding(connection, "UTF8") == 0 else {
            throw PostgresError(message: Self.trimmed(PQerrorMessage(connection)), sqlState: nil, context: "setting client_encoding")
        }
        try execute("SET standard_conforming_strings = on; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
                    + "SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3; SET application_name = 'partner-export'")
        for statement in setup { try execute(statement) }
    }

    deinit {
        PQfinish(handle)
    }

    /// The password libpq holds for this connection (for tests of how URLs are taken apart).
    var password: String? { PQpass(handle).map { String(cString: $0) } }

    /// Set while a streamed read (``rows(_:_:streaming:)``) is open: libpq would silently drop its
    /// remaining rows if another statement started, so every other statement is refused meanwhile.
    var streaming = false

    func checkIdle(_ sql: String) throws {
        guard !streaming else {
            throw PostgresError(message: "a streamed read is still open on this connection; another statement cannot start",
                                sqlState: nil, context: sql)
        }
    }

    /// Runs one or more statements whose rows, if any, are not wanted.
    public func execute(_ sql: String) throws {
        try checkIdle(sql)
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        try check(result, sql)
    }

    /// Runs `sql` with `$1…` bound to `parameters` (text form; nil is NULL) and returns every row, in
    /// text form. For small results: a feed's rows come through ``copyOut(_:)``.
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> QueryResult {
        try query(sql, values: parameters.map { $0.map(Parameter.text) ?? .null })
    }

    /// Runs `sql` with `$1…` bound to `parameters` (typed as ``BinaryRows`` binds them: text as text,
    /// integers as `int8`, bytes as `bytea`), and the rows come back in text form. Returns the rows, if any.
    public func query(_ sql: String, values parameters: [Parameter]) throws -> QueryResult {
        try checkIdle(sql)
        let result = try Parameter.withLibpqArrays(parameters, sql: sql) { count, types, values, lengths, formats in
            PQexecParams(handle, sql, count, types, values, lengths, formats, 0)
        }
        do {
            try check(result, sql)
        } catch {
            PQclear(result)
            throw error
        }
        return QueryResult(result!, sql: sql)
    }

    /// Starts `COPY (sql) TO STDOUT (FORMAT binary)`: the rows stream in one at a time, in the binary
    /// form (integers big-endian, text as UTF-8 bytes). Read them all, or ``CopyOut/reset()`` to
    /// cancel, before the next statement on this connection.
    public func copyOut(_ sql: String) throws -> CopyOut {
        let command = "COPY (\(sql)) TO STDOUT (FORMAT binary)"
        try startCopy(command, expecting: PGRES_COPY_OUT)
        return CopyOut(connection: self, sql: command)
    }

    /// Sends `command`, a COPY, and checks the server started it in the direction expected.
    func startCopy(_ command: String, expecting status: ExecStatusType) throws {
        try checkIdle(command)
        let result = PQexec(handle, command)
        defer { PQclear(result) }
        guard PQresultStatus(result) == status else {
            try check(result, command)
            throw PostgresError(message: "the server did not start a COPY", sqlState: nil, context: command)
        }
    }

    /// `text` as an SQL string literal, quoted by libpq for this connection's encoding.
    public func literal(_ text: String) throws -> String {
        let bytes = Array(text.utf8)
        guard !bytes.contains(0) else {
            throw PostgresError(message: "a text value holds a NUL character, which PostgreSQL cannot hold", sqlState: nil,
                                context: "quoting a literal")
        }
        guard let quoted = bytes.withUnsafeBufferPointer({ buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQescapeLiteral(handle, $0.baseAddress, buffer.count) }
        }) else {
            throw PostgresError(message: Self.trimmed(PQerrorMessage(handle)), sqlState: nil, context: "quoting a literal")
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }

    /// Runs `body` inside `BEGIN … COMMIT` (`begin` gives the isolation), rolling back when it throws.
    /// A failure anywhere — in `begin` too — ends with ROLLBACK, so the session never stays in an
    /// aborted transaction; a transaction that an error aborted without `body` noticing is rolled
    /// back and reported, never committed (PostgreSQL would answer that COMMIT with a ROLLBACK).
    public func transaction<T>(_ begin: String = "BEGIN", _ body: () throws -> T) throws -> T {
        guard PQtransactionStatus(handle) == PQTRANS_IDLE else {
            throw PostgresError(message: "a transaction or statement is already in progress on this connection", sqlState: nil,
                                context: begin)
        }
        do {
            try execute(begin)
            let result = try body()
            guard PQtransactionStatus(handle) == PQTRANS_INTRANS else {
                throw PostgresError(message: "the transaction was aborted by an earlier error, or a statement is still open",
                                    sqlState: nil, context: "COMMIT")
            }
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Asks the server to stop the statement in progress (for a COPY nobody reads to its end).
    func cancel() {
        guard let cancel = PQgetCancel(handle) else { return }
        var message = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &message, Int32(message.count))
        PQfreeCancel(cancel)
    }

    func check(_ result: OpaquePointer?, _ sql: String) throws {
        guard let result else {
            throw PostgresError(message: Self.trimmed(PQerrorMessage(handle)), sqlState: nil, context: sql)
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY: return
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            var message = Self.trimmed(PQresultErrorMessage(result))
            if message.isEmpty { message = Self.trimmed(PQerrorMessage(handle)) }
            throw PostgresError(message: message, sqlState: state, context: sql)
        }
    }

    static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "" }
        var text = String(cString: message)
        while text.last?.isWhitespace == true { text.removeLast() }
        return text
    }

    /// Where the part after `scheme://` starts.
    private static func schemeEnd(_ text: String) -> String.Index? {
        for prefix in ["postgresql://", "postgres://"] where text.hasPrefix(prefix) {
            return text.index(text.startIndex, offsetBy: prefix.count)
        }
        return nil
    }
}

/// A parameter of ``Connection/query(_:values:)``.
public enum Parameter: Sendable, Hashable {
    case null
    case text(String)
    case integer(Int64)
    /// Sent in binary form, for a `bytea` parameter.
    case bytes([UInt8])
}

/// Every row of a query, in text form.
public final class QueryResult {
    let result: OpaquePointer
    let sql: String
    public let count: Int
    private let columns: [String: Int32]

    init(_ result: OpaquePointer, sql: String) {
        self.result = result
        self.sql = sql
        count = Int(PQntuples(result))
        var columns: [String: Int32] = [:]
        for i in 0..<PQnfields(result) { columns[String(cString: PQfname(result, i))] = i }
        self.columns = columns
    }

    deinit {
        PQclear(result)
    }

    public var columnCount: Int { Int(PQnfields(result)) }

    /// Rows changed by an INSERT, UPDATE or DELETE.
    public var changes: Int { Int(String(cString: PQcmdTuples(result))) ?? 0 }

    /// The value of `column` (by position) in row `row`, nil for NULL.
    public func text(_ row: Int, _ column: Int) -> String? {
        guard PQgetisnull(result, Int32(row), Int32(column)) == 0 else { return nil }
        return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
    }

    /// The value of the column called `name` in row `row`, nil for NULL.
    public func text(_ row: Int, _ name: String) throws -> String? {
        guard let column = columns[name] else {
            throw PostgresError(message: "column \(name) is not in the result", sqlState: nil, context: sql)
        }
        return text(row, Int(column))
    }

    /// An integer column that must not be NULL.
    public func int64(_ row: Int, _ column: Int) throws -> Int64 {
        guard let text = text(row, column), let value = Int64(text) else {
            throw PostgresError(message: "column \(column) of row \(row) is not an integer", sqlState: nil, context: sql)
        }
        return value
    }
}

/// A PostgreSQL failure: the server's (or libpq's) message, the SQLSTATE when the server gave one,
/// and what was being done.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let sqlState: String?
    public let context: String

    public var description: String {
        "\(message)" + (sqlState.map { " (SQLSTATE \($0)" } ?? " (") + ", while \(context.prefix(200)))"
    }
}

/// PostgreSQL connection URLs as the command line takes them (`--db`, `--state`).
public enum PostgresURL {
    /// Whether `text` names a PostgreSQL server (libpq's URI form, scheme in any case) rather than a file.
    public static func matches(_ text: String) -> Bool { schemeEnd(text) != nil }

    /// Whether `text` begins like a PostgreSQL URL without being one (`postgresql:/…`, `postgres:…`):
    /// it must not be taken for a file name and printed (it may hold a password).
    ///
    /// Caught: a PostgreSQL-like scheme (`postgres:`, `postgresql:`, `psql:`, `pgsql:`, any case), any
    /// other `scheme://`, a `user:password@` part, or spaces around the value — none of which a file
    /// name the operator meant would have (`postgres.sqlite` or a folder `postgres/` is a file name),
    /// and each of which, taken for a file name, would be created and printed.
    public static func looksMistyped(_ text: String) -> Bool {
        guard !matches(text) else { return false }
        let lower = text.lowercased()
        if ["postgresql:", "postgres:", "psql:", "pgsql:"].contains(where: { lower.hasPrefix($0) }) { return true }
        if lower.hasPrefix("postgres") && lower.contains("//") { return true }
        if lower.contains("password=") { return true }
        if text.contains("://") { return true }
        if text.first?.isWhitespace == true || text.last?.isWhitespace == true { return true }
        if let at = text.firstIndex(of: "@"), text[..<at].contains(":") { return true }
        return false
    }

    /// Whether `text` looks like libpq's keyword/value form (`host=… password=…`), which `--db` does
    /// not take: it would be read as a file name, and messages would print it.
    public static func looksLikeKeywords(_ text: String) -> Bool {
        let lower = text.lowercased()
        return !matches(text) && ["host=", "hostaddr=", "dbname=", "user=", "password=", "port="].contains { lower.hasPrefix($0) || lower.contains(" " + $0) }
    }

    /// `url` without its passwords, for messages: rebuilt from what libpq reads in it, every password
    /// shown as `***`; a URL libpq cannot read is not shown at all.
    public static func redacted(_ url: String) -> String {
        (try? split(url).label) ?? "the PostgreSQL URL given (not shown: it may hold a password)"
    }

    /// A URL as libpq reads it (`PQconninfoParse`, libpq's own parser: no second opinion on where the
    /// user-info ends or what a parameter holds): the options it sets, the passwords among them, and a
    /// label for messages rebuilt from the options without the passwords.
    public struct Parts: Sendable {
        /// Every option the URL sets, in libpq's order, passwords included: what the connection is opened with.
        public let options: [(keyword: String, value: String)]
        /// The options libpq marks as secret (`password`, `sslpassword`).
        public let secrets: [(keyword: String, value: String)]
        public var password: String? { secrets.first { $0.keyword == "password" }?.value }
        /// The URL rebuilt from the options, each secret as `***`.
        public let label: String

        /// `message` with every secret, as given or percent-encoded, replaced by `***`.
        public func scrub(_ message: String) -> String {
            var text = message
            for (_, secret) in secrets where !secret.isEmpty {
                for form in [secret, PostgresURL.encoded(secret)] { text = text.replacingAll(form, with: "***") }
            }
            return text
        }
    }

    /// Takes `url` apart with libpq's parser. Throws without quoting the URL (libpq's own message may
    /// quote a part of it, password included).
    public static func split(_ url: String) throws -> Parts {
        guard let start = schemeEnd(url) else {
            throw PostgresError(message: "not a postgresql:// URL", sqlState: nil, context: "reading a PostgreSQL URL")
        }
        let scheme = url[..<start].lowercased()
        let normalised = scheme + url[start...]
        var error: UnsafeMutablePointer<CChar>?
        guard let parsed = PQconninfoParse(normalised, &error) else {
            if let error { PQfreemem(error) }
            throw PostgresError(message: "libpq cannot read this URL (it is not shown: it may hold a password); see libpq's "
                                + "\"Connection URIs\" for the form", sqlState: nil, context: "reading a PostgreSQL URL")
        }
        defer { PQconninfoFree(parsed) }
        var options: [(keyword: String, value: String)] = []
        var secrets: [(keyword: String, value: String)] = []
        var option = parsed
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                let entry = (keyword: String(cString: keyword), value: String(cString: value))
                options.append(entry)
                if let display = option.pointee.dispchar, String(cString: display) == "*" { secrets.append(entry) }
            }
            option += 1
        }
        // libpq ends the user-info at the first '@': the rest of a password with an unencoded '@' becomes the
        // host, and messages would quote it. No host name holds an '@'.
        // An unencoded '/' ends it before the '@': the password then lands in the host, the port or the database
        // name. No host, port, user or database name holds an '@', and a port is digits.
        let misread = options.contains { option in
            (["host", "port", "dbname", "user", "hostaddr"].contains(option.keyword) && option.value.contains("@"))
                || (option.keyword == "port" && !option.value.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ",") })
        }
        if misread {
            throw PostgresError(message: "libpq would read a part of this URL's user name or password as the host, port or "
                                + "database (an '@' or '/' in them must be percent-encoded: '%40', '%2F'); the URL is not shown "
                                + "(it may hold a password)", sqlState: nil, context: "reading a PostgreSQL URL")
        }
        return Parts(options: options, secrets: secrets, label: label(scheme: String(scheme), options: options,
                                                                        secret: Set(secrets.map(\.keyword))))
    }

    /// `scheme://[user[:***]@][host[:port]][/dbname][?keyword=value&…]`, values percent-encoded; a
    /// host list, a socket folder or a `hostaddr` go into the query, where libpq reads them the same.
    static func label(scheme: String, options: [(keyword: String, value: String)], secret: Set<String>) -> String {
        var rest = options
        func take(_ keyword: String) -> String? {
            guard let index = rest.firstIndex(where: { $0.keyword == keyword }) else { return nil }
            return rest.remove(at: index).value
        }
        let user = take("user")
        let dbname = take("dbname")
        var authority = ""
        if let user {
            authority = encoded(user)
            if secret.contains("password"), take("password") != nil { authority += ":***" }
            authority += "@"
        }
        if let host = rest.first(where: { $0.keyword == "host" })?.value, !host.contains(","), !host.hasPrefix("/"), !host.hasPrefix("@"),
           !rest.contains(where: { $0.keyword == "port" && $0.value.contains(",") }) {
            _ = take("host")
            authority += host.contains(":") ? "[\(host)]" : encoded(host)
            if let port = take("port") { authority += ":" + encoded(port) }
        }
        var text = scheme + authority
        if let dbname { text += "/" + encoded(dbname) }
        let query = rest.map { "\($0.keyword)=" + (secret.contains($0.keyword) ? "***" : encoded($0.value)) }
        if !query.isEmpty { text += (dbname == nil ? "/" : "") + "?" + query.joined(separator: "&") }
        return text
    }

    /// Percent-encoding of everything but RFC 3986's unreserved characters.
    static func encoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF".unicodeScalars)
                out += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0F)])
            }
        }
        return out
    }

    /// Where the part after `scheme://` starts (the scheme in any case).
    private static func schemeEnd(_ text: String) -> String.Index? {
        for prefix in ["postgresql://", "postgres://"] {
            guard text.utf8.count >= prefix.utf8.count else { continue }
            let head = text.prefix(prefix.count)
            if head.lowercased() == prefix { return head.endIndex }
        }
        return nil
    }
}

/// Calls `body` with `strings` as a NULL-terminated array of C strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { for copy in copies { free(copy) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation in this target).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
