import Foundation
import TestSupport
import Testing

/// Operating it unattended: scheduled runs, progress, logs, reports, metrics, retention.
@Suite("Operations", .serialized)
struct OperationsTests {
    @Test("preview --out onto a character device says so instead of claiming mode 0600; onto a file it is 0600")
    func previewOntoDevice() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3)
        let device = try fixture.run(["preview", "acme", "--out", "/dev/null"])
        #expect(device.status == 0 && !device.stdout.contains("mode 0600") && device.stdout.contains("a device or pipe, not a file"),
                "\(device.output)")
        let file = fixture.folder.appendingPathComponent("feed.json").path
        let written = try fixture.run(["preview", "acme", "--out", file])
        #expect(written.stdout.contains("(mode 0600; it holds customer data)") && TestFiles.mode(of: file) == 0o600, "\(written.output)")
    }

    @Test("one crontab line calling run --due drives two partners on different schedules (injected clock)")
    func dueRuns() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3, acme: "schedule: \"0 2 * * *\"", globex: true,
                                          globexExtra: "schedule: \"0 */6 * * *\"")
        let start = try #require(Clock.parse("2026-11-27T00:00:00Z"))
        var ticks: [String] = []
        // A crontab line "*/30 * * * * partner-export run --due", for 30.5 hours.
        for tick in 0...61 {
            let now = Clock.format(start.addingTimeInterval(Double(tick) * 1800))
            let result = try fixture.run(["run", "--due"], extra: ["PARTNER_EXPORT_NOW": now])
            #expect(result.status == 0, "\(now): \(result.output)")
            if !result.stdout.contains("No partner is due") { ticks.append(now) }
        }
        let runs = try fixture.query("SELECT p.partner, r.started_at, r.trigger FROM run_partners AS p JOIN runs AS r ON r.id = p.run_id "
                                     + "ORDER BY p.partner, r.started_at")
        let acme = runs.filter { $0[0] == "acme" }.map { String(($0[1] ?? "").prefix(16)) }
        let globex = runs.filter { $0[0] == "globex" }.map { String(($0[1] ?? "").prefix(16)) }
        // A partner that never ran is due at once; then at each fire time.
        #expect(acme == ["2026-11-27T00:00", "2026-11-27T02:00", "2026-11-28T02:00"])
        #expect(globex == ["2026-11-27T00:00", "2026-11-27T06:00", "2026-11-27T12:00", "2026-11-27T18:00", "2026-11-28T00:00",
                           "2026-11-28T06:00"])
        #expect(runs.allSatisfy { $0[2] == "scheduled" })
        #expect(ticks.count == 8, "\(ticks)")  // 00:00 ran both partners at once
        #expect(sandbox.requests().count == (3 + 6), "one batch per partner run")
    }

    @Test("the production binary has no clock to move: PARTNER_EXPORT_NOW is ignored")
    func productionClock() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 2)
        let result = try Binary.run(["run", "acme"] + fixture.options,
                                    environment: fixture.environment.merging(["PARTNER_EXPORT_NOW": "2020-01-01T00:00:00Z"]) { $1 },
                                    executable: Binary.url)
        #expect(result.status == 0, "\(result.output)")
        let started = try #require(try fixture.query("SELECT started_at FROM runs").first?[0] ?? nil)
        let today = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
        #expect(started.hasPrefix(today), "the run is dated by the real clock, not the variable: \(started)")
    }

    @Test("run --due --dry-run renders only the partners that are due")
    func dueDryRun() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3, acme: "schedule: \"0 2 * * *\"", globex: true,
                                          globexExtra: "schedule: \"0 */6 * * *\"")
        #expect(try fixture.run(["run", "--due"], extra: ["PARTNER_EXPORT_NOW": "2026-11-27T00:00:00Z"]).status == 0)
        let dry = try fixture.run(["run", "--due", "--dry-run", "--json"], extra: ["PARTNER_EXPORT_NOW": "2026-11-27T03:00:00Z"])
        #expect(dry.status == 0, "\(dry.output)")
        let document = try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any]
        #expect((document?["partners"] as? [[String: Any]])?.compactMap { $0["partner"] as? String } == ["acme"],
                "acme fired at 02:00, globex's next fire is 06:00")
        #expect(try fixture.query("SELECT count(*) FROM runs").first?[0] == "1", "a dry run records nothing")
    }

    @Test("progress appears on a terminal and not in a pipe")
    func progressOnlyOnTerminal() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 503]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 25, maxRecords: 10)
        let piped = try fixture.run(["run", "acme"])
        #expect(piped.status == 0)
        #expect(!piped.output.contains("records rendered"), "no progress in a pipe")
        #expect(!piped.output.contains("\u{1B}["))

        // Under script(1) the command has a pseudo-terminal, as an operator's shell would.
        let terminal = try fixture.onTerminal(["run", "acme"])
        let output = terminal.stdout
        #expect(terminal.status == 0, "\(output)")
        #expect(output.contains("acme: ") && output.contains(" records rendered"), "\(output)")
        #expect(output.contains("batches delivered"))
        #expect(output.contains("\u{1B}[2K"), "the progress line is redrawn in place")
        #expect(output.contains("Run run_"))
    }

    @Test("JSON-line logs carry ids and never a customer value")
    func jsonLogs() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 500]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 4)
        let result = try fixture.run(["run", "acme", "--log-format", "json", "--log-level", "debug"])
        #expect(result.status == 0)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count >= 3)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(object["level"] != nil && object["message"] != nil && object["run.id"] != nil && object["partner.id"] as? String == "acme")
            #expect(!line.contains("@example.com") && !line.contains("Anna") && !line.contains("Smith"))
        }
        #expect(lines.contains { $0.contains("\"delivery.id\"") && $0.contains("will retry") })
    }

    @Test("the run report carries the minimisation proof; runs and runs show give it again")
    func runReports() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 12, maxRecords: 5)
        let run = try fixture.run(["run", "acme"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("acme: minimisation proof"))
        let proof = run.stdout.split(separator: "\n").first { $0.contains("email_sha256") }
        #expect(proof?.split(separator: " ") == ["email_sha256", "email", "sha256", "12", "sha256"], "\(run.stdout)")
        let list = try JSONSerialization.jsonObject(with: Data(try fixture.run(["runs", "--json"]).stdout.utf8)) as? [[String: Any]]
        let id = try #require(list?.first?["run"] as? String)
        let shown = try fixture.run(["runs", "show", id, "--json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        let partner = try #require((report["partners"] as? [[String: Any]])?.first)
        #expect(partner["records"] as? Int == 12)
        #expect(partner["delivered"] as? Int == 3)
        #expect(partner["status"] as? String == "delivered")
        let fields = try #require(partner["fields"] as? [[String: Any]])
        #expect(fields.map { $0["name"] as? String } == ["ref", "email_sha256", "firstName", "country"])
        #expect(fields.map { $0["form"] as? String } == ["pseudonym", "sha256", "clear", "clear"])
        #expect(fields.allSatisfy { $0["values"] as? Int == 12 })
        #expect(fields.map { $0["allowed_forms"] as? [String] } == [["pseudonym"], ["sha256"], ["clear"], ["clear"]])
        // The text form of `runs show` is the report printed at the end of the run.
        #expect(try fixture.run(["runs", "show", id]).stdout == run.stdout)
    }

    @Test("the metrics file parses as Prometheus text format and says when each partner last succeeded")
    func metrics() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(globexFaults: [["status": 400]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 7, globex: true)
        #expect(try fixture.run(["run", "--all"], extra: ["PARTNER_EXPORT_NOW": "2026-11-27T02:00:00Z"]).status == 1)
        let path = fixture.metricsPath
        #expect(TestFiles.mode(of: path) == 0o600)
        let parsed = try Self.parsePrometheus(path)
        #expect(parsed["partner_export_last_success_timestamp_seconds{acme}"] == 1_795_744_800)
        #expect(parsed["partner_export_last_success_timestamp_seconds{globex}"] == 0)
        #expect(parsed["partner_export_last_run_success{globex}"] == 0)
        #expect(parsed["partner_export_records_sent_total{acme}"] == 7)
        #expect(parsed["partner_export_deliveries_rejected_total{globex}"] == 1)
        #expect(parsed["partner_export_open_failures{globex}"] == 1)
        #expect((parsed["partner_export_bytes_sent_total{acme}"] ?? 0) > 0)
    }

    /// Parses with the Prometheus project's own Python client parser (strict about the format) and
    /// returns "name{partner}" → value; also checks every family has HELP and TYPE.
    static func parsePrometheus(_ path: String) throws -> [String: Double] {
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            text = open(sys.argv[1]).read()
            out = {}
            for family in text_string_to_metric_families(text):
                assert family.documentation, family.name
                assert family.type in ("gauge", "counter"), family.type
                for sample in family.samples:
                    labels = ",".join(sample.labels[k] for k in sorted(sample.labels) if k != "partner")
                    key = sample.name + "{" + sample.labels.get("partner", "") + "}" + (("{" + labels + "}") if labels else "")
                    out[key] = sample.value
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw SandboxError(description: "the metrics file did not parse") }
        return try JSONSerialization.jsonObject(with: data) as? [String: Double] ?? [:]
    }

    @Test("prune removes payloads past retention, keeps what failed deliveries need, and keeps the disclosures")
    func prune() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(globexFaults: [["status": 400]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 6, globex: true)
        let day0 = ["PARTNER_EXPORT_NOW": "2026-11-27T02:00:00Z"]
        #expect(try fixture.run(["run", "--all"], extra: day0).status == 1)
        let stateFolder = fixture.stateFolder
        let payloads = TestFiles.files(under: (stateFolder as NSString).appendingPathComponent("payloads"))
        #expect(payloads.count == 2, "acme's JSON and globex's XML (a gzip body is made in memory, never stored)")
        // Stray files are judged by their real age: one left by a crash (no delivery refers to it), 40 days old,
        // and one written a moment ago, which a ledger clock 40 days ahead must not make look old.
        let strayOld = (stateFolder as NSString).appendingPathComponent("payloads/acme/dlv_lost_old.json")
        let strayNew = (stateFolder as NSString).appendingPathComponent("payloads/acme/dlv_lost_new.json")
        FileManager.default.createFile(atPath: strayOld, contents: Data("{}".utf8), attributes: [.posixPermissions: 0o600])
        FileManager.default.createFile(atPath: strayNew, contents: Data("{}".utf8), attributes: [.posixPermissions: 0o600])
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-40 * 86_400)], ofItemAtPath: strayOld)
        let later = ["PARTNER_EXPORT_NOW": "2027-01-06T02:00:00Z"]
        // While a run holds the lock (the dry run deletes nothing, so it does not wait for it).
        do {
            let held = try StateLockHolder(folder: stateFolder)
            let dry = try fixture.run(["prune", "--dry-run"], extra: later)
            #expect(dry.stdout.contains("Would delete 1 delivery payload(s), 1 stray file(s)"), "\(dry.stdout)")
            #expect(try fixture.run(["prune"], extra: later).status == 75, "a real prune waits for no run: it is refused")
            withExtendedLifetime(held) {}
        }
        #expect(TestFiles.files(under: (stateFolder as NSString).appendingPathComponent("payloads")).count == 4)

        let pruned = try fixture.run(["prune"], extra: later)
        #expect(pruned.status == 0, "\(pruned.output)")
        #expect(pruned.stdout.contains("Deleted 1 delivery payload(s), 1 stray file(s)"), "\(pruned.stdout)")
        #expect(pruned.stdout.contains("Kept 1 payload(s) that owed deliveries still need"))
        let left = TestFiles.files(under: (stateFolder as NSString).appendingPathComponent("payloads")).sorted()
        #expect(left.count == 2 && left.contains(strayNew) && left.contains { $0.contains("/globex/") }, "\(left)")
        #expect(try fixture.query("SELECT count(*) FROM disclosures").first?[0] == "6", "the accounting stays")
        #expect(try fixture.query("SELECT count(*) FROM deliveries WHERE payload_pruned_at IS NOT NULL").first?[0] == "1")
        let disclosures = try JSONSerialization.jsonObject(with: Data(try fixture.run(["disclosures", "2", "--json"]).stdout.utf8)) as? [Any]
        #expect(disclosures?.count == 1)

        #expect(try fixture.run(["prune", "--include-failed"], extra: later).status == 0)
        #expect(TestFiles.files(under: (stateFolder as NSString).appendingPathComponent("payloads")) == [strayNew])
        // Past the ledger's retention, the settled accounting goes too; what is still owed stays.
        let sevenYears = ["PARTNER_EXPORT_NOW": "2033-12-01T00:00:00Z"]
        let ledger = try fixture.run(["prune"], extra: sevenYears)
        #expect(ledger.stdout.contains("removed 1 deliveries, 6 disclosure rows and 0 runs"), "\(ledger.stdout)")
        #expect(try fixture.query("SELECT count(*) FROM disclosures").first?[0] == "0")
        #expect(try fixture.query("SELECT status FROM deliveries").map { $0[0] } == ["rejected"])
    }
}

/// RFC 3339 in tests.
enum Clock {
    static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
