import Foundation
import Postgres
import TestSupport
import Testing

/// The real binary with `--db` or `--state postgresql://…` (a throw-away PostgreSQL cluster), delivering over real
/// TLS to the partner sandbox: what the partner holds is what the SQLite file would have given.
@Suite("PostgreSQL end to end")
struct PostgresEndToEndTests {
    @Test("run from PostgreSQL: the partner holds every eligible customer; a withdrawal on the server becomes a notice")
    func runFromPostgres() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 25, acme: "mode: changes")
        let cluster = try PostgresCluster.shared()
        let admin = try cluster.createDatabase("pg_e2e")
        try PostgresFixtures.load(sqlite: fixture.database, into: admin)
        let url = cluster.url(database: String(admin.split(separator: "/").last!), user: PostgresCluster.reader)
        let options = ["--config", fixture.config.path, "--db", url, "--state", fixture.state]

        let preview = try Binary.run(["preview", "acme", "--json"] + options, environment: fixture.environment)
        #expect(preview.status == 0, "\(preview.output)")
        let counts = try JSONSerialization.jsonObject(with: Data(preview.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(counts["eligible"] as? Int == 25, "\(counts)")

        let first = try Binary.run(["run", "acme"] + options, environment: fixture.environment)
        #expect(first.status == 0, "\(first.output)")
        var view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(view.records.count == 25)
        let refs = Set((1...25).map { DeliveryFixture.acmeRef(Int64($0)) })
        #expect(Set(view.records.keys) == refs)

        // A withdrawal and an erasure on the server: the next run tells the partner to forget them.
        let writer = try Connection(url: admin)
        try writer.execute("UPDATE consents SET withdrawn_at = '2026-11-28T00:00:00Z' WHERE customer_id = 3")
        try writer.execute("DELETE FROM consents WHERE customer_id = 7; DELETE FROM customer_logs WHERE customer_id = 7; "
                           + "DELETE FROM customers WHERE id = 7")
        let second = try Binary.run(["run", "acme"] + options, environment: fixture.environment)
        #expect(second.status == 0, "\(second.output)")
        view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == refs.subtracting([DeliveryFixture.acmeRef(3), DeliveryFixture.acmeRef(7)]))
        #expect(Set(view.notices.map(\.reason)) == ["consent_withdrawn", "erased"], "\(view.notices)")

        // Messages name the server without its password.
        let wrong = try Binary.run(["preview", "acme", "--config", fixture.config.path, "--state", fixture.state,
                                    "--db", "postgresql://exporter:hunter2@127.0.0.1:1/crm?connect_timeout=2"],
                                   environment: fixture.environment)
        #expect(wrong.status == 2, "\(wrong.output)")
        #expect(wrong.output.contains("postgresql://exporter:***@127.0.0.1:1/crm"), "\(wrong.output)")
        #expect(!wrong.output.contains("hunter2"))
        // A ledger in PostgreSQL that cannot be reached is named without its password (not taken for a
        // folder called "postgresql:"); libpq's keyword form is refused without being repeated.
        let local = ["PARTNER_EXPORT_STATE_DIR": fixture.folder.appendingPathComponent("local").path]
        let state = try Binary.run(["runs", "--config", fixture.config.path, "--db", url,
                                    "--state", "postgresql://exporter:hunter2@127.0.0.1:1/ledger?connect_timeout=2"],
                                   environment: fixture.environment.merging(local) { $1 })
        #expect(state.status != 0, "\(state.output)")
        #expect(state.output.contains("cannot open the ledger postgresql://exporter:***@127.0.0.1:1/ledger"), "\(state.output)")
        #expect(!state.output.contains("hunter2"))
        #expect(!FileManager.default.fileExists(atPath: "postgresql:"))
        let keywords = try Binary.run(["runs", "--config", fixture.config.path, "--state", "host=127.0.0.1 password=hunter2"],
                                      environment: fixture.environment)
        #expect(keywords.status == 2, "\(keywords.output)")
        #expect(keywords.output.contains("keyword form is not accepted"), "\(keywords.output)")
        #expect(!keywords.output.contains("hunter2"))
        // Mistyped URLs are never taken for file names (which would be created, and printed).
        let folder = fixture.folder.appendingPathComponent("typos").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for typo in ["postgres//exporter:hunter2@127.0.0.1:1/ledger", "psql://exporter:hunter2@127.0.0.1/ledger",
                     "postgresql:/exporter:hunter2@127.0.0.1/ledger", " postgresql://exporter:hunter2@127.0.0.1/ledger",
                     "ledger:hunter2@host/db"] {
            for option in ["--state", "--db"] {
                let typed = try Binary.run(["run", "acme", "--config", fixture.config.path, option, typo], environment: fixture.environment,
                                           in: URL(fileURLWithPath: folder))
                #expect(typed.status == 2, "\(option) \(typo): \(typed.output)")
                #expect(typed.output.contains("looks like a PostgreSQL URL but is not one"), "\(typed.output)")
                #expect(!typed.output.contains("hunter2"))
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty, "nothing was created")
        // File names that merely start with the word are file names.
        for name in ["postgres.sqlite", "psql/ledger.sqlite"] {
            #expect(!PostgresURL.looksMistyped(name), "\(name)")
        }
        // A PostgreSQL ledger needs this machine's folder named: metrics, the audit key and checkpoints live there.
        let noFolder = try Binary.run(["runs", "--config", fixture.config.path, "--state", "postgresql://exporter@127.0.0.1:1/ledger"],
                                      environment: fixture.environment)
        #expect(noFolder.status == 2 && noFolder.output.contains("set PARTNER_EXPORT_STATE_DIR"), "\(noFolder.output)")
    }

    @Test("with the ledger in PostgreSQL, prune deletes payload rows past retention, keeps what an owed delivery needs, and the strays")
    func pruneLedgerInPostgres() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(globexFaults: [["status": 400]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 6, globex: true, ledger: .postgres)
        #expect(try fixture.run(["run", "--all"], extra: ["PARTNER_EXPORT_NOW": "2026-11-27T02:00:00Z"]).status == 1)
        #expect(try fixture.query("SELECT count(*) FROM payloads").first?[0] == "2")
        #expect(!FileManager.default.fileExists(atPath: fixture.stateFolder + "/payloads"), "no payload is a file")
        // A payload row no delivery refers to (a crash between storing it and recording the delivery), 40 days old.
        _ = try fixture.query("INSERT INTO payloads (path, data, stored_at) VALUES ('payloads/acme/dlv_lost.json', '\\x7b7d', "
                              + "now() - interval '40 days') RETURNING 1")
        let later = ["PARTNER_EXPORT_NOW": "2027-01-06T02:00:00Z"]
        let dry = try fixture.run(["prune", "--dry-run"], extra: later)
        #expect(dry.stdout.contains("Would delete 1 delivery payload(s), 1 stray file(s)"), "\(dry.stdout)")
        #expect(!dry.stdout.contains("(0 bytes"), "the dry run counts what it would delete: \(dry.stdout)")
        #expect(try fixture.query("SELECT count(*) FROM payloads").first?[0] == "3", "a dry run deletes nothing")
        let pruned = try fixture.run(["prune"], extra: later)
        #expect(pruned.status == 0, "\(pruned.output)")
        #expect(pruned.stdout.contains("Deleted 1 delivery payload(s), 1 stray file(s)"), "\(pruned.stdout)")
        #expect(pruned.stdout.contains("Kept 1 payload(s) that owed deliveries still need"))
        #expect(try fixture.query("SELECT path FROM payloads").map { $0[0] ?? "" }.allSatisfy { $0.contains("/globex/") })
        #expect(try fixture.query("SELECT count(*) FROM disclosures").first?[0] == "6", "the accounting stays")
        #expect(try fixture.query("SELECT count(*) FROM deliveries WHERE payload_pruned_at IS NOT NULL").first?[0] == "1")
        // The owed delivery's payload is still there for the rerun, which sends it once the partner accepts.
        let rerun = try fixture.run(["rerun", "--failed"], extra: later)
        #expect(rerun.status == 0, "\(rerun.output)")
    }

    @Test("two run --due started at the same minute on one PostgreSQL ledger make one run: the second joins it and works a shard of it, nothing is sent twice")
    func dueTogether() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 20, timeout: 60, acme: "  shards: 2\nschedule: \"0 2 * * *\"",
                                          ledger: .postgres)
        #expect(try fixture.run(["audit", "init", "--name", "test.example"]).status == 0)
        let firstDay = try fixture.run(["run", "--due"], extra: ["PARTNER_EXPORT_NOW": "2026-11-26T02:00:30Z"])
        #expect(firstDay.status == 0, "\(firstDay.output)")
        let before = sandbox.requests().count
        #expect(before == 2, "a batch per shard")
        // The first worker's first request waits for its answer; while it does (in flight, outside any transaction)
        // the worker is stopped, so that the second one, started for the same slot, finds the other shard free.
        try sandbox.addFaults([["stall": 2, "status": 200]], path: "/feeds/acme")
        let options = ["run", "--due", "--json", "--parallel", "1"]
        let first = try fixture.start(options, extra: ["PARTNER_EXPORT_NOW": "2026-11-27T02:00:00Z", "PARTNER_EXPORT_WORKER_NAME": "w1"])
        #expect(fixture.waitUntil("SELECT count(*) FROM attempts WHERE outcome IS NULL"), "w1 sent its shard's batch")
        kill(first.process.processIdentifier, SIGSTOP)
        let second = try fixture.start(options, extra: ["PARTNER_EXPORT_NOW": "2026-11-27T02:00:01Z", "PARTNER_EXPORT_WORKER_NAME": "w2"])
        // A generous wait (it ends when the row appears): w2 starts a process, joins, renders and delivers its shard
        // while the rest of the suite shares the two cores.
        let joinedItem = fixture.waitUntil("SELECT count(*) FROM run_items WHERE holder = 'w2 #1' AND status = 'done'", seconds: 120)
        kill(first.process.processIdentifier, SIGCONT)
        #expect(joinedItem, "w2 joined the slot's run and finished the shard w1 left free")
        let outcomes = [first.wait(), second.wait()]
        #expect(outcomes.allSatisfy { $0.status == 0 }, "\(outcomes.map(\.output))")
        let runs = outcomes.map { (try? JSONSerialization.jsonObject(with: Data($0.stdout.utf8)) as? [String: Any])?["run"] as? String }
        #expect(runs[0] != nil && runs[0] == runs[1], "both report the one run of the slot: \(outcomes.map(\.output))")
        let holders = try fixture.query("SELECT holder FROM run_items WHERE run_id = '\(runs[0] ?? "")' ORDER BY shard").map { $0[0] ?? "" }
        #expect(Set(holders) == ["w1 #1", "w2 #1"], "each worker did a shard: \(holders)")
        #expect(try fixture.query("SELECT count(*) FROM runs").first?[0] == "2", "the first day's run and one run of this slot")
        #expect(try fixture.query("SELECT count(*) FROM run_slots").first?[0] == "2")
        let requests = sandbox.requests()
        #expect(requests.count == 2 * before && Set(requests.compactMap(\.idempotencyKey)).count == 2 * before,
                "the slot's feed (a batch per shard, like the first day's) was sent once")
        // What the partner holds after the second day: every customer, from the slot's one feed.
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == Set((1...20).map { DeliveryFixture.acmeRef(Int64($0)) }), "\(view.records.keys.sorted())")
        // Both workers signed the log after the run: intact against every checkpoint, on the PostgreSQL ledger.
        let verified = try fixture.run(["audit", "verify"])
        #expect(verified.status == 0 && verified.stdout.contains("OK: the log is intact against every checkpoint"), "\(verified.output)")
    }
}

