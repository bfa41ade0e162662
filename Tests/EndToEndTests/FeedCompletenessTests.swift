import Foundation
import TestSupport
import Testing

/// A feed is complete or it is not (docs/design.md, "Feeds"): after any failure, `rerun --failed`
/// completes the partner's feed, and afterwards the partner holds every record that is eligible now,
/// each acknowledged once. Each scenario checks what the partner holds, from the bodies it received.
@Suite("Feed completeness", .serialized)
struct FeedCompletenessTests {
    static let path = "/feeds/acme"

    /// Today's eligible customers of the fixture (everyone, less those withdrawn), as the partner knows them.
    static func eligibleRefs(_ ids: ClosedRange<Int64>, except withdrawn: Set<Int64> = []) -> Set<String> {
        Set(ids.filter { !withdrawn.contains($0) }.map(DeliveryFixture.acmeRef))
    }

    /// What every scenario ends with: nothing owed, the feed reported complete by the report, `runs`
    /// and the metrics, and the partner holding exactly today's eligible records, each acknowledged once.
    func expectComplete(_ fixture: DeliveryFixture, _ sandbox: Sandbox, rerun: Binary.Result, eligible: Set<String>,
                        wholeFeedAgain: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(rerun.status == 0, "\(rerun.output)", sourceLocation: sourceLocation)
        let failed = try fixture.run(["deliveries", "--failed", "--json"])
        #expect(failed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(failed.stdout)", sourceLocation: sourceLocation)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any],
                                  sourceLocation: sourceLocation)
        let partner = try #require((report["partners"] as? [[String: Any]])?.first, sourceLocation: sourceLocation)
        #expect((partner["feed"] as? [String: Any])?["complete"] as? Bool == true, "\(partner)", sourceLocation: sourceLocation)
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(try fixture.run(["runs", "--json"]).stdout.utf8))
                                    as? [[String: Any]], sourceLocation: sourceLocation)
        let latest = (runs.first?["results"] as? [[String: Any]])?.first
        #expect(latest?["feed_complete"] as? Bool == true, sourceLocation: sourceLocation)
        let metrics = try String(contentsOfFile: fixture.metricsPath, encoding: .utf8)
        #expect(metrics.contains("partner_export_feed_complete{partner=\"acme\"} 1"), sourceLocation: sourceLocation)
        #expect(metrics.contains("partner_export_open_failures{partner=\"acme\"} 0"), sourceLocation: sourceLocation)

        let holdings = sandbox.holdings(path: Self.path)
        #expect(Set(holdings.records(by: "ref").keys) == eligible, "the partner holds every record eligible now, and no other",
                sourceLocation: sourceLocation)
        let twice = holdings.deliveries(by: "ref").filter { $0.value.count > (wholeFeedAgain ? 2 : 1) }
        #expect(twice.isEmpty, "a record acknowledged under more ids than it should: \(twice.count)", sourceLocation: sourceLocation)
        // The ledger agrees with the partner: every acknowledged key is delivered, nothing else is.
        let delivered = Set(try fixture.query("SELECT id FROM deliveries WHERE status = 'delivered'").compactMap { $0[0] })
        #expect(delivered == Set(holdings.feeds.map(\.key)), sourceLocation: sourceLocation)
    }

    @Test("400 on batch 1 of 3: the later batches are held, listed and owed; the rerun sends all three under their ids, same bytes", arguments: LedgerKind.allCases)
    func rejectedFirstBatch(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 400]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 25, maxRecords: 10, ledger: ledger)
        let first = try fixture.run(["run", "acme"])
        #expect(first.status == 1)
        #expect(first.stdout.contains("INCOMPLETE"), "\(first.stdout)")
        let rows = try fixture.query("SELECT id, batch, status, sha256 FROM deliveries ORDER BY batch")
        #expect(rows.map { $0[2] } == ["rejected", "held", "held"], "nothing after the failure is superseded")
        let failed = try JSONSerialization.jsonObject(with: Data(try fixture.run(["deliveries", "--failed", "--json"]).stdout.utf8))
            as? [[String: Any]]
        #expect(Set(failed?.compactMap { $0["status"] as? String } ?? []) == ["rejected", "held"] && failed?.count == 3)
        // The cause is fixed (the sandbox refuses only once); the operator completes the feed.
        let before = sandbox.requests().count
        let rerun = try fixture.run(["rerun", "--failed", "--json"])
        try expectComplete(fixture, sandbox, rerun: rerun, eligible: Self.eligibleRefs(1...25))
        let resent = Array(sandbox.requests().dropFirst(before))
        #expect(resent.count == 3 && resent.allSatisfy(\.acknowledged))
        #expect(resent.compactMap(\.idempotencyKey) == rows.compactMap { $0[0] }, "under their own ids, in batch order")
        #expect(resent.map(\.bodySHA256) == rows.compactMap { $0[3] }, "the very bytes recorded")
    }

    @Test("503 until the attempts run out on batch 2 of 4: the rerun sends 2, 3 and 4 under their own ids", arguments: LedgerKind.allCases)
    func exhaustedSecondBatch(ledger: LedgerKind) throws {
        let faults: [[String: Any]] = [[:], ["status": 503], ["status": 503], ["status": 503]]
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: faults), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 40, maxRecords: 10, maxAttempts: 3, ledger: ledger)
        let first = try fixture.run(["run", "acme", "--json"])
        #expect(first.status == 1)
        let rows = try fixture.query("SELECT id, status, sha256 FROM deliveries ORDER BY batch")
        #expect(rows.map { $0[1] } == ["delivered", "failed", "held", "held"])
        let rerun = try fixture.run(["rerun", "--failed", "--json"])
        try expectComplete(fixture, sandbox, rerun: rerun, eligible: Self.eligibleRefs(1...40))
        let after = try fixture.query("SELECT id, status, sha256 FROM deliveries ORDER BY batch")
        #expect(after.map { $0[0] } == rows.map { $0[0] } && after.allSatisfy { $0[1] == "delivered" }, "the same ids, all delivered")
        #expect(after.map { $0[2] } == rows.map { $0[2] }, "identical records as identical bytes")
        let actions = try #require(((try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any])?["partners"]
                                        as? [[String: Any]])?.first?["actions"] as? [[String: Any]])
        #expect(actions.compactMap { $0["action"] as? String } == ["resent-same-id", "resent-same-id", "resent-same-id"])
    }

    /// A render that stopped part way after its batches were all acknowledged (a shard whose source
    /// failed, a process killed between two batches) owes no delivery, yet its feed is incomplete: the
    /// listing says so and `rerun --failed` renders what comes after the last batch.
    @Test("a feed whose render stopped part way with nothing owed: deliveries --failed says so, rerun --failed completes it",
          arguments: LedgerKind.allCases)
    func stoppedWithNothingOwed(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 5, ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        // The ledger as such a stop leaves it: every batch recorded acknowledged, the render not at its end.
        let stop = "UPDATE feeds SET rendered = 0, completed_at = NULL, completed_by = NULL"
        if ledger == .postgres { _ = try fixture.query(stop) } else { try fixture.ledgerForWriting().execute(stop) }
        // Customers after the last batch, which the stopped render never reached.
        let db = try fixture.customers()
        for id in 31...33 {
            try db.execute("INSERT INTO customers SELECT \(id), first_name, last_name, 'later\(id)@example.com', phone, street, city, "
                           + "region, postal_code, country, card_number, card_expiry, account_status, services, created_at, updated_at "
                           + "FROM customers WHERE id = 1")
            try db.execute("INSERT INTO consents SELECT \(id), scope, granted_at, withdrawn_at, source FROM consents WHERE customer_id = 1")
        }
        let listing = try fixture.run(["deliveries", "--failed"])
        #expect(listing.stdout.contains("the feed of acme is incomplete") && listing.stdout.contains("rerun --failed"), "\(listing.stdout)")
        let rerun = try fixture.run(["rerun", "--failed", "--json"])
        try expectComplete(fixture, sandbox, rerun: rerun, eligible: Self.eligibleRefs(1...33))
    }

    @Test("an untrusted CA on the first run, fixed before the rerun")
    func untrustedThenFixed() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 15, maxRecords: 10, acmeCA: "other-ca.pem")
        let first = try fixture.run(["run", "acme"])
        #expect(first.status == 1 && first.stdout.contains("curl 60"), "\(first.stdout)")
        #expect(sandbox.requests().isEmpty, "nothing reached a server the CA does not vouch for")
        #expect(try fixture.query("SELECT status FROM deliveries ORDER BY batch").map { $0[0] } == ["failed", "held"])
        try fixture.edit(fixture.acmeContract, replacing: Sandbox.pki("other-ca.pem"), with: Sandbox.pki("ca.pem"))
        try expectComplete(fixture, sandbox, rerun: try fixture.run(["rerun", "--failed", "--json"]), eligible: Self.eligibleRefs(1...15))
    }

    @Test("kill -9 during a batch: the rerun resends the one in doubt under its id and completes the rest", arguments: LedgerKind.allCases)
    func killedMidFeed(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [[:], [:], ["stall": 30]]),
                                  environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 60, maxRecords: 10, timeout: 60, ledger: ledger)
        let process = try fixture.launch(["run", "acme"])
        // The third batch's attempt is recorded (synced) before its request leaves; the partner stalls on it.
        #expect(fixture.waitUntil("SELECT count(*) FROM attempts AS a JOIN deliveries AS d ON d.seq = a.delivery "
                                  + "WHERE d.batch = 3 AND a.outcome IS NULL"))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let failed = try fixture.run(["deliveries", "--failed"])
        #expect(failed.status == 0 && failed.stdout.contains("left pending by run"), "what the killed run left is owed: \(failed.output)")
        let owed = try JSONSerialization.jsonObject(with: Data(try fixture.run(["deliveries", "--failed", "--json"]).stdout.utf8))
            as? [[String: Any]] ?? []
        #expect(owed.contains { $0["batch"] as? Int == 3 && $0["status"] as? String == "pending" }, "\(owed)")
        let metricsPath = fixture.metricsPath
        #expect(try OperationsTests.parsePrometheus(metricsPath)["partner_export_run_in_progress{}"] == 1,
                "the dead run's file still says a run is in progress")
        let rerun = try fixture.run(["rerun", "--failed", "--json"])
        try expectComplete(fixture, sandbox, rerun: rerun, eligible: Self.eligibleRefs(1...60))
        #expect(try OperationsTests.parsePrometheus(metricsPath)["partner_export_run_in_progress{}"] == 0)
        #expect(try fixture.run(["deliveries", "--failed"]).stdout.contains("every feed is complete"))
        let third = try fixture.query("SELECT id, in_doubt, attempts FROM deliveries WHERE batch = 3 AND status = 'delivered'")
        #expect(third.count == 1 && third.first?[2] == "2", "the batch in doubt went out again under its own id")
        #expect(try fixture.query("SELECT status FROM runs ORDER BY started_at").map { $0[0] } == ["interrupted", "succeeded"])
    }

    @Test("a customer withdraws between the failure and the rerun: not sent, not disclosed; the other batches keep their ids", arguments: LedgerKind.allCases)
    func withdrawalBeforeRerun(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 400]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 25, maxRecords: 10, ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 1)
        let before = try fixture.query("SELECT id FROM deliveries ORDER BY batch").compactMap { $0[0] }
        try fixture.withdraw(5)
        let rerun = try fixture.run(["rerun", "--failed", "--json"])
        try expectComplete(fixture, sandbox, rerun: rerun, eligible: Self.eligibleRefs(1...25, except: [5]))
        let delivered = try fixture.query("SELECT id, batch, supersedes FROM deliveries WHERE status = 'delivered' ORDER BY batch")
        #expect(delivered.map { $0[1] } == ["1", "2", "3"], "batch 1 keeps its number")
        #expect(delivered[0][2] == before[0] && delivered[0][0] != before[0], "batch 1 changed: a new delivery replaces it")
        #expect(delivered.dropFirst().map { $0[0] } == Array(before.dropFirst()), "batches 2 and 3 went out under their own ids")
        #expect(try fixture.run(["disclosures", "5", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        #expect(!sandbox.holdings(path: Self.path).feeds.contains { $0.records.contains { $0["ref"] as? String == DeliveryFixture.acmeRef(5) } })
    }

    @Test("two failed runs, then one rerun: what is owed is one thing, each record sent once", arguments: LedgerKind.allCases)
    func twoFailedRuns(ledger: LedgerKind) throws {
        let faults: [[String: Any]] = [["status": 503], ["status": 503], ["status": 503], ["status": 503]]
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: faults), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 20, maxRecords: 10, maxAttempts: 2, ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 1)
        #expect(try fixture.run(["run", "acme"]).status == 1)
        let owed = try fixture.query("SELECT id FROM deliveries WHERE status IN ('failed', 'held')").compactMap { $0[0] }
        #expect(owed.count == 2, "the second run's feed replaced what the first one owed")
        let before = sandbox.requests().count
        let rerun = try fixture.run(["rerun", "--failed", "--json"])
        try expectComplete(fixture, sandbox, rerun: rerun, eligible: Self.eligibleRefs(1...20))
        let sent = sandbox.requests().dropFirst(before)
        #expect(Set(sent.compactMap(\.idempotencyKey)) == Set(owed), "the rerun sent what was owed, under those ids only")
        let report = try #require(((try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any])?["partners"]
                                       as? [[String: Any]])?.first)
        #expect((report["actions"] as? [[String: Any]])?.compactMap { $0["delivery"] as? String }.sorted() == owed.sorted(),
                "the report names every delivery the rerun sent")
    }

    @Test("a 422, a mapping fix, a rerun: the whole feed again in the new shape, batches numbered from 1", arguments: LedgerKind.allCases)
    func mappingFixedAfterRejection(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [[:], [:], ["status": 422]]),
                                  environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 45, maxRecords: 5, ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 1)
        #expect(try fixture.query("SELECT status FROM deliveries ORDER BY batch").map { $0[0] }
                == ["delivered", "delivered", "rejected"] + Array(repeating: "held", count: 6))
        try fixture.edit(fixture.acmeMapping, replacing: "{name: firstName, from: first_name}", with: "{name: givenName, from: first_name}")
        let rerun = try fixture.run(["rerun", "--failed", "--json"])
        try expectComplete(fixture, sandbox, rerun: rerun, eligible: Self.eligibleRefs(1...45), wholeFeedAgain: true)
        let holdings = sandbox.holdings(path: Self.path)
        let rerunID = try #require((try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any])?["run"] as? String)
        let newFeed = holdings.feeds.filter { $0.run == rerunID }
        #expect(newFeed.map(\.batch) == Array(1...9), "the whole feed, batches 1 to 9")
        #expect(newFeed.allSatisfy { $0.records.allSatisfy { $0["givenName"] != nil && $0["firstName"] == nil } })
        #expect(holdings.records(by: "ref").values.allSatisfy { $0["givenName"] != nil }, "no record left in the old shape")
        let feed = ((try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any])?["partners"] as? [[String: Any]])?
            .first?["feed"] as? [String: Any]
        #expect(feed?["new"] as? Bool == true && (feed?["reason"] as? String)?.contains("mapping") == true)
    }
}

