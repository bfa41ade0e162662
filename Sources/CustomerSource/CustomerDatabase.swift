import ExportCore
import Foundation
import Postgres
import SQLite

/// The customer database (docs/design.md, "Source data"), opened read-only: a SQLite file, or a
/// PostgreSQL server named by a `postgresql://` URL (``PostgresCustomers``).
///
/// Selection is fail-closed and done in SQL: a customer is eligible only if every consent scope the
/// contract names has a row with `withdrawn_at` NULL, and every filter matches. Only the columns of
/// a ``SourceColumns`` are ever SELECTed.
public final class CustomerDatabase {
    enum Backend {
        case sqlite(Database)
        case postgres(Connection)
    }

    let backend: Backend
    /// The file's path, or the server's URL without its password: what messages name.
    public let path: String
    /// Whether a primary key or unique index makes `consents` unique on (customer_id, scope); when
    /// not, every snapshot first looks for a duplicate (``checkConsentsUnique()``).
    private(set) var consentsDeclaredUnique = false

    /// Opens `path` (a file, or a `postgresql://` URL) read-only and checks that it has the canonical tables.
    public init(path: String) throws {
        try Self.refuseKeywordForm(path)
        if PostgresURL.matches(path) {
            self.path = PostgresURL.redacted(path)
            let connection = try PostgresCustomers.connect(path)
            backend = .postgres(connection)
            try PostgresCustomers.checkTables(connection, label: self.path)
            consentsDeclaredUnique = try PostgresCustomers.consentsDeclaredUnique(connection, label: self.path)
            return
        }
        self.path = path
        do {
            let database = try Database(path: path, mode: .readOnly)
            backend = .sqlite(database)
            // A scan in id order: a small page cache reads as fast and keeps memory flat.
            try database.execute("PRAGMA query_only = 1; PRAGMA cache_size = -1024")
            for table in ["customers", "consents"] where try !database.hasTable(table) {
                throw ExportError.sourceSchema("the customer database \(path) has no table '\(table)' (the schema is in docs/design.md, \"Source data\")")
            }
            try checkKeys(database)
            consentsDeclaredUnique = try Self.consentsDeclaredUnique(database)
        } catch let error as SQLiteError {
            throw ExportError.sourceUnreadable("cannot open the customer database \(path): \(error.message)")
        }
    }

    /// That `path` names a source at all, before anything opens it: a server URL, or a file that
    /// exists (``ExportError/sourceMissing(path:)`` otherwise); libpq's keyword form is refused.
    public static func checkPresent(_ path: String) throws {
        try refuseKeywordForm(path)
        guard PostgresURL.matches(path) || FileManager.default.fileExists(atPath: path) else {
            throw ExportError.sourceMissing(path: path)
        }
    }

    /// libpq's keyword/value form (`host=… password=…`) is not taken: it would be read as a file
    /// name and printed in messages, password and all.
    public static func refuseKeywordForm(_ path: String) throws {
        guard PostgresURL.looksLikeKeywords(path) else { return }
        throw ExportError.usage("--db looks like a libpq keyword/value string (host=… dbname=…); give the server as a "
                                + "postgresql://user@host/db URL instead (the value is not shown: it may hold a password)")
    }

    /// The SQLite connection (nil for a PostgreSQL source), for tests that watch what is read.
    var sqlite: Database? {
        if case .sqlite(let database) = backend { return database }
        return nil
    }

    /// Customers are identified by an integer: `customers.id` must be an `INTEGER PRIMARY KEY` of a
    /// rowid table (the rowid itself, so every id is an integer: a text `abc` or a `3.7` can never be
    /// read as customer 0 or 3, and disclosures never go to the wrong person).
    private func checkKeys(_ database: Database) throws {
        let info = try database.prepare("SELECT name, type, pk FROM pragma_table_info('customers')").rows { row in
            (try row.text("name"), try row.optionalText("type") ?? "", try row.int("pk"))
        }
        let keys = info.filter { $0.2 > 0 }
        guard keys.count == 1, keys[0].0 == "id", keys[0].1.uppercased() == "INTEGER" else {
            throw ExportError.sourceSchema("the customer database \(path): customers.id must be the table's INTEGER PRIMARY KEY "
                                           + "(found " + (keys.isEmpty ? "no primary key" : keys.map { "\($0.0) \($0.1)" }
                                               .joined(separator: ", ")) + "); ids that are not integers cannot identify customers")
        }
        do {
            _ = try database.prepare("SELECT rowid FROM customers LIMIT 0")
        } catch {
            throw ExportError.sourceSchema("the customer database \(path): customers is a WITHOUT ROWID table, so its INTEGER "
                                           + "PRIMARY KEY does not guarantee integer ids; make it an ordinary table")
        }
        let consents = Set(try database.columns(of: "consents"))
        for name in ["customer_id", "scope", "granted_at", "withdrawn_at"] where !consents.contains(name) {
            throw ExportError.sourceSchema("the customer database \(path) has no column '\(name)' in consents")
        }
    }

