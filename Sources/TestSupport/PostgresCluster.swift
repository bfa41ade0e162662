import Foundation
import Postgres
import SQLite

/// A throw-away PostgreSQL cluster for the tests: `initdb` into a temporary folder, started on
/// loopback at a free port, every statement logged, stopped when the test process exits. The
/// server refuses to run as root, so as root its programs run as the `postgres` user.
///
/// ```swift
/// let cluster = try PostgresCluster.shared()
/// let url = try cluster.createDatabase()                 // a database of the test's own
/// try PostgresFixtures.load(sqlite: path, into: url)     // the canonical schema and a SQLite file's rows
/// let statements = try cluster.statements(database: url, user: PostgresCluster.reader)
/// ```
public final class PostgresCluster: @unchecked Sendable {
    public let folder: String
    public let port: Int
    /// A role with SELECT on what ``PostgresFixtures`` loads: what the export connects as, so that the
    /// log tells its statements from the loader's.
    public static let reader = "exporter"

    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: Result<PostgresCluster, Error>?
    private let counterLock = NSLock()
    private var databases = 0

    /// The cluster of this test process, started on first use.
    public static func shared() throws -> PostgresCluster {
        lock.lock()
        defer { lock.unlock() }
        if started == nil {
            started = Result { try PostgresCluster() }
            if case .success = started { atexit { PostgresCluster.stopShared() } }
        }
        return try started!.get()
    }

    private static func stopShared() {
        guard case .success(let cluster)? = started else { return }
        cluster.stop()
    }

