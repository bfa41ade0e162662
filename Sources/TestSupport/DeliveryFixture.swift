import ExportCore
import Foundation
import Postgres
import SQLite

/// Which ledger a test runs against: the same scenarios must hold for both.
public enum LedgerKind: String, CaseIterable, Sendable {
    case sqlite
    case postgres
}

/// A complete delivery set-up for tests: a customer database, a config folder whose partners point at
/// a running sandbox, the secrets in an environment, and a state folder.
public struct DeliveryFixture {
    public let folder: URL
    public let config: URL
    public let database: String
    /// The ledger: a SQLite file, or (``LedgerKind/postgres``) a URL of a fresh database on the test cluster.
    public let state: String
    public let ledgerKind: LedgerKind
    public let environment: [String: String]

    /// Secrets with recognisable values, so tests can prove none of them leaks.
    public static let secrets: [String: String] = [
        "ACME_TOKEN": "tok_Zebra7QuillSecretToken42",
        "ACME_SIGNING_SECRET": "whsec_" + Data("sign-secret-Mongoose-91-xyz".utf8).base64EncodedString(),
        "ACME_PSEUDONYM_KEY": "pseud-key-Walrus-0123456789",
        "GLOBEX_PASSWORD": "pw_Narwhal_Sausage_77",
        "GLOBEX_PSEUDONYM_KEY": "pseud-key-Ocelot-9876543210",
        "PARTNER_EXPORT_RETRY_BASE_SECONDS": "0.05",
    ]

    /// The sandbox routes the fixture's partners expect.
    public static func routes(acmeFaults: [[String: Any]] = [], globexFaults: [[String: Any]] = []) -> [String: Any] {
        [
            "/feeds/acme": ["bearer_token_env": "ACME_TOKEN", "signing_secret_env": "ACME_SIGNING_SECRET", "faults": acmeFaults],
            "/feeds/globex": ["basic_user": "partner-export", "basic_password_env": "GLOBEX_PASSWORD", "faults": globexFaults],
        ]
    }

    /// - Parameters:
    ///   - customers: how many customers (everyone opted in to both scopes, active).
    ///   - acme: extra contract lines for the JSON partner's delivery block.
    ///   - globex: whether to configure the XML partner (over mTLS) too.
    public init(sandbox: Sandbox, customers: Int = 30, maxRecords: Int = 10, maxAttempts: Int = 4, timeout: Int = 5,
                acme: String = "", acmeCA: String = "ca.pem", globex: Bool = false, globexClientCertificate: Bool = true,
                globexExtra: String = "", ledger: LedgerKind = .sqlite) throws {
        folder = TestFiles.temporaryDirectory("delivery")
        config = folder.appendingPathComponent("config")
        database = folder.appendingPathComponent("customers.sqlite").path
        ledgerKind = ledger
        switch ledger {
        case .sqlite:
            state = folder.appendingPathComponent("state/ledger.sqlite").path
            environment = Self.secrets
        case .postgres:
            let cluster = try PostgresCluster.shared()
            state = try cluster.createDatabase("ledger")
            environment = Self.secrets.merging(["PARTNER_EXPORT_STATE_DIR": folder.appendingPathComponent("state").path]) { $1 }
        }
        try TestFiles.write("""
            id: acme
            name: ACME Offers Ltd
            purpose: Offers for products that may interest the customer
            consent: [partner-offers]
            allow:
              id: [pseudonym]
              email: [sha256]
              first_name: [clear]
              country: [clear]
            format: json
            delivery:
              url: \(sandbox.url("/feeds/acme"))
              auth: {bearer_token_env: ACME_TOKEN}
              signing_secret_env: ACME_SIGNING_SECRET
              pseudonym_key_env: ACME_PSEUDONYM_KEY
              ca_file: \(Sandbox.pki(acmeCA))
              batch: {max_records: \(maxRecords)}
              timeout_seconds: \(timeout)
              max_attempts: \(maxAttempts)
            \(acme)
            """, to: config.appendingPathComponent("partners/acme.yaml"))
        try TestFiles.write("""
            partner: acme
            fields:
              - {name: ref, from: id, form: pseudonym}
              - {name: email_sha256, from: email, form: sha256}
              - {name: firstName, from: first_name}
              - {name: country, from: country}
            """, to: config.appendingPathComponent("mappings/acme.yaml"))
        if globex {
            let certificate = globexClientCertificate
                ? "  client_cert: \(Sandbox.pki("client.pem"))\n  client_key: \(Sandbox.pki("client.key"))\n" : ""
            try TestFiles.write("""
                id: globex
                name: Globex Rewards plc
                purpose: Enrol customers who asked to join the programme
                consent: [partner-programs]
                allow:
                  id: [pseudonym]
                  first_name: [clear]
                  email: [clear]
                format: xml
                delivery:
                  url: \(sandbox.url("/feeds/globex", mtls: true))
                  method: PUT
                  auth: {basic_user: partner-export, basic_password_env: GLOBEX_PASSWORD}
                  pseudonym_key_env: GLOBEX_PSEUDONYM_KEY
                  ca_file: \(Sandbox.pki("ca.pem"))
                \(certificate)  gzip: true
                  batch: {max_records: \(maxRecords)}
                  timeout_seconds: \(timeout)
                  max_attempts: \(maxAttempts)
                \(globexExtra)
                """, to: config.appendingPathComponent("partners/globex.yaml"))
            try TestFiles.write("""
                partner: globex
                root: enrolments
                record: member
                fields:
                  - {name: memberRef, from: id, form: pseudonym}
                  - {name: givenName, from: first_name}
                  - {name: email, from: email}
                """, to: config.appendingPathComponent("mappings/globex.yaml"))
        }
        let ids = (1...Int64(max(customers, 1))).prefix(customers)
        try Fixtures.write(database, customers: ids.map { .init(id: $0) },
                           consents: ids.flatMap { [Fixtures.Consent($0, "partner-offers"), Fixtures.Consent($0, "partner-programs")] })
    }

