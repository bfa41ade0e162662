import ExportCore
import Postgres

/// The ledger in PostgreSQL (`--state postgresql://…`): the schema `partner_export` of the database
/// the URL names, with the same tables, statements and guarantees as the SQLite ledger (``SQLLedger``).
/// A schema of that name that is not a partner-export ledger is refused untouched.
public enum PostgresLedger {
    /// Opens the ledger at `url` (see ``LedgerAccess``); creating it needs the right to create a
    /// schema in that database.
    /// `idleInTransactionSeconds`: with several workers, a write transaction left idle this long (its
    /// process stalled while it held the writers' turn, which every worker waits for) is ended by the
    /// server — by then the stalled worker's lease has run out too. 0 (one process at a time) never ends one.
    public static func open(url: String, access: LedgerAccess, idleInTransactionSeconds: Int = 0) throws -> SQLLedger {
        let database = try connect(url, access: access, idleInTransactionSeconds: idleInTransactionSeconds)
        let label = database.label
        let ledger = ledger(database, url: url, access: access, idleInTransactionSeconds: idleInTransactionSeconds)
        let version = try database.checked { try schemaVersion(database) }
        switch access {
        case .read:
            guard let version else {
                throw ExportError.environment("there is no ledger in \(label) yet (no schema \(PostgresSchema.name) with a "
                                              + "partner-export ledger in it)")
            }
            guard version >= PostgresSchema.readableFrom && version <= PostgresSchema.migrations.count else {
                throw version > PostgresSchema.migrations.count ? newerVersion(label, version)
                    : ExportError.ledger("the ledger \(label) was written by an earlier partner-export (schema \(version)); "
                                         + "the next run, rerun or prune brings it up to date")
            }
            // Its readers of tables added since see them as empty.
            ledger.hasPartnerControls = version >= 5
        case .write(let create):
            if version == PostgresSchema.migrations.count { return ledger }
            try database.checked {
                try database.transaction {
                    // Checked again under the lock: another process may have made it meanwhile.
                    let current = try schemaVersion(database)
                    if current == nil {
                        guard create else {
                            throw ExportError.environment("there is no ledger in \(label) yet (no schema \(PostgresSchema.name))")
                        }
                        try checkSchemaFree(database)
                        // A schema a DBA made beforehand (CREATE SCHEMA partner_export AUTHORIZATION …) is used as it is.
                        let made = try database.scalarInt("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = ?",
                                                          [.text(PostgresSchema.name)]) == 1
                        do {
                            if !made { try database.execute("CREATE SCHEMA \(PostgresSchema.name)") }
                            try database.execute("SET LOCAL search_path = \(PostgresSchema.name); "
                                                 + "CREATE TABLE schema_version (version integer NOT NULL)")
                        } catch let error as PostgresError where error.sqlState == "42501" {
                            throw ExportError.environment(
                                "the ledger's role may not create \(made ? "tables in the schema" : "the schema") \(PostgresSchema.name) in "
                                + "\(label) (\(error.message)). For the first run, grant it: GRANT CREATE ON DATABASE … TO …; or "
                                + "have the schema made for it: CREATE SCHEMA \(PostgresSchema.name) AUTHORIZATION …")
                        }
                        try database.execute("INSERT INTO schema_version (version) VALUES (0)")
                    }
                    let from = current ?? 0
                    guard from <= PostgresSchema.migrations.count else { throw newerVersion(label, from) }
                    for (index, migration) in PostgresSchema.migrations.enumerated() where index >= from {
                        try database.execute(migration)
                        if index == 0 {
                            try ledger.buildLogState()
                            // lz4 where the server has it (it compresses faster than the default); else the default.
                            try database.execute("SAVEPOINT compression")
                            do {
                                try database.execute("ALTER TABLE payloads ALTER COLUMN data SET COMPRESSION lz4")
                                try database.execute("RELEASE SAVEPOINT compression")
                            } catch {
                                try database.execute("ROLLBACK TO SAVEPOINT compression")
                            }
                        }
                        try database.execute("UPDATE schema_version SET version = \(index + 1)")
                    }
                }
            }
        }
        return ledger
    }

