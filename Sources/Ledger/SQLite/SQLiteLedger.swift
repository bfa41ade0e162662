import ExportCore
import Foundation
import SQLite

/// The ledger in a SQLite file of the tool's own (WAL, full sync for the commit before a request
/// leaves). A file that exists must be a partner-export ledger (`application_id`, or the tables of
/// the first version): anything else is refused untouched.
public enum SQLiteLedger {
    public typealias Access = LedgerAccess

    /// The folder the ledger at `path` lives in: payloads, the lock and metrics go beside it.
    public static func folder(of path: String) -> String {
        let folder = Paths.folder(of: path)
        return folder.isEmpty ? "." : folder
    }

    static func ledger(_ database: Database, path: String, access: Access) -> SQLLedger {
        SQLLedger(database: database, location: path) {
            let database = try openDatabase(path, mode: {
                if case .read = access { return .readOnly }
                return .readWrite
            }())
            if case .write = access { try configureForWriting(database) }
            return ledger(database, path: path, access: access)
        }
    }

    /// Opens the ledger at `path` (see ``Access``).
    public static func open(at path: String, access: Access) throws -> SQLLedger {
        let folder = Paths.folder(of: path)
        var info = stat()
        let exists = lstat(path, &info) == 0
        switch access {
        case .read:
            guard exists else {
                throw ExportError.environment("there is no ledger at \(path) yet (pass --state or set PARTNER_EXPORT_STATE)")
            }
            try checkIsLedger(path)
            let database = try openDatabase(path, mode: .readOnly)
            let version = try schemaVersion(database)
            guard version >= Schema.readableFrom && version <= Schema.migrations.count else {
                throw version > Schema.migrations.count ? newerVersion(path, version)
                    : ExportError.ledger("the ledger \(path) was written by an earlier partner-export (schema \(version)); "
                                         + "the next run, rerun or prune brings it up to date")
            }
            let opened = ledger(database, path: path, access: access)
            // Its readers of tables added since see them as empty.
            opened.hasPartnerControls = version >= 7
            return opened
        case .write(let create):
            try StateFolder.check(folder, create: create)
            if exists {
                try checkIsLedger(path)
            } else {
                guard create else { throw ExportError.environment("there is no ledger at \(path) yet (pass --state or set PARTNER_EXPORT_STATE)") }
                try checkNoEarlierPayloads(folder, ledger: path)
                try createFresh(at: path)
            }
            let database = try openDatabase(path, mode: .readWrite)
            try configureForWriting(database)
            let ledger = ledger(database, path: path, access: access)
            try migrate(ledger, database, fresh: false)
            return ledger
        }
    }

    private static func openDatabase(_ path: String, mode: Database.Mode) throws -> Database {
        do {
            return try Database(path: path, mode: mode)
        } catch let error as SQLiteError {
            throw ExportError.ledger("cannot open the ledger \(path): \(error.message)")
        }
    }