extension PostgresEndToEndTests {
    @Test("a run whose lock session the server ended stops before sending more; what it did not send is owed and the next run completes it")
    func lostLock() throws {
        let stalls: [[String: Any]] = Array(repeating: ["stall": 0.5, "status": 200], count: 20)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: stalls), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 60, maxRecords: 5, timeout: 10, ledger: .postgres)
        let process = Process()
        process.executableURL = Binary.url
        process.arguments = ["run", "acme"] + fixture.options
        process.environment = fixture.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        #expect(fixture.waitUntil("SELECT count(*) >= 2 FROM attempts"))
        // What an administrator (or a restart, or a timeout) does to the lock's session.
        _ = try fixture.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'partner-export pid%' "
                              + "AND datname = current_database()")
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0, "\(text)")
        #expect(text.contains("lost its lock on the ledger"), "\(text)")
        // The server's own words about it come once, inside the error, not once per connection libpq had open.
        #expect(text.components(separatedBy: "terminating connection due to administrator command").count - 1 <= 1, "\(text)")
        let sent = sandbox.requests().count
        #expect(sent < 12, "it stopped: \(sent) of 12 batches sent")
        #expect(try fixture.query("SELECT count(*) FROM deliveries WHERE status = 'delivered'").first?[0].flatMap { Int($0) } ?? 0 <= sent)
        // The next run completes the feed; the partner then holds every customer, each acknowledged delivery in the ledger.
        let next = try fixture.run(["run", "acme"])
        #expect(next.status == 0, "\(next.output)")
        let acknowledged = Set(sandbox.requests().filter(\.acknowledged).compactMap(\.idempotencyKey))
        let delivered = Set(try fixture.query("SELECT id FROM deliveries WHERE status = 'delivered'").compactMap { $0[0] })
        #expect(delivered == acknowledged)
    }

    @Test("a ledger whose every session the server ends mid-run: the run stops, and the server's words come once, as the tool's own JSON lines (libpq prints nothing of its own)")
    func lostLedger() throws {
        let stalls: [[String: Any]] = Array(repeating: ["stall": 0.5, "status": 200], count: 20)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: stalls), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 60, maxRecords: 5, timeout: 10, globex: true, ledger: .postgres)
        let started = try fixture.start(["run", "--all", "--parallel", "2", "--log-format", "json"])
        #expect(fixture.waitUntil("SELECT count(*) >= 2 FROM attempts"))
        _ = try fixture.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                              + "AND pid <> pg_backend_pid()")
        let result = started.wait()
        #expect(result.status != 0, "\(result.output)")
        // libpq's own printing of the server's notices (once per connection) is off: every line is the tool's.
        let lines = LogFormatTests.objects(result.stderr, "a lost ledger").compactMap { $0["message"] as? String }
        #expect(!lines.isEmpty && Set(lines).count == lines.count, "no line twice: \(result.stderr)")
        #expect(result.stderr.components(separatedBy: "terminating connection due to administrator command").count - 1 <= 1, "\(result.stderr)")
    }

    @Test("a role that may not create the schema is told what to grant; a schema made for it beforehand is used")
    func schemaPrivileges() throws {
        let cluster = try PostgresCluster.shared()
        let admin = try Connection(url: try cluster.createDatabase("grants"))
        let name = try admin.query("SELECT current_database()").text(0, 0) ?? ""
        try admin.execute("DO $$ BEGIN CREATE ROLE ledger_writer LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
                          + "REVOKE CREATE ON DATABASE \(name) FROM PUBLIC")
        let url = cluster.url(database: name, user: "ledger_writer")
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3, ledger: .postgres)
        let options = ["--config", fixture.config.path, "--db", fixture.database, "--state", url]
        let refused = try Binary.run(["run", "acme"] + options, environment: fixture.environment)
        #expect(refused.status == 2, "\(refused.output)")
        #expect(refused.output.contains("GRANT CREATE ON DATABASE") && refused.output.contains("AUTHORIZATION"), "\(refused.output)")
        #expect(sandbox.requests().isEmpty, "nothing was sent")
        try admin.execute("CREATE SCHEMA partner_export AUTHORIZATION ledger_writer")
        let ran = try Binary.run(["run", "acme"] + options, environment: fixture.environment)
        #expect(ran.status == 0, "\(ran.output)")
        #expect(!ran.output.contains("NOTICE"), "\(ran.output)")
        #expect(sandbox.requests().count == 1)
        // Another role, without USAGE on the schema: told what to grant, not that a relation does not exist.
        try admin.execute("DO $$ BEGIN CREATE ROLE ledger_outsider LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;")
        let outsider = cluster.url(database: name, user: "ledger_outsider")
        for command in [["runs"], ["run", "acme"]] {
            let denied = try Binary.run(command + ["--config", fixture.config.path, "--db", fixture.database, "--state", outsider],
                                        environment: fixture.environment)
            #expect(denied.status == 2 && denied.stderr.contains("GRANT USAGE ON SCHEMA partner_export TO ledger_outsider")
                    && !denied.stderr.contains("does not exist"), "\(command): \(denied.output)")
        }
        #expect(sandbox.requests().count == 1, "nothing more was sent")
    }
}

/// Results from other threads.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Binary.Result?] = [nil, nil]
    func set(_ i: Int, _ value: Binary.Result?) { lock.lock(); storage[i] = value; lock.unlock() }
    var values: [Binary.Result?] { lock.lock(); defer { lock.unlock() }; return storage }
}