    static func ledger(_ database: PostgresSQL, url: String, access: LedgerAccess, idleInTransactionSeconds: Int) -> SQLLedger {
        SQLLedger(database: database, location: database.label) {
            ledger(try connect(url, access: access, idleInTransactionSeconds: idleInTransactionSeconds), url: url, access: access,
                   idleInTransactionSeconds: idleInTransactionSeconds)
        }
    }

    static func connect(_ url: String, access: LedgerAccess, idleInTransactionSeconds: Int = 0) throws -> PostgresSQL {
        // The database's or role's timeouts must not cut a delivered batch's transaction short after the
        // partner said 2xx (its rows go in one transaction, behind the write lock) — only a stalled one.
        var setup = ["SET search_path = \(PostgresSchema.name)", "SET synchronous_commit = on", "SET statement_timeout = 0",
                     "SET lock_timeout = 0", "SET idle_in_transaction_session_timeout = \(max(0, idleInTransactionSeconds) * 1000)",
                     "SET client_min_messages = warning"]
        if case .read = access { setup.append("SET default_transaction_read_only = on") }
        do {
            return PostgresSQL(try Connection(url: url, setup: setup))
        } catch let error as PostgresError {
            throw ExportError.environment("cannot open the ledger \(PostgresURL.redacted(url)): \(error.message)")
        }
    }

    /// Whether the database at `url` holds a ledger (of any version).
    static func exists(url: String) throws -> Bool {
        let database = try connect(url, access: .read)
        return try database.checked { try schemaVersion(database) != nil }
    }

    /// The schema's version, or nil when there is no ledger in it.
    private static func schemaVersion(_ database: PostgresSQL) throws -> Int? {
        guard try database.scalarInt("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = ? AND tablename = 'schema_version'",
                                     [.text(PostgresSchema.name)]) == 1 else { return nil }
        // Without USAGE the schema is skipped on the search path, and every table "does not exist": say what to grant.
        let name = PostgresSchema.name
        if try database.scalarInt("SELECT CASE WHEN has_schema_privilege(?, 'USAGE') THEN 1 ELSE 0 END", [.text(name)]) != 1
            || database.scalarInt("SELECT CASE WHEN has_table_privilege(?, 'SELECT, INSERT, UPDATE, DELETE') THEN 1 ELSE 0 END",
                                  [.text("\(name).runs")]) != 1 {
            let role = try database.scalarText("SELECT current_user") ?? "the role"
            throw ExportError.environment("the ledger's role \(role) may not use the schema \(name) in \(database.label), which holds "
                                          + "a ledger: have its owner grant it (GRANT USAGE ON SCHEMA \(name) TO \(role); GRANT SELECT, "
                                          + "INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \(name) TO \(role); GRANT USAGE ON ALL "
                                          + "SEQUENCES IN SCHEMA \(name) TO \(role)), or run partner-export as the schema's owner")
        }
        return Int(try database.scalarInt("SELECT max(version) FROM schema_version") ?? 0)
    }

    /// A schema of the ledger's name that holds other tables is somebody else's: refused untouched.
    private static func checkSchemaFree(_ database: PostgresSQL) throws {
        let tables = try database.scalarInt("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = ?",
                                            [.text(PostgresSchema.name)]) ?? 0
        guard tables == 0 else {
            throw ExportError.environment("the schema \(PostgresSchema.name) in \(database.label) holds \(tables) tables but is not a "
                                          + "partner-export ledger; it was not touched")
        }
    }

    private static func newerVersion(_ label: String, _ version: Int) -> ExportError {
        ExportError.ledger("the ledger \(label) was written by a newer partner-export (schema \(version)); upgrade first")
    }
}

extension PostgresSQL {
    /// Runs `body`, turning PostgreSQL's failures into ledger errors naming the ledger.
    func checked<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            if let mapped = ledgerError(error) { throw mapped }
            throw error
        }
    }
}
