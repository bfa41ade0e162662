import Foundation
import TestSupport
import Testing

/// Pause and resume, a pace the partner sets, and a long `Retry-After` remembered (DESIGN §11), with the
/// real binary against the sandbox over TLS, on both ledgers.
@Suite("Operating partners: pause, pace, Retry-After", .serialized)
struct OperatingPartnersTests {
    static func json(_ result: Binary.Result) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.output)")
    }

    static func part(_ report: [String: Any], _ partner: String) -> [String: Any]? {
        (report["partners"] as? [[String: Any]])?.first { $0["partner"] as? String == partner }
    }

    @Test("a paused partner is skipped by run --all and refused by rerun, its owed deliveries stay listed, the metric says so; resume and rerun complete it",
          arguments: LedgerKind.allCases)
    func pauseAndResume(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 200], ["status": 503], ["status": 503]]),
                                  environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 20, maxRecords: 5, maxAttempts: 2, globex: true, ledger: ledger)
        // The first run leaves acme owed: its second batch failed, the rest held.
        #expect(try fixture.run(["run", "--all"]).status == 1)
        let owedBefore = try fixture.query("SELECT count(*) FROM deliveries WHERE partner = 'acme' AND status IN ('failed', 'held')")
        #expect(owedBefore.first?[0] == "3", "\(owedBefore)")

        let paused = try fixture.run(["pause", "acme", "--reason", "their API is being migrated", "--by", "alice"])
        #expect(paused.status == 0, "\(paused.output)")
        #expect(paused.stdout.contains("paused since") && paused.stdout.contains("by alice: their API is being migrated")
                && paused.stdout.contains("3 deliveries"), "\(paused.stdout)")
        let requestsBefore = sandbox.requests().filter { $0.path == "/feeds/acme" }.count

        let run = try fixture.run(["run", "--all", "--json"])
        #expect(run.status == 0, "a paused partner is not a failure of the run: \(run.output)")
        let report = try Self.json(run)
        #expect(Self.part(report, "acme")?["status"] as? String == "paused")
        let message = (Self.part(report, "acme")?["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains("by alice: their API is being migrated") && message.contains("partner-export resume acme"), "\(message)")
        #expect(Self.part(report, "globex")?["status"] as? String == "delivered", "the others run")
        let text = try fixture.run(["rerun", "--failed"])
        #expect(text.status == 0, "\(text.output)")
        #expect(text.stdout.contains("not run: acme (paused)") && text.stdout.contains("acme: PAUSED [partner.paused]"), "\(text.stdout)")
        #expect(sandbox.requests().filter { $0.path == "/feeds/acme" }.count == requestsBefore, "nothing was sent to a paused partner")

        let owed = try fixture.run(["deliveries", "--failed", "--json"])
        let rows = try JSONSerialization.jsonObject(with: Data(owed.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows.filter { $0["partner"] as? String == "acme" }.count == 3, "what it is owed stays owed: \(owed.stdout)")
        let runs = try fixture.run(["runs"])
        #expect(runs.stdout.contains("PAUSED: acme paused since") && runs.stdout.contains("by alice"), "\(runs.stdout)")
        let metrics = try String(contentsOfFile: fixture.metricsPath, encoding: .utf8)
        #expect(metrics.contains("partner_export_partner_paused{partner=\"acme\"} 1")
                && metrics.contains("partner_export_partner_paused{partner=\"globex\"} 0"), "\(metrics)")

        let resumed = try fixture.run(["resume", "acme", "--by", "bob"])
        #expect(resumed.status == 0 && resumed.stdout.contains("acme resumed by bob"), "\(resumed.output)")
        let rerun = try fixture.run(["rerun", "--failed", "--partner", "acme"])
        #expect(rerun.status == 0, "\(rerun.output)")
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == Set((1...20).map { DeliveryFixture.acmeRef(Int64($0)) }), "the partner holds the whole feed")
        let events = try fixture.query("SELECT action, actor FROM partner_events WHERE partner = 'acme' ORDER BY at, action")
        #expect(events.map { [$0[0] ?? "", $0[1] ?? ""] } == [["paused", "alice"], ["resumed", "bob"]], "\(events)")
        let after = try String(contentsOfFile: fixture.metricsPath, encoding: .utf8)
        #expect(after.contains("partner_export_partner_paused{partner=\"acme\"} 0"))
    }

    @Test("a pause during a run shared by two workers on PostgreSQL stops both before their next batch; in-flight batches settle; resume and rerun complete the feed")
    func pauseDuringSharedRun() throws {
        // Every answer takes a while, so that the workers are mid-feed when the pause comes.
        let stalls: [[String: Any]] = Array(repeating: ["stall": 1.0, "status": 200], count: 30)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: stalls), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 60, maxRecords: 5, timeout: 20, acme: "  shards: 2",
                                          ledger: .postgres)
        let options = ["--parallel", "1", "--lease-seconds", "30"]
        let first = try fixture.start(["run", "acme", "--json"] + options, extra: ["PARTNER_EXPORT_WORKER_NAME": "w1"])
        #expect(fixture.waitUntil("SELECT count(*) FROM run_items WHERE status = 'running'", seconds: 60))
        let second = try fixture.start(["run", "--join", "--json"] + options, extra: ["PARTNER_EXPORT_WORKER_NAME": "w2"])
        // Both workers have a batch on the wire (an attempt recorded, no answer yet).
        #expect(fixture.waitUntil("SELECT count(*) >= 2 FROM attempts WHERE outcome IS NULL", seconds: 60), "two batches in flight")
        let inFlight = try fixture.query("SELECT count(*) FROM attempts").first?[0].flatMap { Int($0) } ?? 0
        #expect(try fixture.run(["pause", "acme", "--reason", "contract under review"]).status == 0)
        let results = [first.wait(), second.wait()]
        for result in results { #expect(result.status == 0, "a pause is not a failure: \(result.output)") }

        let attempts = try fixture.query("SELECT count(*) FROM attempts").first?[0].flatMap { Int($0) } ?? 0
        // Each worker may have checked just before the pause committed: at most one more batch each.
        #expect(attempts <= inFlight + 2, "no new batch after the pause but what was already on its way: \(inFlight) → \(attempts)")
        #expect(try fixture.query("SELECT count(*) FROM attempts WHERE outcome IS NULL").first?[0] == "0", "in-flight ones settled")
        let held = try fixture.query("SELECT count(*) FROM deliveries WHERE status = 'held' AND last_error_code = 'partner.paused'")
        #expect((Int(held.first?[0] ?? "0") ?? 0) > 0, "the batches after the pause are held: \(held)")
        #expect(sandbox.requests().filter { $0.path == "/feeds/acme" }.count == attempts, "the partner saw only the attempts on record")
        let report = try Self.json(results[0])
        #expect(Self.part(report, "acme")?["status"] as? String == "paused", "\(report)")

        #expect(try fixture.run(["resume", "acme"]).status == 0)
        let rerun = try fixture.run(["rerun", "--failed"])
        #expect(rerun.status == 0, "\(rerun.output)")
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == Set((1...60).map { DeliveryFixture.acmeRef(Int64($0)) }), "\(view.records.count) records")
    }

    @Test("rate_limit: three workers × --parallel 2 never put more than requests_per_minute requests in any 60-second window")
    func sharedPace() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 40, maxRecords: 5, timeout: 20,
                                          acme: "  shards: 3\n  rate_limit: {requests_per_minute: 6}", ledger: .postgres)
        let options = ["--parallel", "2", "--lease-seconds", "30"]
        let first = try fixture.start(["run", "acme", "--json"] + options, extra: ["PARTNER_EXPORT_WORKER_NAME": "w1"])
        #expect(fixture.waitUntil("SELECT count(*) FROM run_items WHERE status = 'running'", seconds: 60))
        let others = try ["w2", "w3"].map {
            try fixture.start(["run", "--join", "--json"] + options, extra: ["PARTNER_EXPORT_WORKER_NAME": $0])
        }
        for result in [first.wait()] + others.map({ $0.wait() }) { #expect(result.status == 0, "\(result.output)") }
        let requests = sandbox.requests().filter { $0.path == "/feeds/acme" }
        let times = requests.map(\.time).sorted()
        // Three shards of 14, 13 and 13 customers, five a batch: nine batches.
        #expect(times.count == 9 && Set(requests.compactMap(\.idempotencyKey)).count == 9, "each batch sent once: \(times.count)")
        for (i, start) in times.enumerated() {
            let inWindow = times[i...].prefix { $0 < start + 60 }.count
            #expect(inWindow <= 6, "\(inWindow) requests in the 60 s from request \(i + 1)")
        }
        #expect((times.last ?? 0) - (times.first ?? 0) >= 60, "the seventh waited for the window")
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(view.records.count == 40)
    }

    @Test("a Retry-After beyond the cap is remembered: the next run skips the partner with the sentence, the run after that time sends what is owed",
          arguments: LedgerKind.allCases)
    func longRetryAfter(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 429, "retry_after": 3600]]),
                                  environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 12, maxRecords: 5, ledger: ledger)
        let first = try fixture.run(["run", "acme"])
        #expect(first.status == 1)
        #expect(first.stdout.contains("asked us to wait until"), "\(first.stdout)")
        let until = try #require(try fixture.query("SELECT wait_until FROM partner_controls WHERE partner = 'acme'").first?[0] ?? nil)
        let untilDate = try #require(ISO8601DateFormatter().date(from: until))
        #expect(abs(untilDate.timeIntervalSinceNow - 3600) < 120, "\(until)")
        let sent = sandbox.requests().count

        let second = try fixture.run(["run", "acme", "--json"])
        #expect(second.status == 0, "\(second.output)")
        let part = try #require(Self.part(try Self.json(second), "acme"))
        #expect(part["status"] as? String == "waiting")
        let message = (part["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains("the partner asked us to wait until \(until)"), "\(message)")
        #expect(sandbox.requests().count == sent, "nothing sent while the partner asked us to wait")
        let metrics = try String(contentsOfFile: fixture.metricsPath, encoding: .utf8)
        #expect(metrics.contains("partner_export_partner_wait_until_timestamp_seconds{partner=\"acme\"} \(Int(untilDate.timeIntervalSince1970))"),
                "\(metrics)")

        let later = ISO8601DateFormatter().string(from: untilDate.addingTimeInterval(60))
        let third = try fixture.run(["run", "acme"], extra: ["PARTNER_EXPORT_NOW": later])
        #expect(third.status == 0, "\(third.output)")
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == Set((1...12).map { DeliveryFixture.acmeRef(Int64($0)) }))
        #expect(try fixture.run(["deliveries", "--failed", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }
}