    /// A primary key or a unique index (not a partial one) on exactly (customer_id, scope).
    private static func consentsDeclaredUnique(_ database: Database) throws -> Bool {
        // A column without integer affinity keeps 42 and '42' apart (a unique index too), while the join
        // matches both to customer 42: only an integer customer_id makes the index a proof.
        let type = try database.prepare("SELECT type FROM pragma_table_info('consents') WHERE name = 'customer_id'")
            .rows { try $0.optionalText("type") ?? "" }.first ?? ""
        guard type.uppercased().contains("INT") else { return false }
        let indexes = try database.prepare("SELECT name FROM pragma_index_list('consents') WHERE \"unique\" = 1 AND partial = 0")
            .rows { try $0.text("name") }
        for index in indexes {
            let statement = try database.prepare("SELECT name FROM pragma_index_info(?)")
            try statement.bind([.text(index)])
            let columns = try statement.rows { try $0.optionalText("name") ?? "" }
            if Set(columns) == ["customer_id", "scope"] && columns.count == 2 { return true }
        }
        return false
    }

    /// Consent is one row per customer and scope: with two (a withdrawn one and one in force, say),
    /// which one decides is arbitrary, so such a source is refused before anything is read for a feed
    /// (``ExportError/sourceSchema(_:)``, naming the first duplicate). Declared by a key or unique
    /// index: nothing to look at; otherwise one query, which inside ``snapshot(_:)`` sees exactly the
    /// rows the selection reads.
    public func checkConsentsUnique() throws {
        guard !consentsDeclaredUnique else { return }
        var sql = try dialect()
        // Grouped as the selection joins them: 42 and '42' (a column without a type keeps both) are one customer.
        let key = sql.postgres == nil ? "CAST(customer_id AS INTEGER)" : "customer_id"
        let query = SelectionQuery(sql: "SELECT \(sql.integer(key)), \(sql.text("scope")), \(sql.integer("count(1)")) FROM consents "
                                   + "GROUP BY \(key), scope HAVING count(1) > 1 ORDER BY 1, 2 LIMIT 1",
                                   arguments: sql.arguments)
        let cursor = try open(query)
        defer { cursor.reset() }
        guard try cursor.step() else { return }
        let scope = (cursor.string(1) ?? "").prefix(80)
        throw ExportError.sourceSchema("the customer database \(path): consents holds \(cursor.int64(2)) rows for customer \(cursor.int64(0)) "
                                       + "and scope \(String(scope).debugDescription); a consent must be one row per customer and scope "
                                       + "(which row decides would be arbitrary, a withdrawal among them). Remove the duplicates and "
                                       + "add PRIMARY KEY (customer_id, scope) or a unique index; nothing was read for any feed")
    }

    /// Checks that `customers` has every column `names` lists.
    public func checkColumns(_ names: [String], partner: String) throws {
        let present = Set(try columns(of: "customers"))
        let consentColumns = Set(try columns(of: "consents"))
        for name in names where !present.contains(name) {
            throw ExportError.sourceSchema("the customer database \(path) has no column '\(name)' in customers, which partner \(partner) reads")
        }
        for name in ["customer_id", "scope", "granted_at", "withdrawn_at"] where !consentColumns.contains(name) {
            throw ExportError.sourceSchema("the customer database \(path) has no column '\(name)' in consents")
        }
    }

    private func columns(of table: String) throws -> [String] {
        switch backend {
        case .sqlite(let database): try database.columns(of: table)
        case .postgres(let connection): try PostgresCustomers.columns(of: table, connection, label: path)
        }
    }

