import ExportCore
import Foundation
import Postgres
import Synchronization

/// Where the ledger is (`--state`): a SQLite file, or a PostgreSQL database (`postgresql://…`,
/// schema `partner_export`). Everything that differs between the two beyond SQL lives here: how to
/// open it, where payloads go, and the lock that keeps two runs from overlapping.
///
/// The local folder (`stateFolder`) holds what is always a file on this machine — metrics, the
/// audit key and checkpoints, dry runs — and, for a SQLite ledger, the ledger, its payloads and its lock.
public struct LedgerLocation: Sendable {
    public enum Kind: Sendable, Equatable {
        case sqlite(path: String)
        case postgres(url: String)
    }

    public let kind: Kind
    public let stateFolder: String
    /// A PostgreSQL ledger shared by several workers: a write transaction left idle this long (its
    /// process stalled while holding the writers' turn, which every worker waits for) is ended by the
    /// server — set to the lease, by when the stalled worker's items are another's anyway. 0: never.
    public var idleInTransactionSeconds = 0

    /// `text` as given to `--state`; `stateFolder`: the local folder for a PostgreSQL ledger (a
    /// SQLite ledger's is the folder it is in).
    public init(_ text: String, stateFolder: String? = nil) {
        if PostgresURL.matches(text) {
            kind = .postgres(url: text)
            self.stateFolder = stateFolder ?? "state"
        } else {
            kind = .sqlite(path: text)
            self.stateFolder = SQLiteLedger.folder(of: text)
        }
    }

    public var isPostgres: Bool {
        if case .postgres = kind { return true }
        return false
    }

    /// For messages: the path, or the URL without its password.
    public var label: String {
        switch kind {
        case .sqlite(let path): path
        case .postgres(let url): PostgresURL.redacted(url)
        }
    }

    public func open(_ access: LedgerAccess) throws -> any LedgerStore {
        switch kind {
        case .sqlite(let path): try SQLiteLedger.open(at: path, access: access)
        case .postgres(let url): try PostgresLedger.open(url: url, access: access, idleInTransactionSeconds: idleInTransactionSeconds)
        }
    }

    /// Whether there is a ledger there yet (a PostgreSQL server that cannot be reached is an error).
    public func exists() throws -> Bool {
        switch kind {
        case .sqlite(let path):
            return FileManager.default.fileExists(atPath: path)
        case .postgres(let url):
            return try PostgresLedger.exists(url: url)
        }
    }

    public var payloads: any PayloadStore {
        switch kind {
        case .sqlite: FilePayloadStore(folder: stateFolder)
        case .postgres(let url): PostgresPayloadStore(url: url)
        }
    }

    /// Takes the lock that keeps two runs on this ledger from overlapping, or throws `lock.held` (exit 75).
    /// `shared` (a PostgreSQL ledger only): the workers of shared runs hold it together, and only a
    /// process that needs the ledger to itself (`rerun`, `prune`) is kept out — and keeps them out.
    public func lock(now: String, shared: Bool = false) throws -> any RunLock {
        switch kind {
        case .sqlite: try StateLock(folder: stateFolder, now: now)
        case .postgres(let url): try PostgresRunLock(url: url, now: now, shared: shared)
        }
    }

    /// The queue a run's items wait in: this process's memory (SQLite: its runs are its own), or the
    /// ledger's `run_items`, claimed under leases of `leaseSeconds` by any process holding `lock`.
    public func workQueue(leaseSeconds: Int, lock: any RunLock) -> any WorkQueue {
        switch kind {
        case .sqlite: LocalWorkQueue()
        case .postgres: SharedWorkQueue(leaseSeconds: leaseSeconds, session: lock.session)
        }
    }

    /// Whether a run holds the lock now.
    public func holderAlive() -> Bool {
        switch kind {
        case .sqlite: StateLock.holderAlive(in: stateFolder)
        case .postgres(let url): PostgresRunLock.held(url: url)
        }
    }
}

