import ExportCore
import Postgres
import SQLite

/// The rows of a selection as the reader takes them: a SQLite statement or a PostgreSQL COPY.
/// Column 0 and integers are `int64`; every other column is text bytes (nil for NULL).
protocol SelectionCursor: AnyObject {
    func step() throws -> Bool
    func int64(_ column: Int32) -> Int64
    func textBytes(_ column: Int32) -> UnsafeRawBufferPointer?
    func string(_ column: Int32) -> String?
    /// Ends the rows early (or after the end); the connection is then free for the next statement.
    func reset()
}

extension Statement: SelectionCursor {}
extension CopyOut: SelectionCursor {}

/// The PostgreSQL side of ``CustomerDatabase`` (docs/design.md, "PostgreSQL"): the session it reads
/// in and the checks of the canonical schema, done on the catalogue (`pg_attribute`, `pg_index`),
/// never on the data.
enum PostgresCustomers {
    /// Connects read-only: every statement of the session is READ ONLY, and REPEATABLE READ unless
    /// told otherwise.
    static func connect(_ url: String) throws -> Connection {
        do {
            return try Connection(url: url, setup: ["SET default_transaction_read_only = on",
                                                    "SET default_transaction_isolation = 'repeatable read'"])
        } catch let error as PostgresError {
            throw ExportError.sourceUnreadable("cannot open the customer database \(PostgresURL.redacted(url)): \(error.message)")
        }
    }

    /// Runs `body`, turning a server error into a message naming the database.
    static func reading<T>(_ connection: Connection, label: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresError {
            throw ExportError.sourceUnreadable("cannot read the customer database \(label): \(error.message)"
                                               + (error.sqlState.map { " (SQLSTATE \($0))" } ?? ""))
        }
    }

    /// The columns of `table` as the session's search path finds it (empty when there is none).
    static func columns(of table: String, _ connection: Connection, label: String) throws -> [String] {
        try reading(connection, label: label) {
            let rows = try connection.query("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 "
                                            + "AND NOT attisdropped ORDER BY attnum", [table])
            return (0..<rows.count).compactMap { rows.text($0, 0) }
        }
    }

    /// The model's tables (or views) exist, with the consents' columns. Canonical: `customers.id` is
    /// the primary key and an integer type, so every id is an integer that names one customer. Mapped:
    /// the key column exists and is of an integer type; returns whether a primary key or unique index
    /// declares it unique (when not, every snapshot checks, ``CustomerDatabase/checkKeyUnique()``).
    static func checkTables(_ connection: Connection, model: SourceModel, label: String) throws -> Bool {
        try reading(connection, label: label) {
            let customers = SelectionSQL.quoteTable(model.customers.table)
            let consentsTable = SelectionSQL.quoteTable(model.consents.table)
            for (table, quoted) in [(model.customers.table, customers), (model.consents.table, consentsTable)] {
                let found = try connection.query("SELECT to_regclass($1) IS NOT NULL", [quoted])
                if found.text(0, 0) != "t" {
                    throw ExportError.sourceSchema("the customer database \(label) has no table or view '\(table)' in its search path "
                                                   + (model.isCanonical ? "(the schema is in docs/design.md, \"Source data\")" : "(source.yaml)"))
                }
            }
            let consents = Set(try columns(of: consentsTable, connection, label: label))
            for name in [model.consents.customer, model.consents.scope, model.consents.grantedAt, model.consents.withdrawnAt]
            where !consents.contains(name) {
                throw ExportError.sourceSchema("the customer database \(label) has no column '\(name)' in \(model.consents.table)")
            }
            let integers = ["smallint", "integer", "bigint"]
            if !model.isCanonical {
                let key = model.customers.key
                let type = try connection.query("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass($1) "
                                                + "AND attname = $2 AND attnum > 0 AND NOT attisdropped", [customers, key])
                guard type.count == 1 else {
                    throw ExportError.sourceSchema("the customer database \(label) has no column '\(key)' in \(model.customers.table) "
                                                   + "(customers.key in source.yaml)")
                }
                guard integers.contains(type.text(0, 0) ?? "") else {
                    throw ExportError.sourceSchema("the customer database \(label): \(model.customers.table).\(key) is of type "
                                                   + "\(type.text(0, 0) ?? "?"); customer ids must be of an integer type")
                }
                let unique = try connection.query("""
                    SELECT count(*) FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid
                      AND i.indpred IS NULL AND i.indnkeyatts = 1
                      AND (SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) = $2
                    """, [customers, key])
                return (Int(unique.text(0, 0) ?? "0") ?? 0) > 0
            }
            let keys = try connection.query("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i "
                                            + "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                                            + "WHERE i.indrelid = to_regclass('customers') AND i.indisprimary")
            let found = (0..<keys.count).map { (keys.text($0, 0) ?? "", keys.text($0, 1) ?? "") }
            guard found.count == 1, found[0].0 == "id", integers.contains(found[0].1) else {
                throw ExportError.sourceSchema("the customer database \(label): customers.id must be the table's primary key, of an "
                                               + "integer type (found " + (found.isEmpty ? "no primary key"
                                                   : found.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
                                               + "); ids that are not integers cannot identify customers")
            }
            return true
        }
    }

    /// A primary key or a unique index (not a partial one) on exactly (customer_id, scope) of `consents`.
    static func consentsDeclaredUnique(_ connection: Connection, model: SourceModel, label: String) throws -> Bool {
        try reading(connection, label: label) {
            let columns = [model.consents.customer, model.consents.scope].sorted()
            let rows = try connection.query("""
                SELECT count(i.indexrelid) FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
                  AND i.indnkeyatts = 2 AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                       WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey[0:1])) = ARRAY[$2, $3]
                """, [SelectionSQL.quoteTable(model.consents.table), columns[0], columns[1]])
            return (Int(rows.text(0, 0) ?? "0") ?? 0) > 0
        }
    }
}