    /// Runs `body` inside one read transaction, so that counts and records come from one snapshot
    /// (in PostgreSQL: REPEATABLE READ, READ ONLY).
    public func snapshot<T>(_ body: () throws -> T) throws -> T {
        switch backend {
        case .sqlite(let database):
            try database.execute("BEGIN DEFERRED")
            defer { try? database.execute("COMMIT") }
            try checkConsentsUnique()
            return try body()
        case .postgres(let connection):
            return try PostgresCustomers.reading(connection, label: path) {
                try connection.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") {
                    try checkConsentsUnique()
                    return try body()
                }
            }
        }
    }

    /// The query that reads `plan`'s columns: `reason, id, columns…, granted_at…`.
    ///
    /// Without `classify`, only eligible customers come back (reason -1): consent and filters are joined
    /// in SQL, with customers as the outer loop (rows in id order). With `classify`, every customer
    /// comes back once with the index of the first reason that excludes them (see
    /// ``ExclusionReason/reasons(for:)``) or -1, so that a preview counts and renders in one pass;
    /// column values are then read for eligible rows only.
    func selection(_ plan: ExportPlan, range: IDRange, classify: Bool, idOnly: Bool = false,
                   alsoColumn: String? = nil) throws -> SelectionQuery {
        let contract = plan.partner.contract
        try checkColumns(plan.columns.names + contract.filters.map(\.column), partner: contract.id)
        var sql = try dialect()
        var joins: [String] = []
        var cases: [String] = []
        for (i, scope) in contract.consent.enumerated() {
            let value = try sql.literal(.text(scope))
            if classify {
                joins.append("LEFT JOIN consents AS k\(i) ON k\(i).customer_id = c.id AND k\(i).scope = \(value)")
                cases.append("WHEN k\(i).customer_id IS NULL THEN \(2 * i)")
                cases.append("WHEN k\(i).withdrawn_at IS NOT NULL THEN \(2 * i + 1)")
            } else {
                joins.append("\(sql.innerJoin) consents AS k\(i) ON k\(i).customer_id = c.id AND k\(i).scope = \(value) "
                             + "AND k\(i).withdrawn_at IS NULL")
            }
        }
        var conditions: [String] = []
        for (j, filter) in contract.filters.enumerated() {
            let test = try sql.filterTest(filter)
            if classify {
                cases.append("WHEN \(sql.notTrue(test)) THEN \(2 * contract.consent.count + j)")
            } else {
                conditions.append(test)
            }
        }
        if let after = range.after { conditions.append("c.id > \(try sql.literal(.integer(after)))") }
        if let through = range.through { conditions.append("c.id <= \(try sql.literal(.integer(through)))") }
        let reason = classify && !cases.isEmpty ? "CASE \(cases.joined(separator: " ")) ELSE -1 END" : "-1"
        let selected = idOnly ? [sql.integer("c.id")] + (alsoColumn.map { [sql.text("c.\(SelectionSQL.quote($0))")] } ?? [])
            : [sql.integer(reason)] + plan.columns.names.map { $0 == "id" ? sql.integer("c.id") : sql.text("c.\(SelectionSQL.quote($0))") }
                + contract.consent.indices.map { sql.text("k\($0).granted_at") }
        var text = "SELECT \(selected.joined(separator: ", ")) FROM customers AS c " + joins.joined(separator: " ")
        if !conditions.isEmpty { text += " WHERE " + conditions.joined(separator: " AND ") }
        text += " ORDER BY c.id"
        return SelectionQuery(sql: text, arguments: sql.arguments)
    }

    /// Opens the rows of `query` (a prepared SQLite statement, or a PostgreSQL COPY in binary form).
    func open(_ query: SelectionQuery) throws -> any SelectionCursor {
        switch backend {
        case .sqlite(let database):
            let statement = try database.prepare(query.sql)
            try statement.bind(query.arguments)
            return statement
        case .postgres(let connection):
            return try PostgresCustomers.reading(connection, label: path) { try connection.copyOut(query.sql) }
        }
    }

    /// The query is built for this source's SQL: SQLite takes parameters; a PostgreSQL COPY cannot,
    /// so its values are quoted by libpq into the text.
    private func dialect() throws -> SelectionSQL {
        switch backend {
        case .sqlite: SelectionSQL(postgres: nil)
        case .postgres(let connection): SelectionSQL(postgres: connection)
        }
    }

    /// One customer's consents, for their report: scope, when given, when withdrawn (nil: in force).
    public func consents(of customer: Int64) throws -> [(scope: String, grantedAt: String?, withdrawnAt: String?)] {
        var sql = try dialect()
        let query = SelectionQuery(sql: "SELECT \(sql.text("scope")), \(sql.text("granted_at")), \(sql.text("withdrawn_at")) FROM consents "
                                   + "WHERE customer_id = \(try sql.literal(.integer(customer))) ORDER BY scope", arguments: sql.arguments)
        do {
            let cursor = try open(query)
            defer { cursor.reset() }
            var result: [(scope: String, grantedAt: String?, withdrawnAt: String?)] = []
            while try cursor.step() {
                result.append((cursor.string(0) ?? "", cursor.string(1), cursor.string(2)))
            }
            return result
        } catch let error as SQLiteError {
            throw ExportError.sourceUnreadable("cannot read the consents of customer \(customer) in \(path): \(error.message)")
        } catch let error as PostgresError {
            throw ExportError.sourceUnreadable("cannot read the consents of customer \(customer) in \(path): \(error.message)")
        }
    }

    /// Whether customer `id` has a row, and when it was created (its `created_at`; nil when NULL or
    /// not text): a disclosure recorded before then concerns an earlier customer who had the same id.
    public func record(of id: Int64) throws -> (exists: Bool, createdAt: String?) {
        var sql = try dialect()
        let query = SelectionQuery(sql: "SELECT \(sql.text("created_at")) FROM customers WHERE id = \(try sql.literal(.integer(id)))",
                                   arguments: sql.arguments)
        do {
            let cursor = try open(query)
            defer { cursor.reset() }
            guard try cursor.step() else { return (false, nil) }
            return (true, cursor.string(0))
        } catch let error as SQLiteError {
            throw ExportError.sourceUnreadable("cannot read customer \(id) in \(path): \(error.message)")
        } catch let error as PostgresError {
            throw ExportError.sourceUnreadable("cannot read customer \(id) in \(path): \(error.message)")
        }
    }

    /// The lowest and highest customer id (nil when there are no customers): where a feed split
    /// between several workers puts the bounds of its id ranges. Only the id column is read.
    public func idSpan() throws -> (lowest: Int64, highest: Int64)? {
        let sql = try dialect()
        let query = SelectionQuery(sql: "SELECT \(sql.integer("min(id)")), \(sql.integer("max(id)")) FROM customers", arguments: [])
        do {
            let cursor = try open(query)
            defer { cursor.reset() }
            guard try cursor.step(), cursor.string(0) != nil, cursor.string(1) != nil else { return nil }
            return (cursor.int64(0), cursor.int64(1))
        } catch let error as SQLiteError {
            throw ExportError.sourceUnreadable("cannot read the customer ids' span in \(path): \(error.message)")
        } catch let error as PostgresError {
            throw ExportError.sourceUnreadable("cannot read the customer ids' span in \(path): \(error.message)")
        }
    }

    /// Calls `body` with the id of every customer eligible for the partner now, in id order (consent and
    /// filters as for the feed, nothing else read).
    public func forEachEligibleID(_ plan: ExportPlan, range: IDRange = .all, _ body: (Int64) throws -> Void) throws {
        let cursor = try open(try selection(plan, range: range, classify: false, idOnly: true))
        defer { cursor.reset() }
        while try cursor.step() { try body(cursor.int64(0)) }
    }

    /// Calls `body` with the id of every customer eligible for the partner now, in id order, and the
    /// bytes of one more `column` (nil for NULL; valid during the call only) — the key's source, for
    /// the deletion guard to see which keys would change.
    public func forEachEligible(_ plan: ExportPlan, range: IDRange = .all, column: String,
                                _ body: (Int64, UnsafeRawBufferPointer?) throws -> Void) throws {
        try checkColumns([column], partner: plan.partner.id)
        let cursor = try open(try selection(plan, range: range, classify: false, idOnly: true, alsoColumn: column))
        defer { cursor.reset() }
        while try cursor.step() { try body(cursor.int64(0), cursor.textBytes(1)) }
    }

    /// Why each of `ids` is not eligible for the partner now, read in the current transaction: nil
    /// when the customer is eligible after all, `erased` when the row is gone, `consent_withdrawn`
    /// when a scope the contract needs is not in force (withdrawn, or its row removed),
    /// `no_longer_shared` when a filter excludes them.
    public func exclusions(of ids: [Int64], plan: ExportPlan) throws -> [DeletionReason?] {
        let contract = plan.partner.contract
        var sql = try dialect()
        var joins: [String] = []
        var cases: [String] = []
        for (i, scope) in contract.consent.enumerated() {
            let value = try sql.literal(.text(scope))
            joins.append("LEFT JOIN consents AS k\(i) ON k\(i).customer_id = c.id AND k\(i).scope = \(value)")
            cases.append("WHEN k\(i).customer_id IS NULL OR k\(i).withdrawn_at IS NOT NULL THEN 0")
        }
        for filter in contract.filters {
            cases.append("WHEN \(sql.notTrue(try sql.filterTest(filter))) THEN 2")
        }
        let reason = sql.integer(cases.isEmpty ? "-1" : "CASE \(cases.joined(separator: " ")) ELSE -1 END")
        let head = "SELECT \(sql.integer("c.id")), \(reason) FROM customers AS c \(joins.joined(separator: " "))"
        var found: [Int64: Int64] = [:]
        switch backend {
        case .sqlite(let database):
            // One indexed look-up per id, on a statement prepared once.
            let statement = try database.prepare(head + " WHERE c.id = ?\(sql.arguments.count + 1)")
            try statement.bind(sql.arguments + [.integer(0)])
            let last = Int32(sql.arguments.count + 1)
            for id in ids {
                try statement.bind(.integer(id), at: last)
                if try statement.step() { found[id] = statement.int64(1) }
                statement.reset()
            }
        case .postgres:
            // One query for the whole chunk: a round trip per id would be the slow part.
            let list = "'{" + ids.map(String.init).joined(separator: ",") + "}'::int8[]"
            let cursor = try open(SelectionQuery(sql: head + " WHERE c.id = ANY(\(list))", arguments: []))
            defer { cursor.reset() }
            while try cursor.step() { found[cursor.int64(0)] = cursor.int64(1) }
        }
        return ids.map { id in
            switch found[id] {
            case nil: .erased
            case 0: .consentWithdrawn
            case 2: .noLongerShared
            default: nil
            }
        }
    }

}