    /// The local folder: the SQLite ledger's, or PARTNER_EXPORT_STATE_DIR beside a PostgreSQL one.
    public var stateFolder: String {
        ledgerKind == .postgres ? folder.appendingPathComponent("state").path : Paths.folder(of: state)
    }

    /// Where run, rerun and prune write the metrics by default.
    public var metricsPath: String { Paths.join(stateFolder, "metrics/partner_export.prom") }

    /// The common options for the binary.
    public var options: [String] { ["--config", config.path, "--db", database, "--state", state] }

    /// Runs the binary with the fixture's options and secrets.
    public func run(_ arguments: [String], extra: [String: String] = [:]) throws -> Binary.Result {
        try Binary.run(arguments + options, environment: environment.merging(extra) { $1 })
    }

    /// Starts the binary with the fixture's options and secrets and returns at once, output discarded:
    /// for tests that kill it, or act while it runs.
    public func launch(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = Binary.url
        process.arguments = arguments + options
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Starts the binary with the fixture's options and secrets and returns at once; its output is
    /// kept (in a file: a pipe nobody reads would stall it) for ``Started/wait()``.
    public func start(_ arguments: [String], extra: [String: String] = [:]) throws -> Started {
        let process = Process()
        process.executableURL = Binary.url
        process.arguments = arguments + options
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }.merging(extra) { $1 }
        let folder = TestFiles.temporaryDirectory("started")
        let stdout = folder.appendingPathComponent("stdout")
        let stderr = folder.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: stdout.path, contents: nil)
        FileManager.default.createFile(atPath: stderr.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = try FileHandle(forWritingTo: stderr)
        try process.run()
        return Started(process: process, stdout: stdout, stderr: stderr)
    }

    /// A process ``start(_:extra:)`` started.
    public struct Started {
        public let process: Process
        let stdout: URL
        let stderr: URL

        /// Waits for it to end: its status and what it printed.
        public func wait() -> Binary.Result {
            process.waitUntilExit()
            return Binary.Result(status: process.terminationStatus,
                                 stdout: (try? String(contentsOf: stdout, encoding: .utf8)) ?? "",
                                 stderr: (try? String(contentsOf: stderr, encoding: .utf8)) ?? "")
        }
    }

