import ExportCore
import SQLite

/// The customer database (docs/design.md, "Source data"), opened read-only.
///
/// Selection is fail-closed and done in SQL: a customer is eligible only if every consent scope the
/// contract names has a row with `withdrawn_at` NULL, and every filter matches. Only the columns of
/// a ``SourceColumns`` are ever SELECTed.
public final class CustomerDatabase {
    let database: Database
    public let path: String

    /// Opens `path` read-only and checks that it has the canonical tables.
    public init(path: String) throws {
        self.path = path
        do {
            database = try Database(path: path, mode: .readOnly)
            // A scan in id order: a small page cache reads as fast and keeps memory flat.
            try database.execute("PRAGMA query_only = 1; PRAGMA cache_size = -1024")
            for table in ["customers", "consents"] where try !database.hasTable(table) {
                throw ExportError.sourceSchema("the customer database \(path) has no table '\(table)' (the schema is in docs/design.md, \"Source data\")")
            }
            try checkKeys()
        } catch let error as SQLiteError {
            throw ExportError.sourceUnreadable("cannot open the customer database \(path): \(error.message)")
        }
    }

    /// Customers are identified by an integer: `customers.id` must be an `INTEGER PRIMARY KEY` of a
    /// rowid table (the rowid itself, so every id is an integer: a text `abc` or a `3.7` can never be
    /// read as customer 0 or 3, and disclosures never go to the wrong person).
    private func checkKeys() throws {
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

    /// Checks that `customers` has every column `names` lists.
    public func checkColumns(_ names: [String], partner: String) throws {
        let present = Set(try database.columns(of: "customers"))
        let consentColumns = Set(try database.columns(of: "consents"))
        for name in names where !present.contains(name) {
            throw ExportError.sourceSchema("the customer database \(path) has no column '\(name)' in customers, which partner \(partner) reads")
        }
        for name in ["customer_id", "scope", "granted_at", "withdrawn_at"] where !consentColumns.contains(name) {
            throw ExportError.sourceSchema("the customer database \(path) has no column '\(name)' in consents")
        }
    }

    /// Runs `body` inside one read transaction, so that counts and records come from one snapshot.
    public func snapshot<T>(_ body: () throws -> T) throws -> T {
        try database.execute("BEGIN DEFERRED")
        defer { try? database.execute("COMMIT") }
        return try body()
    }

    /// The statement that reads `plan`'s columns: `reason, id, columns…, granted_at…`.
    ///
    /// Without `classify`, only eligible customers come back (reason -1): consent and filters are joined
    /// in SQL, and CROSS JOIN keeps customers as the outer loop (rows in id order, no sort). With
    /// `classify`, every customer comes back once with the index of the first reason that excludes
    /// them (see ``ExclusionReason/reasons(for:)``) or -1, so that a preview counts and renders in one
    /// pass; column values are then read for eligible rows only.
    func selection(_ plan: ExportPlan, range: IDRange, classify: Bool) throws -> (String, [Value]) {
        let contract = plan.partner.contract
        try checkColumns(plan.columns.names + contract.filters.map(\.column), partner: contract.id)
        var arguments: [Value] = []
        var joins: [String] = []
        var cases: [String] = []
        for (i, scope) in contract.consent.enumerated() {
            arguments.append(.text(scope))
            if classify {
                joins.append("LEFT JOIN consents AS k\(i) ON k\(i).customer_id = c.id AND k\(i).scope = ?\(arguments.count)")
                cases.append("WHEN k\(i).customer_id IS NULL THEN \(2 * i)")
                cases.append("WHEN k\(i).withdrawn_at IS NOT NULL THEN \(2 * i + 1)")
            } else {
                joins.append("CROSS JOIN consents AS k\(i) ON k\(i).customer_id = c.id AND k\(i).scope = ?\(arguments.count) "
                             + "AND k\(i).withdrawn_at IS NULL")
            }
        }
        var conditions: [String] = []
        for (j, filter) in contract.filters.enumerated() {
            let placeholders = filter.values.map { value -> String in
                arguments.append(.text(value))
                return "?\(arguments.count)"
            }
            let test = "c.\(quote(filter.column)) IN (\(placeholders.joined(separator: ", ")))"
            if classify {
                cases.append("WHEN coalesce(\(test), 0) = 0 THEN \(2 * contract.consent.count + j)")
            } else {
                conditions.append(test)
            }
        }
        if let after = range.after {
            arguments.append(.integer(after))
            conditions.append("c.id > ?\(arguments.count)")
        }
        if let through = range.through {
            arguments.append(.integer(through))
            conditions.append("c.id <= ?\(arguments.count)")
        }
        let reason = classify && !cases.isEmpty ? "CASE \(cases.joined(separator: " ")) ELSE -1 END" : "-1"
        let selected = [reason] + plan.columns.names.map { "c.\(quote($0))" } + contract.consent.indices.map { "k\($0).granted_at" }
        var sql = "SELECT \(selected.joined(separator: ", ")) FROM customers AS c " + joins.joined(separator: " ")
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY c.id"
        return (sql, arguments)
    }

    /// Calls `body` with the id of every customer eligible for the partner now, in id order (consent and
    /// filters as for the feed, nothing else read).
    /// One customer's consents, for their report: scope, when given, when withdrawn (nil: in force).
    public func consents(of customer: Int64) throws -> [(scope: String, grantedAt: String?, withdrawnAt: String?)] {
        do {
            let statement = try database.prepare("SELECT scope, granted_at, withdrawn_at FROM consents WHERE customer_id = ? ORDER BY scope")
            try statement.bind([.integer(customer)])
            return try statement.rows { row in
                (try row.optionalText("scope") ?? "", try row.optionalText("granted_at"), try row.optionalText("withdrawn_at"))
            }
        } catch let error as SQLiteError {
            throw ExportError.sourceUnreadable("cannot read the consents of customer \(customer) in \(path): \(error.message)")
        }
    }

    public func forEachEligibleID(_ plan: ExportPlan, _ body: (Int64) throws -> Void) throws {
        let (sql, arguments) = try selection(plan, range: .all, classify: false)
        // The feed's selection with the id alone.
        guard let from = sql.range(of: " FROM customers AS c ") else { throw ExportError.internalFailure("unexpected selection SQL") }
        let statement = try database.prepare("SELECT c.id" + sql[from.lowerBound...])
        try statement.bind(arguments)
        while try statement.step() { try body(statement.int64(0)) }
        statement.reset()
    }

    /// Why each of `ids` is not eligible for the partner now, read in the current transaction: nil
    /// when the customer is eligible after all, `erased` when the row is gone, `consent_withdrawn`
    /// when a scope the contract needs is not in force (withdrawn, or its row removed),
    /// `no_longer_shared` when a filter excludes them.
    public func exclusions(of ids: [Int64], plan: ExportPlan) throws -> [DeletionReason?] {
        let contract = plan.partner.contract
        var arguments: [Value] = [.integer(0)]
        var joins: [String] = []
        var cases: [String] = []
        for (i, scope) in contract.consent.enumerated() {
            arguments.append(.text(scope))
            joins.append("LEFT JOIN consents AS k\(i) ON k\(i).customer_id = c.id AND k\(i).scope = ?\(arguments.count)")
            cases.append("WHEN k\(i).customer_id IS NULL OR k\(i).withdrawn_at IS NOT NULL THEN 0")
        }
        for filter in contract.filters {
            let placeholders = filter.values.map { value -> String in
                arguments.append(.text(value))
                return "?\(arguments.count)"
            }
            cases.append("WHEN coalesce(c.\(quote(filter.column)) IN (\(placeholders.joined(separator: ", "))), 0) = 0 THEN 2")
        }
        let reason = cases.isEmpty ? "-1" : "CASE \(cases.joined(separator: " ")) ELSE -1 END"
        let statement = try database.prepare("SELECT \(reason) FROM customers AS c \(joins.joined(separator: " ")) WHERE c.id = ?1")
        try statement.bind(arguments)
        var result: [DeletionReason?] = []
        result.reserveCapacity(ids.count)
        for id in ids {
            try statement.bind(.integer(id), at: 1)
            if try statement.step() {
                switch statement.int64(0) {
                case 0: result.append(.consentWithdrawn)
                case 2: result.append(.noLongerShared)
                default: result.append(nil)
                }
            } else {
                result.append(.erased)
            }
            statement.reset()
        }
        return result
    }

    private func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