/// The run lock of a PostgreSQL ledger: a session advisory lock held by a connection of its own for
/// as long as the run lasts. The server releases it when that connection ends, so a killed run never
/// leaves it behind; who holds it shows in `pg_stat_activity` (application name `partner-export pid
/// N on HOST since T`).
public final class PostgresRunLock: RunLock {
    /// 'PEXQ': beside the write-transaction lock ('PEXP').
    static let key: Int64 = 0x5045_5851
    private let connection: Mutex<Connection>
    private let label: String
    /// The lock session's backend pid: while it is in `pg_stat_activity`, this process is alive.
    public let session: Int32?
    /// Taken alone (a rerun, a prune), not with the workers of shared runs.
    public let exclusive: Bool

    public init(url: String, now: String, shared: Bool = false) throws {
        exclusive = !shared
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let name = "partner-export pid \(getpid()) on \(String(cString: host)) since \(now)"
        label = PostgresURL.redacted(url)
        do {
            // Keepalives: a holder whose machine vanished loses the lock within a minute or two, not
            // when the kernel gives up on the connection hours later.
            let connection = try Connection(url: url, parameters: [("keepalives", "1"), ("keepalives_idle", "30"),
                                                               ("keepalives_interval", "10"), ("keepalives_count", "3"),
                                                               ("tcp_user_timeout", "60000")])
            try connection.execute("SET application_name = \(try connection.literal(String(name.prefix(63))))")
            // An idle lock connection must not be closed by the server's idle_session_timeout (PostgreSQL 14+);
            // and the server must notice a holder that vanished (its own keepalives: the kernel's default
            // waits two hours before the first probe, the lock would be held all that time).
            try? connection.execute("SET idle_session_timeout = 0")
            try connection.execute("SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3; "
                                   + "SET tcp_user_timeout = 60000")
            let taken = try connection.query("SELECT pg_try_advisory_lock\(shared ? "_shared" : "")(\(Self.key))").text(0, 0)
            guard taken == "t" else {
                // Who keeps this process out: the exclusive holder, or (for an exclusive request) the workers.
                let holder = try? connection.query("""
                    SELECT a.application_name FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
                    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = \(Self.key) AND l.objsubid = 1
                      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    ORDER BY l.mode = 'ExclusiveLock' DESC LIMIT 1
                    """).text(0, 0)
                let who = shared ? "a partner-export process that needs the ledger to itself (rerun, prune) holds the lock of the "
                    : "another partner-export run holds the lock of the "
                throw ExportError.lockHeld(who + "ledger in \(PostgresURL.redacted(url))"
                                           + (holder.map { " (\($0 ?? "unknown"))" } ?? "") + "; nothing was done")
            }
            session = Int32(try connection.query("SELECT pg_backend_pid()").text(0, 0) ?? "") ?? 0
            self.connection = Mutex(connection)
        } catch let error as PostgresError {
            throw ExportError.environment("cannot take the ledger's lock in \(PostgresURL.redacted(url)): \(error.message)")
        }
    }

    /// Throws unless the lock's connection is still there (and so the lock still held): a session the
    /// server ended (`pg_terminate_backend`, a restart, a timeout) took the lock with it, and another
    /// run may have started — nothing more may be sent.
    public func check() throws {
        do {
            try connection.withLock { _ = try $0.query("SELECT 1") }
        } catch {
            throw ExportError.environment("this run lost its lock on the ledger \(label) (the server ended its session); it "
                                          + "stopped before sending more. Run again: what was not sent is owed (rerun --failed)")
        }
    }

    /// Whether some session holds the run lock of the ledger at `url`.
    static func held(url: String) -> Bool {
        guard let connection = try? Connection(url: url) else { return false }
        let count = try? connection.query("""
            SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = \(key) AND objsubid = 1
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """).text(0, 0)
        return (count.flatMap { $0 }.flatMap { Int($0) } ?? 0) > 0
    }
}