    private static func configureForWriting(_ database: Database) throws {
        chmod(database.path, 0o600)
        // WAL: commits are durable against a killed process; the one that must survive a power cut
        // too, an attempt about to leave, is synced on its own (see beginAttempt).
        try database.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                             + "PRAGMA cache_size = -1024;")
    }

    /// A file that exists must be one of ours, whatever else it is (a customer database, a 0-byte file,
    /// somebody's document): recognised by `application_id`, or by the first version's tables.
    static func checkIsLedger(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ExportError.environment("cannot read the ledger \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ExportError.environment("\(path) is not a regular file, so it is not a partner-export ledger; nothing was changed")
        }
        guard info.st_size > 0 else {
            throw ExportError.ledgerDamaged("\(path) is empty (0 bytes), so it is not a partner-export ledger: a ledger is never "
                                            + "empty. Restore it from a backup, or move it away to start a new history; nothing was changed")
        }
        let probe = try openDatabase(path, mode: .readOnly)
        do {
            let applicationID = try probe.scalarInt("PRAGMA application_id") ?? 0
            if applicationID == Schema.applicationID { return }
            let version = try probe.scalarInt("PRAGMA user_version") ?? 0
            var tables: [String] = []
            for table in Schema.firstTables where try probe.hasTable(table) { tables.append(table) }
            if applicationID == 0 && version >= 1 && tables.count == Schema.firstTables.count { return }
            let what = try probe.hasTable("customers") ? "it looks like a customer database" : "it holds other tables"
            throw ExportError.environment("\(path) is an SQLite file but not a partner-export ledger (\(what)); it was not "
                                          + "touched. Pass --state with the ledger's path")
        } catch let error as SQLiteError {
            throw ExportError.environment("\(path) is not a partner-export ledger (SQLite: \(error.message)); it was not touched")
        }
    }

    /// Makes a new ledger whole before it appears at `path`: built beside it under a temporary name
    /// (every migration applied, `application_id` set, the WAL checkpointed) and linked into place only
    /// then. A process killed while creating it leaves no half-made ledger at `path` — which every later
    /// run would have to refuse — only a temporary file, removed by the next creation.
    static func createFresh(at path: String) throws {
        let folder = Paths.folder(of: path)
        let name = Paths.name(of: path)
        let directory = folder.isEmpty ? "." : folder
        let prefix = ".\(name).new-"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where entry.hasPrefix(prefix) {
            unlink(Paths.join(directory, entry))
        }
        let temporary = Paths.join(directory, prefix + String(getpid()))
        func removeTemporary() {
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temporary + suffix) }
        }
        let fd = Foundation.open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ExportError.environment("cannot create the ledger \(path): \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o600)
        close(fd)
        do {
            try {
                let database = try openDatabase(temporary, mode: .readWrite)
                try configureForWriting(database)
                try migrate(ledger(database, path: temporary, access: .write(create: true)), database, fresh: true)
                try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            }()
            // link() never replaces: if another process made the ledger meanwhile, that one stands.
            if link(temporary, path) != 0 && errno != EEXIST {
                throw ExportError.environment("cannot create the ledger \(path): \(String(cString: strerror(errno)))")
            }
            removeTemporary()
        } catch {
            removeTemporary()
            throw error
        }
    }

    /// A new ledger beside the payloads of an earlier one would be a new, empty history next to what
    /// the partner may hold: refused.
    static func checkNoEarlierPayloads(_ folder: String, ledger path: String) throws {
        let payloads = Paths.join(folder, "payloads")
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: payloads)) ?? []
        guard entries.isEmpty else {
            throw ExportError.environment("there is no ledger at \(path), but \(payloads) holds payloads of an earlier one; "
                                          + "a new ledger would forget what was sent. Restore the ledger, or move the payloads "
                                          + "folder away to start a new history")
        }
    }

    private static func schemaVersion(_ database: Database) throws -> Int { Int(try database.scalarInt("PRAGMA user_version") ?? 0) }

    private static func newerVersion(_ path: String, _ version: Int) -> ExportError {
        ExportError.ledger("the ledger \(path) was written by a newer partner-export (schema \(version)); upgrade first")
    }

    private static func migrate(_ ledger: SQLLedger, _ database: Database, fresh: Bool) throws {
        let path = database.path
        let version = try schemaVersion(database)
        guard version <= Schema.migrations.count else { throw newerVersion(path, version) }
        for (index, migration) in Schema.migrations.enumerated() where index >= version {
            if migration.rebuildsTables { try database.execute("PRAGMA foreign_keys = OFF") }
            try database.transaction {
                try database.execute(migration.sql)
                // The log's tree over the rows already there is computed here, not in SQL.
                if index == 3 { try ledger.buildLogState() }
                if migration.rebuildsTables {
                    let problems = try database.prepare("PRAGMA foreign_key_check").rows { (_: Row) in 1 }
                    guard problems.isEmpty else { throw LedgerError.damaged("migrating the ledger \(path) broke its references") }
                }
                try database.execute("PRAGMA user_version = \(index + 1)")
                try database.execute("PRAGMA application_id = \(Schema.applicationID)")
            }
            if migration.rebuildsTables { try database.execute("PRAGMA foreign_keys = ON") }
        }
    }
}