    /// The folder of the PostgreSQL programs (`initdb`, `pg_ctl`), newest version first.
    static func programs() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw PostgresClusterError("no PostgreSQL server programs under \(root) (make deps installs postgresql-15)")
    }

    init() throws {
        let bin = try Self.programs()
        Self.stopAbandoned(bin)
        folder = TestFiles.temporaryDirectory("pg").path
        // Whose cluster this is: a later test process stops it if this one was killed before its exit handler ran.
        try String(getpid()).write(toFile: "\(folder)/owner.pid", atomically: true, encoding: .utf8)
        // The server runs as `postgres`: the folder and those above it must be reachable by that user.
        chmod(folder, 0o755)
        let asRoot = getuid() == 0
        if asRoot { _ = try Self.command(["/usr/bin/chown", "postgres:postgres", folder]) }
        // Every folder above must be traversable by that user; the test folders live under /tmp, which is.
        var url = URL(fileURLWithPath: folder).deletingLastPathComponent()
        while url.path != "/" {
            guard access(url.path, X_OK) == 0 else { break }
            var info = stat()
            if stat(url.path, &info) == 0 && info.st_mode & 0o001 == 0 {
                throw PostgresClusterError("\(url.path) is not traversable by others, so the postgres user cannot reach \(folder); "
                                           + "set TMPDIR to a folder it can reach")
            }
            url.deleteLastPathComponent()
        }
        func run(_ arguments: [String]) throws -> String { try Self.command(Self.asServerUser(arguments)) }
        _ = try run(["\(bin)/initdb", "-D", "\(folder)/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"])
        var lastError: Error?
        var chosen: Int?
        for _ in 0..<5 where chosen == nil {
            let candidate = Int.random(in: 20_000...60_000)
            do {
                _ = try run(["\(bin)/pg_ctl", "-D", "\(folder)/data", "-l", "\(folder)/log", "-w", "-t", "30", "-o",
                             "-p \(candidate) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                             + "-c full_page_writes=off -c log_statement=all -c log_line_prefix='%d|%u|' -c max_connections=200",
                             "start"])
                chosen = candidate
            } catch {
                lastError = error
            }
        }
        guard let chosen else { throw lastError ?? PostgresClusterError("could not start PostgreSQL") }
        port = chosen
        let admin = try Connection(url: "postgresql://postgres@127.0.0.1:\(chosen)/postgres")
        try admin.execute("CREATE ROLE \(Self.reader) LOGIN")
    }

    /// Clusters of earlier test processes that were killed (their exit handler never ran): stopped and
    /// removed, so that killed test runs do not leave servers behind.
    static func stopAbandoned(_ bin: String) {
        let temporary = FileManager.default.temporaryDirectory.path
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where entry.hasPrefix("partner-export-pg-") {
            let folder = "\(temporary)/\(entry)"
            guard let text = try? String(contentsOfFile: "\(folder)/owner.pid", encoding: .utf8),
                  let owner = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  kill(owner, 0) != 0 && errno == ESRCH else { continue }
            let arguments = ["\(bin)/pg_ctl", "-D", "\(folder)/data", "-m", "immediate", "stop"]
            _ = try? command(asServerUser(arguments))
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    /// Stops the server at once (its data is thrown away with the folder).
    public func stop() {
        let bin = (try? Self.programs()) ?? "/usr/lib/postgresql/15/bin"
        let arguments = ["\(bin)/pg_ctl", "-D", "\(folder)/data", "-m", "immediate", "stop"]
        _ = try? Self.command(Self.asServerUser(arguments))
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The URL of `database` as `user`.
    public func url(database: String, user: String = "postgres") -> String {
        "postgresql://\(user)@127.0.0.1:\(port)/\(database)"
    }

    /// Creates an empty database of its own and returns its URL (as the `postgres` superuser).
    public func createDatabase(_ prefix: String = "t") throws -> String {
        counterLock.lock()
        databases += 1
        let name = "\(prefix)_\(getpid())_\(databases)"
        counterLock.unlock()
        let admin = try Connection(url: url(database: "postgres"))
        try admin.execute("CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// The statements the server logged for `database` (a name or a URL of it) run by `user`, in order.
    public func statements(database: String, user: String) throws -> [String] {
        let name = database.split(separator: "/").last.map { String($0.split(separator: "?")[0]) } ?? database
        let text = try String(contentsOfFile: "\(folder)/log", encoding: .utf8)
        var result: [String] = []
        var current: String?
        // The server writes a message's further lines after a tab: any other line starts a message.
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("\t") {
                if current != nil { current! += "\n" + line }
                continue
            }
            if let current { result.append(current) }
            current = line.hasPrefix("\(name)|\(user)|") ? String(line) : nil
        }
        if let current { result.append(current) }
        return result
    }

    /// `arguments` as the `postgres` user when this process is root (the server refuses to run as root).
    static func asServerUser(_ arguments: [String]) -> [String] {
        getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + arguments : arguments
    }

    /// Runs `arguments` and waits for it; throws with its output when it fails.
    ///
    /// Not `Process`: Foundation learns that a child ended through a socket the child inherits, and
    /// `pg_ctl start` leaves a server running that would inherit it too, so the wait would last as
    /// long as the server. Here the child gets /dev/null, a file for its output, and nothing else.
    @discardableResult
    static func command(_ arguments: [String]) throws -> String {
        let outputPath = NSTemporaryDirectory() + "partner-export-pg-command-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Every other descriptor closed in the child (closing one that is not open is no error).
        for fd in 3..<Int32(4096) { posix_spawn_file_actions_addclose(&actions, fd) }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        guard rc == 0 else { throw PostgresClusterError("cannot start \(arguments[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7F == 0
        let code = (status >> 8) & 0xFF
        guard exited && code == 0 else {
            throw PostgresClusterError("\(arguments.joined(separator: " ")) failed (status \(status)): \(text.suffix(2000))")
        }
        return text
    }
}

public struct PostgresClusterError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The canonical schema in PostgreSQL, and SQLite files' rows copied into it.
public enum PostgresFixtures {
    /// The canonical tables in PostgreSQL: the repository's ops/postgresql-schema.sql, the file operators use.
    public static func schema() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("ops/postgresql-schema.sql"), encoding: .utf8)
    }

    /// Creates the canonical tables in the database at `url` and copies every row of the SQLite file
    /// at `sqlite` into them (each value as the text SQLite gives for it); grants the cluster's
    /// reader SELECT on every column of customers but the card columns, and on consents (the grants
    /// docs/postgresql.md recommends).
    public static func load(sqlite: String, into url: String) throws {
        let connection = try Connection(url: url)
        try connection.execute(try schema())
        let source = try Database(path: sqlite, mode: .readOnly)
        try connection.transaction {
            for table in ["customers", "consents", "customer_logs"] {
                let columns = try source.columns(of: table)
                let statement = try source.prepare("SELECT \(columns.map { "\"\($0)\"" }.joined(separator: ", ")) FROM \(table)")
                let insert = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES ("
                    + columns.indices.map { "$\($0 + 1)" }.joined(separator: ", ") + ")"
                while try statement.step() {
                    let values: [String?] = try columns.indices.map { i in
                        guard let bytes = statement.textBytes(Int32(i)) else { return nil }
                        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
                            throw PostgresClusterError("\(table).\(columns[i]) holds a NUL or invalid UTF-8, which PostgreSQL cannot hold")
                        }
                        return text
                    }
                    _ = try connection.query(insert, values)
                }
            }
        }
        // The reader may read what an export may read, and no more: a statement that touched card data
        // or the logs (even as `SELECT *`) would fail with "permission denied".
        let readable = try source.columns(of: "customers").filter { !$0.hasPrefix("card_") }
        try connection.execute("GRANT SELECT (\(readable.joined(separator: ", "))) ON customers TO \(PostgresCluster.reader); "
                               + "GRANT SELECT ON consents TO \(PostgresCluster.reader)")
    }
}