/// A selection's SQL and, for SQLite, the values bound to its `?N` parameters.
struct SelectionQuery {
    let sql: String
    let arguments: [Value]
}

/// What differs between the two sources' SQL, in one place: parameters or quoted literals, values
/// read as text, integers as `int8` (the binary COPY's fixed width), booleans, and the join that
/// keeps customers the outer loop.
struct SelectionSQL {
    let postgres: Connection?
    private(set) var arguments: [Value] = []

    init(postgres: Connection?) {
        self.postgres = postgres
    }

    mutating func literal(_ value: Value) throws -> String {
        guard let postgres else {
            arguments.append(value)
            return "?\(arguments.count)"
        }
        switch value {
        case .integer(let n): return "'\(n)'::int8"  // quoted: a leading minus binds looser than ::
        case .text(let text): return try postgres.literal(text)
        default: throw ExportError.internalFailure("unexpected value kind in a PostgreSQL selection")
        }
    }

    /// `c.column IN (values…)`: compared as text in PostgreSQL, whatever the column's type.
    mutating func filterTest(_ filter: Filter) throws -> String {
        let values = try filter.values.map { try literal(.text($0)) }
        return "\(text("c." + Self.quote(filter.column))) IN (\(values.joined(separator: ", ")))"
    }

    /// `identifier` as a quoted SQL identifier (the same in both dialects).
    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// True when `test` is false or NULL (a NULL never passes a filter).
    func notTrue(_ test: String) -> String {
        postgres == nil ? "coalesce(\(test), 0) = 0" : "NOT coalesce(\(test), false)"
    }

    func integer(_ expression: String) -> String { postgres == nil ? expression : "(\(expression))::int8" }

    func text(_ expression: String) -> String { postgres == nil ? expression : "\(expression)::text" }

    /// SQLite keeps the left table outer for CROSS JOIN; PostgreSQL has no CROSS JOIN … ON (and plans its own order).
    var innerJoin: String { postgres == nil ? "CROSS JOIN" : "JOIN" }
}
