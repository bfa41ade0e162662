import ExportCore
import Foundation
import TestSupport
import Testing

/// Signals an operator can trust at 02:00: one test per item of the signals issue, with the real
/// binary; metrics parsed by prometheus_client, `--json` parsed with its types checked, tables
/// measured at 80 and 120 columns under script(1).
@Suite("Signals", .serialized)
struct SignalsTests {
    static let keys = DeliveryFixture.secrets

    func json(_ result: Binary.Result) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.output)")
    }

    func metrics(_ fixture: DeliveryFixture) throws -> [String: Double] {
        try OperationsTests.parsePrometheus(fixture.metricsPath)
    }

    @Test("1: a partner that is down is an error in the log at the default level, counted as failed; retries = attempts − 1")
    func partnerDown() throws {
        let faults: [[String: Any]] = Array(repeating: ["status": 503], count: 3)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: faults), environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3, maxAttempts: 3)
        let run = try fixture.run(["run", "acme", "--log-format", "json"])
        #expect(run.status == 1)
        let lines = run.stderr.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let failure = try #require(lines.first { $0["level"] as? String == "error" }, "\(run.stderr)")
        #expect(failure["partner.id"] as? String == "acme" && failure["delivery.id"] as? String != nil)
        #expect(failure["attempts"] as? Int == 3, "a number, not a string")
        #expect((failure["message"] as? String)?.contains("HTTP 503") == true && (failure["message"] as? String)?.contains("3 attempts") == true)
        #expect(!lines.contains { ($0["message"] as? String)?.contains("will retry") == true && $0["attempt"] as? Int == 3 },
                "the last attempt does not say it will retry")
        let parsed = try metrics(fixture)
        #expect(parsed["partner_export_deliveries_failed_total{acme}"] == 1)
        #expect(parsed["partner_export_retries_total{acme}"] == 2)
        #expect(parsed["partner_export_errors_total{acme}{delivery.exhausted}"] == 1)
        #expect(try fixture.query("SELECT outcome FROM attempts ORDER BY number").map { $0[0] } == ["retry", "retry", "failed"])
    }

    @Test("2: one partner's missing secret fails that partner only; the others run, the run and the metrics are recorded")
    func oneMissingSecret() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3, acme: "schedule: \"0 * * * *\"", globex: true,
                                          globexExtra: "schedule: \"0 * * * *\"")
        for (arguments, now) in [(["run", "--all", "--json"], "2026-11-27T01:30:00Z"), (["run", "--due", "--json"], "2026-11-27T02:30:00Z")] {
            let run = try fixture.run(arguments, extra: ["ACME_TOKEN": "", "PARTNER_EXPORT_NOW": now])
            #expect(run.status == 1, "\(run.output)")
            let partners = try json(run)["partners"] as? [[String: Any]] ?? []
            let acme = partners.first { $0["partner"] as? String == "acme" }
            let globex = partners.first { $0["partner"] as? String == "globex" }
            #expect(acme?["status"] as? String == "error" && (acme?["error"] as? [String: Any])?["code"] as? String == "credentials")
            #expect(globex?["status"] as? String == "delivered", "\(arguments)")
        }
        #expect(try fixture.query("SELECT count(*) FROM runs").first?[0] == "2")
        #expect(try metrics(fixture)["partner_export_errors_total{acme}{credentials}"] == 2)
        #expect(try metrics(fixture)["partner_export_last_run_success{acme}"] == 0)
        // The text report: the outcome first, the partner "not run", and advice that can work (nothing is owed to rerun).
        let text = try fixture.run(["run", "acme", "globex"], extra: ["ACME_TOKEN": "", "COLUMNS": "80"]).stdout
        #expect(text.hasPrefix("NOT EVERYTHING WAS DELIVERED: acme (error)"), "\(text)")
        #expect(text.contains("not run") && text.contains("then 'partner-export run acme'") && !text.contains("rerun --failed"), "\(text)")
        let strict = try fixture.run(["validate", "--strict"], extra: ["ACME_TOKEN": ""])
        #expect(strict.status == 2 && strict.stderr.components(separatedBy: "acme:").count == 2, "named once: \(strict.stderr)")
        #expect(try fixture.run(["validate"], extra: ["ACME_TOKEN": ""]).status == 0, "without --strict it only warns")
    }

    @Test("3: a wrong --db exits 2 with a sentence about the path, never advice to rerun")
    func wrongDatabase() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 1)
        let result = try Binary.run(["run", "acme", "--config", fixture.config.path, "--db", "/nonexistent/customers.sqlite",
                                     "--state", fixture.state], environment: Self.keys)
        #expect(result.status == 2)
        #expect(result.stderr.contains("/nonexistent/customers.sqlite does not exist") && !result.output.contains("rerun"))
    }

    @Test("4: runs show is what happened in that run; the rerun that completed it is listed under it")
    func runsShowHistory() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 400]]), environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3)
        let failed = try json(try fixture.run(["run", "acme", "--json"]))
        let rerun = try json(try fixture.run(["rerun", "--failed", "--json"]))
        let id = try #require(failed["run"] as? String)
        let shown = try json(try fixture.run(["runs", "show", id, "--json"]))
        let partner = try #require((shown["partners"] as? [[String: Any]])?.first)
        #expect(partner["deliveries_rejected"] as? Int == 1 && partner["delivered"] as? Int == 0, "the figures of that run")
        #expect(partner["completed_by"] as? [String] == [rerun["run"] as? String ?? "?"])
        let text = try fixture.run(["runs", "show", id]).stdout
        #expect(text.contains("NOT EVERYTHING WAS DELIVERED") && text.contains("completed later by run \(rerun["run"] as? String ?? "?")"))
    }

    @Test("4b: runs show of a killed run says what each partner ended with in it and which later run completed its feed; its shards are not 'running'",
          arguments: LedgerKind.allCases)
    func runsShowKilled(ledger: LedgerKind) throws {
        let stalls: [[String: Any]] = Array(repeating: ["stall": 0.3, "status": 200], count: 30)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: stalls), environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 40, maxRecords: 5, timeout: 10,
                                          acme: ledger == .postgres ? "  shards: 2" : "", ledger: ledger)
        let process = try fixture.launch(["run", "acme"])
        #expect(fixture.waitUntil("SELECT count(*) >= 2 FROM deliveries WHERE status = 'delivered'"))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let killed = try #require(try fixture.query("SELECT id FROM runs ORDER BY started_at LIMIT 1").first?[0] ?? nil)
        let rerun = try json(try fixture.run(["rerun", "--failed", "--json"]))
        let rerunID = try #require(rerun["run"] as? String)
        let shown = try json(try fixture.run(["runs", "show", killed, "--json"]))
        #expect(shown["status"] as? String == "interrupted", "\(shown)")
        let partner = try #require((shown["partners"] as? [[String: Any]])?.first, "the partner is in the table: \(shown)")
        let feeds = try fixture.query("SELECT id, run_id, rendered, completed_by, superseded_by FROM feeds")
        #expect(partner["partner"] as? String == "acme" && partner["status"] as? String == "interrupted")
        #expect((partner["delivered"] as? Int ?? 0) >= 2 && partner["completed_by"] as? [String] == [rerunID], "\(partner) \(feeds) \(rerun)")
        for item in shown["work"] as? [[String: Any]] ?? [] { #expect(item["status"] as? String != "running", "\(item)") }
        let text = try fixture.run(["runs", "show", killed]).stdout
        #expect(text.contains("INTERRUPTED: the run stopped before it ended; later runs completed its feeds: acme by \(rerunID)")
                && text.contains("completed later") && !text.contains("its feed is incomplete"), "\(text)")
    }

    @Test("5: counts known at the end are reported: a fast failure still reports how many were eligible")
    func eligibleKnown() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 400]]), environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 25, maxRecords: 10)
        let partner = try #require((try json(try fixture.run(["run", "acme", "--json"]))["partners"] as? [[String: Any]])?.first)
        #expect(partner["eligible"] as? Int == 25 && partner["records"] as? Int == 0 && partner["held"] as? Int == 2)
        let broken = try #require((try json(try fixture.run(["run", "acme", "--json"], extra: ["ACME_PSEUDONYM_KEY": "short"]))["partners"]
                                       as? [[String: Any]])?.first)
        #expect(broken["eligible"] is NSNull, "not counted: the partner stopped before selecting")
    }

    @Test("6: --json: numbers are numbers, every path prints JSON, names say what they count (old names kept)")
    func jsonTypes() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 2)
        let report = try json(try fixture.run(["run", "acme", "--json"]))
        let partner = try #require((report["partners"] as? [[String: Any]])?.first)
        #expect(report["duration_seconds"] is Double || report["duration_seconds"] is Int)
        #expect(partner["duration_seconds"] is Double || partner["duration_seconds"] is Int)
        #expect(!(partner["duration_seconds"] is String))
        for key in ["rejected_records", "deliveries_rejected", "rejected", "rejected_deliveries"] { #expect(partner[key] is Int, "\(key)") }
        #expect(partner["gzip"] is Bool)
        let nothing = try fixture.run(["rerun", "--failed", "--json"])
        let nothingJSON = try json(nothing)
        #expect(nothing.status == 0 && nothingJSON["partners"] as? [Any] != nil, "JSON even when there is nothing to do")
        let due = try fixture.run(["run", "--due", "--json"])
        #expect((try json(due))["run"] is NSNull)
        #expect(try JSONSerialization.jsonObject(with: Data(try fixture.run(["deliveries", "--failed", "--json"]).stdout.utf8)) as? [Any] != nil)
    }

    @Test("7: metrics readable by another user where a collector looks, counters that never go down, refreshed by every check")
    func metricsForCollectors() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(globexFaults: [["status": 400]]), environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 4, acme: "schedule: \"0 2 * * *\"", globex: true)
        let collector = TestFiles.temporaryDirectory("textfile").appendingPathComponent("collector/partner_export.prom").path
        chmod(Paths.folder(of: Paths.folder(of: collector)), 0o755)
        let settings = ["PARTNER_EXPORT_METRICS": collector, "PARTNER_EXPORT_METRICS_MODE": "0644"]
        #expect(try fixture.run(["run", "--all"], extra: settings).status == 1)
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        reader.arguments = ["-u", "nobody", "--", "cat", collector]
        let pipe = Pipe()
        reader.standardOutput = pipe
        try reader.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        reader.waitUntilExit()
        #expect(reader.terminationStatus == 0 && text.contains("partner_export_records_sent_total{partner=\"acme\"} 4"),
                "node_exporter's user can read it")
        var parsed = try OperationsTests.parsePrometheus(collector)
        #expect(parsed["partner_export_feed_complete{acme}"] == 1 && parsed["partner_export_feed_complete{globex}"] == 0)
        #expect(parsed["partner_export_open_failures{globex}"] == 1)
        #expect(parsed["partner_export_last_run_records{acme}"] == 4 && parsed["partner_export_last_run_records{globex}"] == 0,
                "records acknowledged, not rendered")
        // Counters survive prune; a check with nothing due refreshes the file; a lock skip is counted.
        #expect(try fixture.run(["prune", "--ledger-older-than", "1", "--payloads-older-than", "0"],
                                extra: settings.merging(["PARTNER_EXPORT_NOW": "2030-01-01T00:00:00Z"]) { $1 }).status == 0)
        parsed = try OperationsTests.parsePrometheus(collector)
        #expect(parsed["partner_export_records_sent_total{acme}"] == 4, "counters never go down")
        unlink(collector)
        #expect(try fixture.run(["run", "--due"], extra: settings.merging(["PARTNER_EXPORT_NOW": "2026-11-27T03:00:00Z"]) { $1 }).status == 0)
        #expect(FileManager.default.fileExists(atPath: collector), "refreshed by a check that ran nobody")
        let lock = try StateLockHolder(folder: fixture.stateFolder)
        #expect(try fixture.run(["run", "acme"], extra: settings).status == 75)
        withExtendedLifetime(lock) {}
        #expect(try OperationsTests.parsePrometheus(collector)["partner_export_lock_skips_total{}"] == 1)
    }

    @Test("8: the shipped cron wrapper keeps reports and logs apart: a report file per run, JSON lines in the log")
    func cronWrapper() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 2, acme: "schedule: \"0 2 * * *\"")
        let logs = TestFiles.temporaryDirectory("logs")
        let environment = fixture.environment.merging([
            "PARTNER_EXPORT_BIN": Binary.url.path, "PARTNER_EXPORT_LOG_DIR": logs.path, "PARTNER_EXPORT_CONFIG": fixture.config.path,
            "PARTNER_EXPORT_DB": fixture.database, "PARTNER_EXPORT_STATE": fixture.state, "PARTNER_EXPORT_LOG_LEVEL": "info",
        ]) { $1 }
        func tick() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["bash", TestFiles.packageRoot.appendingPathComponent("ops/partner-export-cron.sh").path]
            process.environment = environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]) { $1 }
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        try tick()
        try tick()
        // A tick while another run holds the lock: no report file (an empty one said nothing), the log says why.
        let lock = try StateLockHolder(folder: fixture.stateFolder)
        try tick()
        withExtendedLifetime(lock) {}
        let reports = TestFiles.files(under: logs.appendingPathComponent("reports").path)
        #expect(reports.count == 1, "the idle second tick leaves no report: \(reports)")
        let report = try String(contentsOfFile: try #require(reports.first), encoding: .utf8)
        #expect(report.hasPrefix("OK: every partner succeeded") && report.contains("\nRun run_"), "\(report)")
        let log = try String(contentsOfFile: logs.appendingPathComponent("log.jsonl").path, encoding: .utf8)
        #expect(!log.isEmpty && log.split(separator: "\n").allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
        #expect(!log.contains("Run run_") && !log.contains("every partner succeeded"), "no report in the log")
        #expect(log.contains("\"code\":\"lock.held\""), "the skipped tick is in the log: \(log.suffix(300))")
    }

    @Test("9: tables and report lines fit 80 and 120 columns; --wide shows them whole; progress names every partner",
          arguments: [80, 120])
    func tablesFit(_ columns: Int) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 503]]), environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 12, maxRecords: 5, globex: true)
        let run = try fixture.onTerminal(["run", "--all"], columns: columns).stdout
        #expect(run.range(of: "acme: [0-9,]+ records rendered", options: .regularExpression) != nil
                    && run.range(of: "globex: [0-9,]+ records rendered", options: .regularExpression) != nil,
                "a progress line for each partner: \(run)")
        let ansi = try NSRegularExpression(pattern: "\u{1B}\\[[0-9;]*[A-Za-z]")
        for arguments in [["deliveries"], ["runs"], ["disclosures", "3"], ["runs", "show", try #require(
            try fixture.query("SELECT id FROM runs").first?[0] ?? nil)]] {
            let output = try fixture.onTerminal(arguments, columns: columns).stdout
            let plain = ansi.stringByReplacingMatches(in: output, range: NSRange(output.startIndex..., in: output), withTemplate: "")
            let lines = plain.replacingOccurrences(of: "\r", with: "").split(separator: "\n")
            #expect(!lines.isEmpty)
            for line in lines { #expect(line.count <= columns, "\(arguments) at \(columns): \(line.count) columns: \(line)") }
            let wide = try fixture.onTerminal(arguments + ["--wide"], columns: columns).stdout
            if arguments == ["deliveries"] || arguments.first == "disclosures" {
                #expect(wide.replacingOccurrences(of: "\r", with: "").split(separator: "\n").contains { $0.count > columns },
                        "--wide does not cut \(arguments)")
            }
        }
    }

    @Test("10: a changed certificate is shown by subject, SHA-256 fingerprint and public-key pin, never a secret")
    func certificateShown() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: Self.keys, rogue: true)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 1)
        let run = try fixture.run(["run", "acme"])
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "x509", "-in", Sandbox.pki("rogue-server.pem"), "-noout", "-fingerprint", "-sha256"]
        let pipe = Pipe()
        openssl.standardOutput = pipe
        try openssl.run()
        let fingerprint = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .components(separatedBy: "=").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        openssl.waitUntilExit()
        // The pin pinned_public_key would need, computed by openssl: SHA-256 of the DER public key, base64.
        let pinShell = Process()
        pinShell.executableURL = URL(fileURLWithPath: "/bin/sh")
        pinShell.arguments = ["-c", "openssl x509 -in '\(Sandbox.pki("rogue-server.pem"))' -noout -pubkey | openssl pkey -pubin "
                              + "-outform der | openssl dgst -sha256 -binary | base64"]
        let pinPipe = Pipe()
        pinShell.standardOutput = pinPipe
        try pinShell.run()
        let pin = "sha256//" + String(decoding: pinPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        pinShell.waitUntilExit()
        let failed = try fixture.run(["deliveries", "--failed", "--json"]).stdout
        #expect(run.status == 1 && failed.contains(fingerprint) && failed.contains("subject CN = localhost"), "\(failed)")
        #expect(pin.count > 20 && failed.contains("public-key pin \(pin)"), "\(pin) in \(failed)")
        #expect(sandbox.requests().isEmpty, "nothing was sent to it")
    }

    @Test("11: small ones: the variable behind a 401, the wait of a 429, who holds the lock, dry-run warnings, gzip, exact counts")
    func smallOnes() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 401]], globexFaults: [["status": 429, "retry_after": 3600]]),
                                  environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 2, globex: true)
        let run = try fixture.run(["run", "--all", "--json"])
        let partners = try json(run)["partners"] as? [[String: Any]] ?? []
        let acmeNotes = partners.first { $0["partner"] as? String == "acme" }?["notes"] as? [String] ?? []
        let globexNotes = partners.first { $0["partner"] as? String == "globex" }?["notes"] as? [String] ?? []
        #expect(acmeNotes.contains { $0.contains("ACME_TOKEN") }, "\(acmeNotes)")
        #expect(globexNotes.contains { $0.contains("3600 s") }, "\(globexNotes)")
        #expect(partners.first { $0["partner"] as? String == "globex" }?["gzip"] as? Bool == true)
        let holder = try StateLockHolder(folder: fixture.stateFolder)
        let locked = try fixture.run(["run", "acme"])
        withExtendedLifetime(holder) {}
        #expect(locked.status == 75 && locked.stderr.contains("pid \(getpid()) on"), "\(locked.stderr)")
        let dry = try fixture.run(["run", "--all", "--dry-run"], extra: ["GLOBEX_PASSWORD": ""])
        #expect(dry.stderr.contains("GLOBEX_PASSWORD"), "\(dry.output)")
        let out = fixture.folder.appendingPathComponent("feed.json").path
        #expect(try fixture.run(["preview", "acme", "--out", out]).status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("\"record_count\":2,\"records\""), "no padding")
        #expect(try fixture.run(["runs", "--limit", "0"]).status == 2)
    }

    @Test("12: the demo picks free ports (8443 may be taken) and the sandbox never overwrites what it recorded")
    func demoPorts() throws {
        let squatter = try ConnectionCounter()
        _ = squatter
        let folder = TestFiles.temporaryDirectory("sandbox-restart")
        for round in 0..<2 {
            let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: Self.keys, folder: folder)
            let fixture = try DeliveryFixture(sandbox: sandbox, customers: 1)
            #expect(try fixture.run(["run", "acme"]).status == 0)
            let requests = sandbox.requests()
            #expect(requests.count == round + 1 && Set(requests.map(\.seq)).count == round + 1, "numbering carries on")
            #expect(Set(requests.compactMap(\.bodyFile)).count == round + 1, "no body overwritten")
            sandbox.stop()
        }
        // The demo itself, with a small database, while something else listens where a fixed port would be.
        let demo = TestFiles.temporaryDirectory("demo")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bash", TestFiles.packageRoot.appendingPathComponent("sandbox/demo.sh").path]
        process.currentDirectoryURL = TestFiles.packageRoot
        process.environment = ProcessInfo.processInfo.environment.merging(Self.keys.merging([
            "DEMO": demo.appendingPathComponent("d").path, "DEMO_CUSTOMERS": "40", "BIN": Binary.url.path,
            "GLOBEX_PSEUDONYM_KEY": "demo-pseudonym-key-for-globex", "ACME_PSEUDONYM_KEY": "demo-pseudonym-key-for-acme",
            "INITECH_PSEUDONYM_KEY": "demo-pseudonym-key-for-initech", "INITECH_CLIENT_SECRET": "demo-initech-client-secret",
        ]) { $1 }) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output.suffix(2000))")
        #expect(output.contains("every partner succeeded"))
    }
}

/// Holds the lock of a state folder the way a running `run` does (for the tests that need it held).
final class StateLockHolder {
    private let fd: Int32

    init(folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        fd = open((folder as NSString).appendingPathComponent("partner-export.lock"), O_CREAT | O_RDWR, 0o600)
        let line = Array("pid \(getpid()) on \(ProcessInfo.processInfo.hostName) since 2026-11-27T02:00:00Z\n".utf8)
        _ = ftruncate(fd, 0)
        _ = line.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { throw SandboxError(description: "the lock is held") }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