/// Reruns and listings report everything: no merge that drops figures, no table that stops silently.
@Suite("Reports and listings", .serialized)
struct ReportsAndListingsTests {
    @Test("a rerun of several owed deliveries of one partner reports every rejected record and every delivery it touched")
    func rerunReportsEverything() throws {
        let faults: [[String: Any]] = [[:], ["status": 503], ["status": 503]]
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: faults), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 10, maxAttempts: 2)
        try fixture.edit(fixture.acmeContract, replacing: "  country: [clear]\n", with: "  country: [clear]\n  services: [clear]\n")
        try fixture.edit(fixture.acmeMapping, replacing: "  - {name: country, from: country}",
                         with: "  - {name: country, from: country}\n  - {name: services, from: services}")
        let db = try fixture.customers()
        try db.execute("UPDATE customers SET services = 'not json' WHERE id IN (12, 15, 25)")
        let first = try fixture.run(["run", "acme", "--json"])
        #expect(first.status == 1, "\(first.output)")
        #expect(try fixture.query("SELECT status FROM deliveries ORDER BY batch").map { $0[0] } == ["delivered", "failed", "held"])
        let rerun = try fixture.run(["rerun", "--failed", "--json"])
        #expect(rerun.status == 0, "\(rerun.output)")
        let partner = try #require(((try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any])?["partners"]
                                        as? [[String: Any]])?.first)
        #expect(partner["rejected_records"] as? Int == 3, "every rejected record of every batch rendered again: \(partner)")
        #expect(partner["rejected_by_reason"] as? [String: Int] == ["malformed_list": 3])
        let actions = (partner["actions"] as? [[String: Any]]) ?? []
        #expect(actions.count == 2 && actions.allSatisfy { $0["action"] as? String == "resent-same-id" }, "\(actions)")
        #expect(partner["delivered"] as? Int == 2 && partner["records"] as? Int == 17)
        let text = try fixture.run(["runs", "show", try #require(
            (try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any])?["run"] as? String)])
        #expect(text.stdout.components(separatedBy: "same records: resent as").count == 3, "\(text.stdout)")
        #expect(text.stdout.contains("3 record(s) left out: 3 malformed_list"))
    }

    @Test("over 200 deliveries: the table says how many it left out and how to see them; --json returns every one")
    func longListings() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 230, maxRecords: 1)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        let table = try fixture.run(["deliveries"])
        let rows = table.stdout.split(separator: "\n").filter { $0.hasPrefix("dlv_") }
        #expect(rows.count == 200)
        #expect(table.stdout.contains("… 30 more deliveries not shown (230 in all); deliveries --limit 230 shows them"), "\(table.stdout.suffix(300))")
        let all = try JSONSerialization.jsonObject(with: Data(try fixture.run(["deliveries", "--json"]).stdout.utf8)) as? [Any]
        #expect(all?.count == 230, "--json lists every row unless --limit is given")
        let limited = try JSONSerialization.jsonObject(with: Data(try fixture.run(["deliveries", "--json", "--limit", "7"]).stdout.utf8))
            as? [Any]
        #expect(limited?.count == 7)
        #expect(try fixture.run(["deliveries", "--limit", "0"]).status == 2, "--limit 0 is refused")
        #expect(try fixture.run(["rerun", "--failed"]).status == 0)
        #expect(try fixture.query("SELECT count(*) FROM runs").first?[0] == "1", "a rerun with nothing owed records no run")
    }

    @Test("over 50 runs: the runs table says how many it left out; --json returns every one")
    func longRunListing() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 1)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        // 54 more runs, as the ledger records them (a real run each would only make the test slow).
        try fixture.ledgerForWriting().execute("""
            WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 54)
            INSERT INTO runs (id, started_at, finished_at, trigger, status, partners)
            SELECT printf('run_20250101T%06dZ_aaaaaa', k), printf('2025-01-01T00:%02d:%02d.000Z', k / 60, k % 60), NULL, 'manual',
                   'succeeded', '["acme"]' FROM n
            """)
        let runs = try fixture.run(["runs"])
        #expect(runs.stdout.split(separator: "\n").filter { $0.hasPrefix("run_") }.count == 50)
        #expect(runs.stdout.contains("… 5 more runs not shown (55 in all)"), "\(runs.stdout.suffix(200))")
        #expect((try JSONSerialization.jsonObject(with: Data(try fixture.run(["runs", "--json"]).stdout.utf8)) as? [Any])?.count == 55)
    }
}