    /// Runs the binary under script(1) with a terminal `columns` wide (a pseudo-terminal, as an
    /// operator's shell would give it); its exit status, and in `stdout` all it printed (the terminal
    /// mixes both streams).
    public func onTerminal(_ arguments: [String], columns: Int? = nil) throws -> Binary.Result {
        let command = ([Binary.url.path] + arguments + options).map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["script", "-q", "-e", "-c", command, "/dev/null"]
        var terminal = ["PATH": "/usr/bin:/bin", "TERM": "xterm"]
        if let columns { terminal["COLUMNS"] = String(columns) }
        process.environment = environment.merging(terminal) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Binary.Result(status: process.terminationStatus, stdout: output, stderr: "")
    }

    /// The contract of the JSON partner, to change it between runs.
    public var acmeContract: URL { config.appendingPathComponent("partners/acme.yaml") }
    public var acmeMapping: URL { config.appendingPathComponent("mappings/acme.yaml") }

    /// Replaces `old` with `new` in a configuration file.
    public func edit(_ file: URL, replacing old: String, with new: String) throws {
        let text = try String(contentsOf: file, encoding: .utf8)
        guard text.contains(old) else { throw SandboxError(description: "\(file.lastPathComponent) has no '\(old)'") }
        try Data(text.replacingOccurrences(of: old, with: new).utf8).write(to: file)
    }

    /// Waits (up to `seconds`) until `sql` on the ledger returns a non-zero count or true (PostgreSQL's
    /// `t`); false when it never did.
    public func waitUntil(_ sql: String, seconds: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if ledgerKind == .postgres || FileManager.default.fileExists(atPath: state), let value = try? query(sql).first?[0],
               value == "t" || (Int(value) ?? 0) > 0 {
                return true
            }
            usleep(10_000)
        }
        return false
    }

    /// The pseudonym the JSON partner knows customer `id` by (its `ref` field).
    public static func acmeRef(_ id: Int64) -> String {
        // swiftlint:disable:next force_try
        (try? Pseudonymizer(key: Array((secrets["ACME_PSEUDONYM_KEY"] ?? "").utf8)))?.pseudonym(of: String(id)) ?? ""
    }

    /// A read-only look at the ledger.
    public func ledger() throws -> Database { try Database(path: state, mode: .readOnly) }

    /// Rows of a query on the ledger, as strings.
    /// Whether the payload at `relative` (a `payload_path` of the ledger) is on disk.
    public func payloadExists(_ relative: String?) -> Bool {
        guard let relative, !relative.isEmpty else { return false }
        if ledgerKind == .postgres {
            let quoted = "'" + relative.replacingOccurrences(of: "'", with: "''") + "'"
            return (try? query("SELECT count(*) FROM payloads WHERE path = \(quoted)").first?[0]) == "1"
        }
        let folder = Paths.folder(of: state)
        return FileManager.default.fileExists(atPath: Paths.join(folder, relative))
    }

    public func query(_ sql: String) throws -> [[String?]] {
        if ledgerKind == .postgres {
            let connection = try Connection(url: state, setup: ["SET search_path = partner_export"])
            let result = try connection.query(sql)
            return (0..<result.count).map { row in (0..<result.columnCount).map { result.text(row, $0) } }
        }
        let db = try ledger()
        let statement = try db.prepare(sql)
        var rows: [[String?]] = []
        while try statement.step() {
            rows.append((0..<statement.columnCount).map { statement.string($0) })
        }
        return rows
    }

    /// The ledger opened for writing, to set up a history quickly.
    public func ledgerForWriting() throws -> Database { try Database(path: state, mode: .readWrite) }

    /// The customer database, to change rows between runs.
    public func customers() throws -> Database { try Database(path: database, mode: .readWrite) }

    /// Withdraws `customer`'s consent for `scope` in the customer database.
    public func withdraw(_ customer: Int64, scope: String = "partner-offers") throws {
        let db = try Database(path: database, mode: .readWrite)
        try db.prepare("UPDATE consents SET withdrawn_at = '2026-11-27T03:00:00Z' WHERE customer_id = ? AND scope = ?")
            .run([.integer(customer), .text(scope)])
    }
}
