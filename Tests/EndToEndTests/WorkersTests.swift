import Foundation
import TestSupport
import Testing

/// Several processes sharing one run through a PostgreSQL ledger (the real binary, the throw-away
/// cluster, real TLS to the partner sandbox): what the partner holds at the end is every eligible
/// customer, whoever sent it and whoever died on the way.
@Suite("Several workers on one run", .serialized)
struct WorkersTests {
    /// Three processes on one run of three shards; one is killed with SIGKILL while it holds a shard
    /// with a batch on the wire. The server closes the dead process's sessions, so its shard is free
    /// at once (a stalled holder keeps it until its lease runs out: ``stalledWorker()``); a survivor
    /// takes it over, resends the batch in doubt under its id, and completes the feed.
    @Test("three workers, one killed with SIGKILL mid-run: the survivors take its shard over and finish; the partner and the ledger agree")
    func survivorsFinish() throws {
        // Every answer takes a while, so that the run is still going when one worker is killed.
        let stalls: [[String: Any]] = Array(repeating: ["stall": 0.4, "status": 200], count: 40)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: stalls), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 90, maxRecords: 5, timeout: 10, acme: "  shards: 3",
                                          ledger: .postgres)
        let lease = ["--lease-seconds", "3", "--parallel", "1"]
        func named(_ name: String) -> [String: String] { ["PARTNER_EXPORT_WORKER_NAME": name] }
        #expect(try fixture.run(["audit", "init", "--name", "test.example"]).status == 0)

        let first = try fixture.start(["run", "acme", "--json"] + lease, extra: named("w1"))
        #expect(fixture.waitUntil("SELECT count(*) FROM run_items WHERE status = 'running'"), "the first worker claimed a shard")
        let second = try fixture.start(["run", "--join", "--json"] + lease, extra: named("w2"))
        let third = try fixture.start(["run", "--join", "--json"] + lease, extra: named("w3"))
        // w2 holds a shard, has delivered a batch of it and has the next on the wire (an attempt recorded, no
        // answer yet): killed then.
        #expect(fixture.waitUntil("""
            SELECT count(*) FROM attempts AS a JOIN deliveries AS d ON d.seq = a.delivery
            WHERE d.batch % 3 = (SELECT shard % 3 FROM run_items WHERE holder = 'w2 #1' AND status = 'running')
              AND d.status = 'pending' AND a.outcome IS NULL
              AND (SELECT count(*) FROM deliveries WHERE status = 'delivered'
                   AND batch % 3 = (SELECT shard % 3 FROM run_items WHERE holder = 'w2 #1')) >= 1
            """, seconds: 30), "w2 delivered a batch of its shard and sent the next")
        kill(second.process.processIdentifier, SIGKILL)
        second.process.waitUntilExit()
        // The batch it had on the wire: it may have reached the partner (in doubt).
        let onTheWire = try fixture.query("""
            SELECT d.id FROM attempts AS a JOIN deliveries AS d ON d.seq = a.delivery WHERE d.status = 'pending' AND a.outcome IS NULL
              AND d.batch % 3 = (SELECT shard % 3 FROM run_items WHERE holder = 'w2 #1')
            """).compactMap { $0[0] }
        #expect(onTheWire.count == 1, "\(onTheWire)")

        let results = [first.wait(), third.wait()]
        for result in results { #expect(result.status == 0, "\(result.output)") }
        // Both survivors print the whole run's report: the same run, every customer sent.
        let reports = results.compactMap { try? JSONSerialization.jsonObject(with: Data($0.stdout.utf8)) as? [String: Any] }
        #expect(reports.count == 2)
        #expect(Set(reports.compactMap { $0["run"] as? String }).count == 1, "one run, reported by both")
        #expect(try fixture.query("SELECT count(*) FROM runs").first?[0] == "1", "one run in runs")
        #expect(try fixture.query("SELECT status FROM runs").first?[0] == "succeeded")

        // The shard w2 held was taken over, and runs show says by whom.
        let items = try fixture.query("SELECT shard, status, holder, takeovers, earlier_holders FROM run_items ORDER BY shard")
        #expect(items.count == 3 && items.allSatisfy { $0[1] == "done" }, "\(items)")
        let taken = items.filter { $0[3] != "0" }
        #expect(taken.count == 1 && taken.first?[4] == "[\"w2 #1\"]" && taken.first?[2] != "w2 #1", "\(items)")
        let show = try fixture.run(["runs", "show", reports.first?["run"] as? String ?? "", "--json"])
        let work = (try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])?["work"] as? [[String: Any]] ?? []
        #expect(work.count == 3 && work.contains { ($0["earlier_workers"] as? [String]) == ["w2 #1"] }, "\(show.output)")
        let text = try fixture.run(["runs", "show", reports.first?["run"] as? String ?? ""])
        #expect(text.stdout.contains("Shared between workers") && text.stdout.contains("w2 #1"), "\(text.stdout)")

        // The partner holds every eligible customer; the ledger and the partner agree on every delivery.
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == Set((1...90).map { DeliveryFixture.acmeRef(Int64($0)) }))
        let requests = sandbox.requests()
        let received = Set(requests.compactMap(\.idempotencyKey))
        let acknowledged = Set(requests.filter(\.acknowledged).compactMap(\.idempotencyKey))
        let ledger = Dictionary(uniqueKeysWithValues: try fixture.query("SELECT id, status FROM deliveries").map { ($0[0] ?? "", $0[1] ?? "") })
        let delivered = Set(ledger.filter { $0.value == "delivered" }.keys)
        #expect(delivered == acknowledged, "nothing called delivered that the partner did not acknowledge, nothing acknowledged lost")
        #expect(received.isSubset(of: Set(ledger.keys)), "nothing the partner received that the ledger does not account for")
        // Nothing owed; what the killed worker rendered but never tried was superseded and rendered again.
        #expect(try fixture.query("SELECT count(*) FROM deliveries WHERE status NOT IN ('delivered', 'superseded')").first?[0] == "0")
        #expect(try fixture.query("SELECT count(*) FROM deliveries WHERE status = 'superseded' AND attempts > 0").first?[0] == "0")
        let disclosed = try fixture.query("SELECT count(DISTINCT customer_id) FROM disclosures WHERE kind = 'disclosure'").first?[0]
        #expect(disclosed == "90", "every customer's disclosure recorded")
        #expect(try fixture.query("SELECT count(*) FROM feeds WHERE completed_at IS NOT NULL AND shards = 3").first?[0] == "1")
        // Each batch the killed worker rendered and never tried: said so in the report, rendered again.
        let superseded = Set(try fixture.query("SELECT id FROM deliveries WHERE status = 'superseded'").compactMap { $0[0] })
        let actions = ((reports.first?["partners"] as? [[String: Any]])?.first?["actions"] as? [[String: Any]]) ?? []
        let againIDs = Set(actions.filter { $0["action"] as? String == "rendered-again-after-takeover" }.compactMap { $0["delivery"] as? String })
        #expect(againIDs == superseded, "\(againIDs) vs \(superseded)")
        // The report counts the whole run, what the killed worker delivered before it died included.
        for report in reports {
            let acme = (report["partners"] as? [[String: Any]])?.first ?? [:]
            #expect(acme["eligible"] as? Int == 90 && acme["records"] as? Int == 90 && acme["delivered"] as? Int == delivered.count,
                    "\(acme)")
            #expect(((acme["fields"] as? [[String: Any]]) ?? []).allSatisfy { $0["values"] as? Int == 90 }, "\(acme)")
        }
        // The batch w2 had on the wire went out again under its own id (its idempotency key): delivered once in the ledger.
        if let id = onTheWire.first {
            #expect(ledger[id] == "delivered")
            #expect(try fixture.query("SELECT count(*) FROM attempts AS a JOIN deliveries AS d ON d.seq = a.delivery WHERE d.id = '\(id)'")
                .first?[0].flatMap { Int($0) } ?? 0 >= 2, "w2's attempt and the taker's resend")
            #expect(requests.contains { $0.idempotencyKey == id && $0.acknowledged })
        }
        // The log the survivors wrote (the taker's resend included) is intact against every checkpoint they signed.
        let verified = try fixture.run(["audit", "verify"])
        #expect(verified.status == 0 && verified.stdout.contains("OK: the log is intact against every checkpoint"), "\(verified.output)")
        #expect(TestFiles.files(under: fixture.stateFolder + "/checkpoints").count >= 1, "the survivors signed")
        print("workers: \(requests.count) requests, \(requests.filter(\.duplicate).count) duplicate (resent under the same id "
              + "after the takeover), \(ledger.count) deliveries")
    }

    /// A worker that stalls (SIGSTOP: its process and its connections stay, its heartbeat stops) keeps
    /// its shard only until its lease runs out; then the other worker takes it over. Resumed, the
    /// stalled worker finds its lease gone and stops before sending more: nothing is recorded twice.
    @Test("a stalled worker loses its shard when its lease runs out; resumed, it sends nothing more and nothing is recorded twice")
    func stalledWorker() throws {
        let stalls: [[String: Any]] = Array(repeating: ["stall": 0.3, "status": 200], count: 30)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: stalls), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 60, maxRecords: 5, timeout: 10, acme: "  shards: 2",
                                          ledger: .postgres)
        let lease = ["--lease-seconds", "3", "--parallel", "1"]
        let first = try fixture.start(["run", "acme", "--json"] + lease, extra: ["PARTNER_EXPORT_WORKER_NAME": "w1"])
        #expect(fixture.waitUntil("SELECT count(*) FROM run_items WHERE status = 'running'"))
        let second = try fixture.start(["run", "--join", "--json"] + lease, extra: ["PARTNER_EXPORT_WORKER_NAME": "w2"])
        #expect(fixture.waitUntil("""
            SELECT count(*) FROM attempts AS a JOIN deliveries AS d ON d.seq = a.delivery
            WHERE d.batch % 2 = (SELECT shard % 2 FROM run_items WHERE holder = 'w2 #1' AND status = 'running')
            """, seconds: 30), "w2 sent a batch of its shard")
        kill(second.process.processIdentifier, SIGSTOP)
        let stopped = Date()
        let done = first.wait()
        #expect(done.status == 0, "\(done.output)")
        #expect(Date().timeIntervalSince(stopped) >= 3, "the shard was taken over only once w2's lease ran out")
        let items = try fixture.query("SELECT holder, takeovers, earlier_holders, status FROM run_items ORDER BY shard")
        #expect(items.allSatisfy { $0[0] == "w1 #1" && $0[3] == "done" }, "\(items)")
        #expect(items.contains { $0[2] == "[\"w2 #1\"]" && $0[1] == "1" }, "\(items)")
        let before = sandbox.requests().count

        kill(second.process.processIdentifier, SIGCONT)
        let resumed = second.wait()
        #expect(resumed.stderr.contains("w2 #1 lost its lease"), "\(resumed.output)")
        // At most the request it had on the wire when it stalled; nothing new.
        #expect(sandbox.requests().count <= before + 1)
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == Set((1...60).map { DeliveryFixture.acmeRef(Int64($0)) }))
        let requests = sandbox.requests()
        let acknowledged = Set(requests.filter(\.acknowledged).compactMap(\.idempotencyKey))
        let delivered = Set(try fixture.query("SELECT id FROM deliveries WHERE status = 'delivered'").compactMap { $0[0] })
        #expect(delivered == acknowledged)
        #expect(Set(requests.compactMap(\.idempotencyKey)).isSubset(of: Set(try fixture.query("SELECT id FROM deliveries").compactMap { $0[0] })))
        // Each delivered batch's disclosures once: as many as the records the ledger calls delivered.
        let disclosed = try fixture.query("SELECT count(*) FROM disclosures WHERE kind = 'disclosure'").first?[0]
        let recorded = try fixture.query("SELECT sum(record_count) FROM deliveries WHERE status = 'delivered'").first?[0]
        #expect(disclosed == recorded && disclosed == "60", "\(String(describing: disclosed)) \(String(describing: recorded))")
        #expect(try fixture.query("SELECT count(*) FROM runs").first?[0] == "1")
    }

    @Test("a sharded run by one process renders each shard side by side: the partner holds every customer once; notices come from each shard")
    func shardedRun() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 40, maxRecords: 6, acme: "  shards: 4", ledger: .postgres)
        let first = try fixture.run(["run", "acme", "--json"])
        #expect(first.status == 0, "\(first.output)")
        var view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == Set((1...40).map { DeliveryFixture.acmeRef(Int64($0)) }))
        #expect(view.recordsReceived == 40, "each customer sent once")
        let batches = try fixture.query("SELECT batch FROM deliveries ORDER BY batch").compactMap { $0[0].flatMap { Int($0) } }
        #expect(Set(batches).count == batches.count, "no batch number taken twice: \(batches)")
        #expect(try fixture.query("SELECT count(*) FROM run_items WHERE status = 'done'").first?[0] == "4")
        // The partner's report is the sum of its four shards'.
        let report = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any]
        let acme = (report?["partners"] as? [[String: Any]])?.first ?? [:]
        #expect(acme["eligible"] as? Int == 40 && acme["records"] as? Int == 40 && acme["delivered"] as? Int == batches.count,
                "\(acme)")
        #expect(acme["status"] as? String == "delivered" && (acme["feed"] as? [String: Any])?["complete"] as? Bool == true, "\(acme)")
        let fields = acme["fields"] as? [[String: Any]] ?? []
        #expect(fields.count == 4 && fields.allSatisfy { $0["values"] as? Int == 40 }, "\(fields)")
        #expect((report?["work"] as? [[String: Any]])?.count == 4)

        // Customers of the first and the last shard withdraw: both shards' workers send their notices.
        try fixture.withdraw(3)
        try fixture.withdraw(38)
        let second = try fixture.run(["run", "acme"])
        #expect(second.status == 0, "\(second.output)")
        view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.notices.map(\.key)) == [DeliveryFixture.acmeRef(3), DeliveryFixture.acmeRef(38)])
        #expect(view.records.count == 38)
        #expect(try fixture.run(["deliveries", "--failed", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    @Test("a shard's batch the partner refuses leaves the feed incomplete; rerun --failed completes it")
    func rerunAfterShardedRun() throws {
        // The third request is refused (every try: 422 is not retried).
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 200], ["status": 200], ["status": 422]]),
                                  environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 4, acme: "  shards: 3", ledger: .postgres)
        let first = try fixture.run(["run", "acme", "--parallel", "1"])
        #expect(first.status == 1, "\(first.output)")
        #expect(first.stdout.contains("INCOMPLETE"), "\(first.stdout)")
        let rerun = try fixture.run(["rerun", "--failed"])
        #expect(rerun.status == 0, "\(rerun.output)")
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == Set((1...30).map { DeliveryFixture.acmeRef(Int64($0)) }))
        #expect(try fixture.query("SELECT count(*) FROM feeds WHERE completed_at IS NOT NULL").first?[0] == "1")
    }

    /// A worker configured without a partner never takes that partner's shards (it says so and leaves
    /// them to the workers that know it); a run of every partner while one partner's run is in
    /// progress runs the others and says which it left out.
    @Test("a worker leaves the shards of a partner it does not know; a busy partner is left out of a new run, the others run")
    func leftToOthers() throws {
        let stalls: [[String: Any]] = Array(repeating: ["stall": 0.3, "status": 200], count: 12)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: stalls), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 40, maxRecords: 5, timeout: 10, acme: "  shards: 2",
                                          globex: true, ledger: .postgres)
        let first = try fixture.start(["run", "acme", "--parallel", "1"], extra: ["PARTNER_EXPORT_WORKER_NAME": "w1"])
        #expect(fixture.waitUntil("SELECT count(*) FROM attempts"))
        // A worker whose configuration lacks acme (only globex): it takes nothing and says why.
        let other = TestFiles.temporaryDirectory("config-globex")
        try FileManager.default.createDirectory(at: other.appendingPathComponent("partners"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: other.appendingPathComponent("mappings"), withIntermediateDirectories: true)
        for file in ["partners/globex.yaml", "mappings/globex.yaml"] {
            try FileManager.default.copyItem(at: fixture.config.appendingPathComponent(file), to: other.appendingPathComponent(file))
        }
        var options = fixture.options
        options[options.firstIndex(of: "--config")! + 1] = other.path
        let joined = try Binary.run(["run", "--join"] + options, environment: fixture.environment.merging(["PARTNER_EXPORT_WORKER_NAME": "w9"]) { $1 })
        #expect(joined.stderr.contains("not configured for"), "\(joined.output)")
        #expect(try fixture.query("SELECT count(*) FROM run_items WHERE holder LIKE 'w9%'").first?[0] == "0")
        // Every partner, while acme's run is in progress: globex runs, acme is left out with a warning.
        let all = try fixture.run(["run", "--all", "--json"])
        #expect(all.status == 0, "\(all.output)")
        #expect(all.stderr.contains("holds the lock of acme"), "\(all.stderr)")
        let partners = ((try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [String: Any])?["partners"] as? [[String: Any]]) ?? []
        #expect(partners.map { $0["partner"] as? String } == ["globex"], "\(partners)")
        let done = first.wait()
        #expect(done.status == 0, "\(done.output)")
        #expect(try fixture.query("SELECT count(DISTINCT holder) FROM run_items WHERE partner = 'acme'").first?[0] == "1", "w1 did both")
        #expect(try sandbox.view(path: "/feeds/acme", key: "ref").records.count == 40)
    }

    @Test("a run whose only worker was killed: the next run starts at once, marks it interrupted, and the partner gets everything")
    func onlyWorkerKilled() throws {
        let stalls: [[String: Any]] = Array(repeating: ["stall": 0.3, "status": 200], count: 10)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: stalls), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 5, timeout: 10, acme: "  shards: 2",
                                          ledger: .postgres)
        let first = try fixture.start(["run", "acme", "--parallel", "1"])
        #expect(fixture.waitUntil("SELECT count(*) FROM attempts"))
        let running = try fixture.query("SELECT id FROM runs").first?[0] ?? ""
        let progress = try fixture.run(["runs", "show", running])
        #expect(progress.stdout.hasPrefix("IN PROGRESS"), "\(progress.output)")
        kill(first.process.processIdentifier, SIGKILL)
        _ = first.wait()
        let next = try fixture.run(["run", "acme"])
        #expect(next.status == 0, "\(next.output)")
        #expect(try fixture.query("SELECT status FROM runs WHERE id = '\(running)'").first?[0] == "interrupted")
        let old = try fixture.run(["runs", "show", running])
        #expect(old.stdout.hasPrefix("INTERRUPTED") && old.status == 0, "\(old.output)")
        #expect(try sandbox.view(path: "/feeds/acme", key: "ref").records.count == 30)
        #expect(try fixture.run(["deliveries", "--failed", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    /// What an earlier run left in doubt goes out again before any shard of the next run sends its
    /// new records: a stale record must never arrive after a fresh one of the same customer.
    @Test("the next run's first shard resends what the killed run left in doubt before any shard sends anything new")
    func recoveryBeforeShards() throws {
        let stalls: [[String: Any]] = [["stall": 2, "status": 200]]
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: stalls), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 40, maxRecords: 5, timeout: 10, acme: "  shards: 2",
                                          ledger: .postgres)
        let first = try fixture.start(["run", "acme", "--parallel", "1"])
        #expect(fixture.waitUntil("SELECT count(*) FROM attempts WHERE outcome IS NULL"), "a batch on the wire")
        let inDoubt = try fixture.query("SELECT d.id FROM attempts AS a JOIN deliveries AS d ON d.seq = a.delivery "
                                        + "WHERE a.outcome IS NULL").compactMap { $0[0] }
        kill(first.process.processIdentifier, SIGKILL)
        _ = first.wait()
        let next = try fixture.run(["run", "acme", "--parallel", "2"])
        #expect(next.status == 0, "\(next.output)")
        let requests = sandbox.requests().sorted { $0.seq < $1.seq }
        let newRun = Set(try fixture.query("SELECT id FROM deliveries WHERE run_id = (SELECT id FROM runs ORDER BY rowid DESC LIMIT 1)")
            .compactMap { $0[0] })
        let firstNew = requests.firstIndex { newRun.contains($0.idempotencyKey ?? "") }
        let resent = requests.lastIndex { $0.idempotencyKey == inDoubt.first }
        #expect(inDoubt.count == 1 && firstNew != nil && resent != nil && resent! < firstNew!,
                "the resend (request \(resent.map(String.init) ?? "-")) before the new run's first (\(firstNew.map(String.init) ?? "-"))")
        #expect(try sandbox.view(path: "/feeds/acme", key: "ref").records.count == 40)
    }

    @Test("run --join with nothing in progress does nothing and says so; with a SQLite ledger it is refused")
    func joinNothing() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let postgres = try DeliveryFixture(sandbox: sandbox, customers: 5, ledger: .postgres)
        let idle = try postgres.run(["run", "--join"])
        #expect(idle.status == 0 && idle.stdout.contains("No shared run is in progress"), "\(idle.output)")
        let sqlite = try DeliveryFixture(sandbox: sandbox, customers: 5)
        let refused = try sqlite.run(["run", "--join"])
        #expect(refused.status == 2 && refused.stderr.contains("needs a PostgreSQL ledger"), "\(refused.output)")
        #expect(sandbox.requests().isEmpty)
    }

    @Test("--allow-deletions belongs to the run: a worker that joins with another choice is refused, one with the same helps; the run's choice is recorded")
    func joinWithAnotherFlag() throws {
        let stalls: [[String: Any]] = Array(repeating: ["stall": 0.4, "status": 200], count: 12)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: stalls), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 40, maxRecords: 5, timeout: 10, acme: "  shards: 4",
                                          ledger: .postgres)
        let first = try fixture.start(["run", "acme", "--parallel", "1"])
        #expect(fixture.waitUntil("SELECT count(*) FROM attempts"))
        #expect(try fixture.query("SELECT allow_deletions FROM runs").first?[0] == "0")
        let refused = try fixture.run(["run", "--join", "--allow-deletions"])
        #expect(refused.status == 2 && refused.stderr.contains("was started without --allow-deletions")
                && refused.stderr.contains("every worker of a run applies the run's choice"), "\(refused.output)")
        let helper = try fixture.run(["run", "--join", "--parallel", "1"])
        #expect(helper.status == 0, "\(helper.output)")
        #expect(first.wait().status == 0)
        #expect(try fixture.query("SELECT count(DISTINCT holder) FROM run_items").first?[0].flatMap { Int($0) } ?? 0 >= 1)
    }
}
