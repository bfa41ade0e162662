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
    /// Whether the customers table's key is declared unique and integer (the canonical rowid key, or
    /// a primary key or unique index of an integer column); when not (a view), every snapshot first
    /// checks its values (``checkKeyUnique()``).
    private(set) var keyDeclaredUnique = false
    /// Where the logical fields live (`source.yaml`, or the canonical schema).
    public let model: SourceModel

    /// Opens `path` (a file, or a `postgresql://` URL) read-only and checks that it has the tables and
    /// columns `model` names (the canonical tables without `source.yaml`).
    public init(path: String, model: SourceModel = .canonical) throws {
        self.model = model
        try Self.refuseKeywordForm(path)
        if PostgresURL.matches(path) {
            self.path = PostgresURL.redacted(path)
            let connection = try PostgresCustomers.connect(path)
            backend = .postgres(connection)
            keyDeclaredUnique = try PostgresCustomers.checkTables(connection, model: model, label: self.path)
            consentsDeclaredUnique = try PostgresCustomers.consentsDeclaredUnique(connection, model: model, label: self.path)
            return
        }
        self.path = path
        do {
            let database = try Database(path: path, mode: .readOnly)
            backend = .sqlite(database)
            // A scan in id order: a small page cache reads as fast and keeps memory flat.
            try database.execute("PRAGMA query_only = 1; PRAGMA cache_size = -1024")
            for table in [model.customers.table, model.consents.table] {
                guard !table.contains(".") else {
                    throw ExportError.sourceSchema("the customer database \(path) is SQLite: name the table '\(table)' without a schema "
                                                   + "(source.yaml)")
                }
                guard try database.hasTableOrView(table) else {
                    throw ExportError.sourceSchema("the customer database \(path) has no table or view '\(table)'"
                                                   + (model.isCanonical ? " (the schema is in docs/design.md, \"Source data\")" : " (source.yaml)"))
                }
            }
            try checkKeys(database)
            consentsDeclaredUnique = try Self.consentsDeclaredUnique(database, model: model)
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
        let table = model.customers.table
        let statement = try database.prepare("SELECT name, type, pk FROM pragma_table_info(?)")
        try statement.bind([.text(table)])
        let info = try statement.rows { row in
            (try row.text("name"), try row.optionalText("type") ?? "", try row.int("pk"))
        }
        let consents = Set(try database.columns(of: model.consents.table))
        for name in [model.consents.customer, model.consents.scope, model.consents.grantedAt, model.consents.withdrawnAt]
        where !consents.contains(name) {
            throw ExportError.sourceSchema("the customer database \(path) has no column '\(name)' in \(model.consents.table)")
        }
        if !model.isCanonical {
            let key = model.customers.key
            guard info.contains(where: { $0.0 == key }) else {
                throw ExportError.sourceSchema("the customer database \(path) has no column '\(key)' in \(table) (customers.key in source.yaml)")
            }
            // The key is declared unique and integer only as a rowid table's INTEGER PRIMARY KEY; otherwise
            // (a view, another key) its values are checked in every snapshot.
            let keys = info.filter { $0.2 > 0 }
            let rowid = (try? database.prepare("SELECT rowid FROM \(SelectionSQL.quoteTable(table)) LIMIT 0")) != nil
            keyDeclaredUnique = keys.count == 1 && keys[0].0 == key && keys[0].1.uppercased() == "INTEGER" && rowid
            return
        }
        keyDeclaredUnique = true
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
    }

    /// One row per customer id and one consent row per customer and scope (``checkKeyUnique()``,
    /// ``checkConsentsUnique()``): what every snapshot checks before it reads, and a run before it starts.
    public func checkOneRowEach() throws {
        try checkKeyUnique()
        try checkConsentsUnique()
    }

    /// The customer id is one integer per customer: a key whose uniqueness nothing declares (a view,
    /// a column without an index) is checked in the snapshot the selection reads, refused with the
    /// first id that is not an integer or repeats (``ExportError/sourceSchema(_:)``); nothing is read
    /// for any feed then.
    public func checkKeyUnique() throws {
        guard !keyDeclaredUnique else { return }
        var sql = try dialect()
        let table = SelectionSQL.quoteTable(model.customers.table)
        let key = SelectionSQL.quote(model.customers.key)
        let where_ = "\(model.customers.table) (customers.key \(model.customers.key) in source.yaml)"
        if sql.postgres == nil {
            // The value itself is not shown: a key mapped to the wrong column would put customer data in the message.
            let odd = SelectionQuery(sql: "SELECT typeof(\(key)), count(1) FROM \(table) WHERE typeof(\(key)) <> 'integer' "
                                     + "GROUP BY 1 ORDER BY 2 DESC LIMIT 1", arguments: [])
            let cursor = try open(odd)
            defer { cursor.reset() }
            if try cursor.step() {
                throw ExportError.sourceSchema("the customer database \(path): \(where_) holds \(cursor.int64(1)) value(s) of type "
                                               + "\(cursor.string(0) ?? "?"), not integers; customer ids must be integers. Nothing was read "
                                               + "for any feed")
            }
        }
        if sql.postgres != nil {
            // An integer column may still hold NULL (a unique index allows several): a row without an id.
            let nulls = SelectionQuery(sql: "SELECT \(sql.integer("count(1)")) FROM \(table) WHERE \(key) IS NULL", arguments: [])
            let cursor = try open(nulls)
            defer { cursor.reset() }
            if try cursor.step(), cursor.int64(0) > 0 {
                throw ExportError.sourceSchema("the customer database \(path): \(where_) is NULL in \(cursor.int64(0)) row(s); every "
                                               + "customer needs an id. Nothing was read for any feed")
            }
        }
        let query = SelectionQuery(sql: "SELECT \(sql.integer(key)), \(sql.integer("count(1)")) FROM \(table) GROUP BY \(key) "
                                   + "HAVING count(1) > 1 ORDER BY 1 LIMIT 1", arguments: sql.arguments)
        let cursor = try open(query)
        defer { cursor.reset() }
        guard try cursor.step() else { return }
        throw ExportError.sourceSchema("the customer database \(path): \(where_) repeats: customer \(cursor.int64(0)) has "
                                       + "\(cursor.int64(1)) rows; the key must name one customer. Nothing was read for any feed")
    }

    /// A primary key or a unique index (not a partial one) on exactly (customer_id, scope).
    private static func consentsDeclaredUnique(_ database: Database, model: SourceModel) throws -> Bool {
        // A column without integer affinity keeps 42 and '42' apart (a unique index too), while the join
        // matches both to customer 42: only an integer customer_id makes the index a proof.
        let consents = model.consents
        let typeQuery = try database.prepare("SELECT type FROM pragma_table_info(?) WHERE name = ?")
        try typeQuery.bind([.text(consents.table), .text(consents.customer)])
        let type = try typeQuery.rows { try $0.optionalText("type") ?? "" }.first ?? ""
        guard type.uppercased().contains("INT") else { return false }
        let list = try database.prepare("SELECT name FROM pragma_index_list(?) WHERE \"unique\" = 1 AND partial = 0")
        try list.bind([.text(consents.table)])
        let indexes = try list.rows { try $0.text("name") }
        for index in indexes {
            let statement = try database.prepare("SELECT name FROM pragma_index_info(?)")
            try statement.bind([.text(index)])
            let columns = try statement.rows { try $0.optionalText("name") ?? "" }
            if Set(columns) == [consents.customer, consents.scope] && columns.count == 2 { return true }
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
        let consents = model.consents
        let customer = SelectionSQL.quote(consents.customer)
        let scopeColumn = SelectionSQL.quote(consents.scope)
        let query: SelectionQuery
        if sql.postgres == nil {
            // Grouped as the selection joins them: SQLite compares a customer id with a consent row by its
            // affinities (42, '42' and '4.2e1' may all be customer 42 in a column without a type), so the rows
            // are counted through the same join.
            let names = SourceNames(model)
            query = SelectionQuery(sql: "SELECT c.\(names.key), k.\(scopeColumn), count(1) FROM \(names.customers) AS c "
                                   + "JOIN \(names.consents) AS k ON k.\(customer) = c.\(names.key) "
                                   + "GROUP BY c.\(names.key), k.\(scopeColumn) HAVING count(1) > 1 ORDER BY 1, 2 LIMIT 1",
                                   arguments: [])
        } else {
            query = SelectionQuery(sql: "SELECT \(sql.integer(customer)), \(sql.text(scopeColumn)), \(sql.integer("count(1)")) "
                                   + "FROM \(SelectionSQL.quoteTable(consents.table)) "
                                   + "GROUP BY \(customer), \(scopeColumn) HAVING count(1) > 1 ORDER BY 1, 2 LIMIT 1",
                                   arguments: sql.arguments)
        }
        let cursor = try open(query)
        defer { cursor.reset() }
        guard try cursor.step() else { return }
        let scope = (cursor.string(1) ?? "").prefix(80)
        throw ExportError.sourceSchema("the customer database \(path): \(consents.table) holds \(cursor.int64(2)) rows for customer \(cursor.int64(0)) "
                                       + "and scope \(String(scope).debugDescription); a consent must be one row per customer and scope "
                                       + "(which row decides would be arbitrary, a withdrawal among them). Remove the duplicates and "
                                       + "add PRIMARY KEY (\(consents.customer), \(consents.scope)) or a unique index; nothing was read for any feed")
    }

    /// Checks that the customers table has the column of every logical field `names` lists (and that
    /// none of them is a column never read).
    public func checkColumns(_ names: [String], partner: String) throws {
        let table = model.customers.table
        let present = Set(try columns(of: table))
        let consents = model.consents
        let consentColumns = Set(try columns(of: consents.table))
        for name in names {
            guard let column = model.column(name) else {
                throw ExportError.sourceSchema("partner \(partner) reads the field '\(name)', which source.yaml does not map")
            }
            guard name == "id" || !model.mayNotRead(column) else {
                throw ExportError.sourceSchema("partner \(partner) would read column \(column) of \(table), which is never read")
            }
            guard present.contains(column) else {
                throw ExportError.sourceSchema("the customer database \(path) has no column '\(column)' in \(table), which partner "
                                               + "\(partner) reads" + (column == name ? "" : " (the field '\(name)', source.yaml)"))
            }
        }
        for name in [consents.customer, consents.scope, consents.grantedAt, consents.withdrawnAt] where !consentColumns.contains(name) {
            throw ExportError.sourceSchema("the customer database \(path) has no column '\(name)' in \(consents.table)")
        }
    }

    private func columns(of table: String) throws -> [String] {
        switch backend {
        case .sqlite(let database): try database.columns(of: table)
        case .postgres(let connection): try PostgresCustomers.columns(of: SelectionSQL.quoteTable(table), connection, label: path)
        }
    }

    /// Runs `body` inside one read transaction, so that counts and records come from one snapshot
    /// (in PostgreSQL: REPEATABLE READ, READ ONLY).
    public func snapshot<T>(_ body: () throws -> T) throws -> T {
        switch backend {
        case .sqlite(let database):
            try database.execute("BEGIN DEFERRED")
            defer { try? database.execute("COMMIT") }
            try checkOneRowEach()
            return try body()
        case .postgres(let connection):
            return try PostgresCustomers.reading(connection, label: path) {
                try connection.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") {
                    try checkOneRowEach()
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
        let names = SourceNames(model)
        var joins: [String] = []
        var cases: [String] = []
        for (i, scope) in contract.consent.enumerated() {
            let value = try sql.literal(.text(scope))
            if classify {
                joins.append("LEFT JOIN \(names.consents) AS k\(i) ON k\(i).\(names.consentCustomer) = c.\(names.key) "
                             + "AND k\(i).\(names.scope) = \(value)")
                // A row without a grant time is no consent (a view over events can produce one).
                cases.append("WHEN k\(i).\(names.consentCustomer) IS NULL OR k\(i).\(names.grantedAt) IS NULL THEN \(2 * i)")
                cases.append("WHEN k\(i).\(names.withdrawnAt) IS NOT NULL THEN \(2 * i + 1)")
            } else {
                joins.append("\(sql.innerJoin) \(names.consents) AS k\(i) ON k\(i).\(names.consentCustomer) = c.\(names.key) "
                             + "AND k\(i).\(names.scope) = \(value) AND k\(i).\(names.withdrawnAt) IS NULL "
                             + "AND k\(i).\(names.grantedAt) IS NOT NULL")
            }
        }
        var conditions: [String] = []
        for (j, filter) in contract.filters.enumerated() {
            let test = try sql.filterTest(filter, column: names.column(filter.column))
            if classify {
                cases.append("WHEN \(sql.notTrue(test)) THEN \(2 * contract.consent.count + j)")
            } else {
                conditions.append(test)
            }
        }
        if let after = range.after { conditions.append("c.\(names.key) > \(try sql.literal(.integer(after)))") }
        if let through = range.through { conditions.append("c.\(names.key) <= \(try sql.literal(.integer(through)))") }
        let reason = classify && !cases.isEmpty ? "CASE \(cases.joined(separator: " ")) ELSE -1 END" : "-1"
        let selected = idOnly ? [sql.integer("c.\(names.key)")] + (alsoColumn.map { [sql.text("c.\(names.column($0))")] } ?? [])
            : [sql.integer(reason)] + plan.columns.names.map { $0 == "id" ? sql.integer("c.\(names.key)") : sql.text("c.\(names.column($0))") }
                + contract.consent.indices.map { sql.text("k\($0).\(names.grantedAt)") }
        var text = "SELECT \(selected.joined(separator: ", ")) FROM \(names.customers) AS c " + joins.joined(separator: " ")
        if !conditions.isEmpty { text += " WHERE " + conditions.joined(separator: " AND ") }
        text += " ORDER BY c.\(names.key)"
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
        let names = SourceNames(model)
        let query = SelectionQuery(sql: "SELECT \(sql.text(names.scope)), \(sql.text(names.grantedAt)), \(sql.text(names.withdrawnAt)) "
                                   + "FROM \(names.consents) WHERE \(names.consentCustomer) = \(try sql.literal(.integer(customer))) "
                                   + "ORDER BY \(names.scope)", arguments: sql.arguments)
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
        let names = SourceNames(model)
        // created_at when the source maps it (without it, the report cannot tell an earlier holder of the id apart).
        let created = model.column("created_at").map { sql.text(SelectionSQL.quote($0)) } ?? "NULL"
        let query = SelectionQuery(sql: "SELECT \(created) FROM \(names.customers) WHERE \(names.key) = \(try sql.literal(.integer(id)))",
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
        let names = SourceNames(model)
        let query = SelectionQuery(sql: "SELECT \(sql.integer("min(\(names.key))")), \(sql.integer("max(\(names.key))")) FROM \(names.customers)",
                                   arguments: [])
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
        let names = SourceNames(model)
        var joins: [String] = []
        var cases: [String] = []
        for (i, scope) in contract.consent.enumerated() {
            let value = try sql.literal(.text(scope))
            joins.append("LEFT JOIN \(names.consents) AS k\(i) ON k\(i).\(names.consentCustomer) = c.\(names.key) "
                         + "AND k\(i).\(names.scope) = \(value)")
            cases.append("WHEN k\(i).\(names.consentCustomer) IS NULL OR k\(i).\(names.withdrawnAt) IS NOT NULL "
                         + "OR k\(i).\(names.grantedAt) IS NULL THEN 0")
        }
        for filter in contract.filters {
            cases.append("WHEN \(sql.notTrue(try sql.filterTest(filter, column: names.column(filter.column)))) THEN 2")
        }
        let reason = sql.integer(cases.isEmpty ? "-1" : "CASE \(cases.joined(separator: " ")) ELSE -1 END")
        let head = "SELECT \(sql.integer("c.\(names.key)")), \(reason) FROM \(names.customers) AS c \(joins.joined(separator: " "))"
        var found: [Int64: Int64] = [:]
        switch backend {
        case .sqlite(let database):
            // One indexed look-up per id, on a statement prepared once.
            let statement = try database.prepare(head + " WHERE c.\(names.key) = ?\(sql.arguments.count + 1)")
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
            let cursor = try open(SelectionQuery(sql: head + " WHERE c.\(names.key) = ANY(\(list))", arguments: []))
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

    /// `c.column IN (values…)`: compared as text in PostgreSQL, whatever the column's type. `column`
    /// is the filter's column as quoted SQL (its logical field's column).
    mutating func filterTest(_ filter: Filter, column: String) throws -> String {
        let values = try filter.values.map { try literal(.text($0)) }
        return "\(text("c." + column)) IN (\(values.joined(separator: ", ")))"
    }

    /// `identifier` as a quoted SQL identifier (the same in both dialects).
    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `table` or `schema.table`, each part quoted.
    static func quoteTable(_ name: String) -> String {
        name.split(separator: ".", omittingEmptySubsequences: false).map { quote(String($0)) }.joined(separator: ".")
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

/// The source model's tables and columns as quoted SQL, for the queries above.
struct SourceNames {
    let model: SourceModel
    let customers: String
    let key: String
    let consents: String
    let consentCustomer: String
    let scope: String
    let grantedAt: String
    let withdrawnAt: String

    init(_ model: SourceModel) {
        self.model = model
        customers = SelectionSQL.quoteTable(model.customers.table)
        key = SelectionSQL.quote(model.customers.key)
        consents = SelectionSQL.quoteTable(model.consents.table)
        consentCustomer = SelectionSQL.quote(model.consents.customer)
        scope = SelectionSQL.quote(model.consents.scope)
        grantedAt = SelectionSQL.quote(model.consents.grantedAt)
        withdrawnAt = SelectionSQL.quote(model.consents.withdrawnAt)
    }

    /// The quoted column of logical field `name` (checked to exist by ``CustomerDatabase/checkColumns(_:partner:)``
    /// before any query is built; an unmapped name is quoted as it is and fails there).
    func column(_ name: String) -> String { SelectionSQL.quote(model.column(name) ?? name) }
}
