import DemoData
import ExportCore
import Foundation
import SQLite
import TestSupport
import Testing

/// Change feeds, deletion notices and the deletion guard (docs/design.md, "Change feeds and deletion
/// notices"), with the real binary over real TLS. What each partner holds is worked out from the
/// bodies the sandbox kept — records by key, less the customers notices told it to forget — never
/// from the ledger.
@Suite("Change feeds and deletion notices", .serialized)
struct ChangeFeedTests {
    static let reasons = ["consent_withdrawn": 5, "no_longer_shared": 3, "erased": 2]

    /// Three partners over real TLS: `acme` (JSON, changes), `globex` (XML over mTLS, gzip, changes)
    /// and `initech` (JSON, snapshot), every one limited to active accounts.
    func threePartners(customers: Int, ledger: LedgerKind = .sqlite) throws -> (Sandbox, DeliveryFixture) {
        var routes = DeliveryFixture.routes()
        routes["/feeds/initech"] = ["bearer_token_env": "ACME_TOKEN"]
        let sandbox = try Sandbox(routes: routes, environment: DeliveryFixture.secrets)
        let filters = "filters: {account_status: [active]}"
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: customers, maxRecords: 50, acme: "mode: changes\n" + filters,
                                          globex: true, globexExtra: "mode: changes\n" + filters, ledger: ledger)
        try TestFiles.write("""
            id: initech
            name: Initech Leads
            purpose: Leads for products that may interest the customer
            consent: [partner-offers]
            allow:
              id: [pseudonym]
              first_name: [clear]
            \(filters)
            format: json
            delivery:
              url: \(sandbox.url("/feeds/initech"))
              auth: {bearer_token_env: ACME_TOKEN}
              pseudonym_key_env: ACME_PSEUDONYM_KEY
              ca_file: \(Sandbox.pki("ca.pem"))
              batch: {max_records: 50}
              max_attempts: 2
            """, to: fixture.config.appendingPathComponent("partners/initech.yaml"))
        try TestFiles.write("""
            partner: initech
            fields:
              - {name: ref, from: id, form: pseudonym}
              - {name: firstName, from: first_name}
            """, to: fixture.config.appendingPathComponent("mappings/initech.yaml"))
        return (sandbox, fixture)
    }

    /// The partners, where they live in the sandbox and the key they know customers by.
    static let partners: [(id: String, path: String, key: String)] = [
        ("acme", "/feeds/acme", "ref"), ("globex", "/feeds/globex", "memberRef"), ("initech", "/feeds/initech", "ref"),
    ]

    func sql(_ fixture: DeliveryFixture, _ statement: String) throws {
        try fixture.customers().execute(statement)
    }

    @Test("changes and snapshot partners: 10 changed, 5 withdrawn, 3 closed, 2 erased, 4 new; exactly 14 records and 10 notices, then nothing", arguments: LedgerKind.allCases)
    func changesAndNotices(ledger: LedgerKind) throws {
        let (sandbox, fixture) = try threePartners(customers: 200, ledger: ledger)
        let first = try fixture.run(["run", "--all"])
        #expect(first.status == 0, "\(first.output)")
        var views: [String: PartnerView] = [:]
        for partner in Self.partners {
            let view = try sandbox.view(path: partner.path, key: partner.key)
            #expect(view.records.count == 200 && view.notices.isEmpty, "\(partner.id) holds everyone after the first run")
            views[partner.id] = view
        }
        let firstSeq = sandbox.requests().map(\.seq).max() ?? 0

        // 10 changed (customers 1…10 get the first name P1…P10, which every partner receives), 5 withdrawn
        // (both scopes), 3 closed (the filter), 2 erased, 4 new.
        try sql(fixture, "UPDATE customers SET first_name = 'P' || id WHERE id <= 10")
        try sql(fixture, "UPDATE consents SET withdrawn_at = '2026-11-28T00:00:00Z' WHERE customer_id BETWEEN 11 AND 15")
        try sql(fixture, "UPDATE customers SET account_status = 'closed' WHERE id BETWEEN 16 AND 18")
        try sql(fixture, "DELETE FROM consents WHERE customer_id IN (19, 20); DELETE FROM customers WHERE id IN (19, 20)")
        let db = try fixture.customers()
        for id in 201...204 {
            try db.execute("INSERT INTO customers SELECT \(id), 'New', last_name, 'new\(id)@example.com', phone, street, city, region, "
                           + "postal_code, country, card_number, card_expiry, 'active', services, created_at, updated_at "
                           + "FROM customers WHERE id = 1")
            try db.execute("INSERT INTO consents VALUES (\(id), 'partner-offers', '2026-11-28T00:00:00Z', NULL, 'web'), "
                           + "(\(id), 'partner-programs', '2026-11-28T00:00:00Z', NULL, 'web')")
        }

        // The preview counts what the run will do, by reason.
        let preview = try JSONSerialization.jsonObject(with: Data(try fixture.run(["preview", "acme", "--json"]).stdout.utf8))
            as? [String: Any] ?? [:]
        #expect(preview["new"] as? Int == 4 && preview["changed"] as? Int == 10 && preview["unchanged"] as? Int == 180, "\(preview)")
        #expect(preview["notices_due"] as? [String: Int] == Self.reasons)

        // A dry run writes what the run will send: the changed records and a batch of notices after them.
        let dry = try JSONSerialization.jsonObject(with: Data(try fixture.run(["run", "acme", "--dry-run", "--json"]).stdout.utf8))
            as? [String: Any] ?? [:]
        let dryAcme = (dry["partners"] as? [[String: Any]])?.first ?? [:]
        #expect(dryAcme["records"] as? Int == 14 && dryAcme["notices"] as? Int == 10, "\(dryAcme)")
        #expect(dryAcme["notices_by_reason"] as? [String: Int] == Self.reasons)
        let dryFolder = try #require(dryAcme["folder"] as? String)
        let dryFiles = try FileManager.default.contentsOfDirectory(atPath: dryFolder).sorted()
        let lastFeed = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dryFolder + "/" + (dryFiles.last ?? ""))))
            as? [String: Any] ?? [:]
        #expect(lastFeed["record_count"] as? Int == 0 && lastFeed["deletion_count"] as? Int == 10 && lastFeed["mode"] as? String == "changes")
        #expect(sandbox.requests().map(\.seq).max() ?? 0 == firstSeq, "a dry run sends nothing")

        let second = try fixture.run(["run", "--all", "--json"])
        #expect(second.status == 0, "\(second.output)")
        let eligible = Set((1...204).filter { !(11...20).contains($0) }.map { Int64($0) })
        for partner in Self.partners {
            let fresh = try sandbox.view(path: partner.path, key: partner.key, afterSeq: firstSeq)
            let expectedRecords = partner.id == "initech" ? eligible.count : 14
            #expect(fresh.recordsReceived == expectedRecords, "\(partner.id): records sent by the second run")
            #expect(Dictionary(grouping: fresh.notices, by: \.reason).mapValues(\.count) == Self.reasons, "\(partner.id): \(fresh.notices)")
            // Each notice names the customer by the key the partner received in the first run.
            let before = try #require(views[partner.id])
            let noticeKeys = Set(fresh.notices.map(\.key))
            #expect(noticeKeys.count == 10 && noticeKeys.isSubset(of: Set(before.records.keys)), "\(partner.id)")
            if partner.key == "ref" {
                #expect(noticeKeys == Set((11...20).map { DeliveryFixture.acmeRef(Int64($0)) }), "\(partner.id): the right customers")
            }
            // What the partner holds now: everyone eligible, in today's version.
            let now = try sandbox.view(path: partner.path, key: partner.key)
            #expect(now.records.count == eligible.count, "\(partner.id) holds exactly the eligible customers")
            if partner.key == "ref" {
                #expect(Set(now.records.keys) == Set(eligible.map(DeliveryFixture.acmeRef)))
                #expect((1...10).allSatisfy { now.records[DeliveryFixture.acmeRef(Int64($0))]?["firstName"] == "P\($0)" })
            }
            let nameField = partner.id == "globex" ? "givenName" : "firstName"
            #expect(now.records.values.filter { $0[nameField]?.hasPrefix("P") ?? false }.count == 10, "\(partner.id)")
        }
        // The disclosure log: a deletion notice per partner for each of 11…20, with its reason; the ledger forgot their keys.
        let withdrawn = try JSONSerialization.jsonObject(with: Data(try fixture.run(["disclosures", "12", "--json"]).stdout.utf8))
            as? [[String: Any]] ?? []
        let deletions = withdrawn.filter { $0["kind"] as? String == "deletion" }
        #expect(deletions.count == 3 && deletions.allSatisfy { $0["reason"] as? String == "consent_withdrawn" && $0["consent_scope"] is NSNull })
        #expect(Set(deletions.map { $0["fields"] as? [String] ?? [] }) == [["ref"], ["memberRef"]], "a notice carries the key alone")
        let text = try fixture.run(["disclosures", "19"]).stdout
        #expect(text.contains("deletion notice") && text.contains("told to forget: erased"), "\(text)")
        #expect(try fixture.query("SELECT count(*) FROM holdings WHERE customer_id BETWEEN 11 AND 20").first?[0] == "0")
        #expect(try fixture.query("SELECT count(*) FROM holdings").first?[0] == String(3 * eligible.count))
        #expect(try fixture.query("SELECT count(*) FROM deliveries WHERE length(changes) > 0 OR length(manifest) > 0").first?[0] == "0",
                "nothing kept beyond what the log needs once acknowledged")

        // A third run with nothing changed: nothing to the changes partners, everything again to the snapshot one.
        let secondSeq = sandbox.requests().map(\.seq).max() ?? 0
        let third = try fixture.run(["run", "--all"])
        #expect(third.status == 0, "\(third.output)")
        let after = sandbox.requests().filter { $0.seq > secondSeq }
        #expect(after.allSatisfy { $0.path == "/feeds/initech" }, "the changes partners got nothing")
        #expect(try sandbox.view(path: "/feeds/initech", key: "ref", afterSeq: secondSeq).recordsReceived == eligible.count)
        #expect(third.stdout.contains("acme: changes since what it acknowledged: 0 new, 0 changed, 194 unchanged (not sent); nothing changed, nothing sent"),
                "\(third.stdout)")
        let runs = try JSONSerialization.jsonObject(with: Data(try fixture.run(["runs", "--json", "--limit", "1"]).stdout.utf8))
            as? [[String: Any]] ?? []
        let results = (runs.first?["results"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) {
            $0[$1["partner"] as? String ?? ""] = $1["status"] as? String
        }
        #expect(results == ["acme": "nothing-to-send", "globex": "nothing-to-send", "initech": "delivered"], "\(results)")
    }

    /// A snapshot feed counts the notices before it renders; a changes feed at the end of its render.
    @Test("the deletion guard: 30% withdrawn holds the partner (nothing sent, exit 1); --allow-deletions sends every notice",
          arguments: ["snapshot", "changes"], LedgerKind.allCases)
    func deletionGuard(mode: String, ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 100, maxRecords: 40, acme: "mode: \(mode)", ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        let sent = sandbox.requests().count
        let firstSeq = sandbox.requests().map(\.seq).max() ?? -1
        try fixture.customers().execute("UPDATE consents SET withdrawn_at = '2026-11-28T00:00:00Z' WHERE customer_id <= 30")
        // Changed records are held with the rest (a changes feed has only these).
        try fixture.customers().execute("UPDATE customers SET first_name = 'Changed' WHERE id IN (41, 90)")
        // The preview says so before any run.
        let preview = try fixture.run(["preview", "acme", "--limit", "0"])
        #expect(preview.stdout.contains("The deletion guard would hold a run: this run would tell acme to forget 30 of the 100 customers "
                                        + "it holds (30.0%: 30 consent_withdrawn), more than max_deletions_percent 10% allows (at most 10)"),
                "\(preview.stdout)")
        let held = try fixture.run(["run", "acme"])
        #expect(held.status == 1, "\(held.output)")
        #expect(sandbox.requests().count == sent, "nothing was sent")
        #expect(held.stdout.contains("NOT EVERYTHING WAS DELIVERED: acme (held)"), "\(held.stdout)")
        #expect(held.stdout.contains("forget 30 of the 100 customers it holds (30.0%: 30 consent_withdrawn), more than "
                                     + "max_deletions_percent 10%"), "\(held.stdout)")
        #expect(held.stdout.contains("'partner-export rerun --failed --partner acme --allow-deletions'"))
        // Each held batch says why; the advice names the flag; the owed list says it too.
        #expect(held.stdout.contains("): held by the deletion guard (not sent;") && !held.stdout.contains("an earlier batch was not delivered")
                && held.stdout.contains("held by the deletion guard)") && !held.stdout.contains("held after the failure"), "\(held.stdout)")
        #expect(held.stdout.contains("acme: held by the deletion guard: check the numbers above; once the notices are confirmed, "
                                     + "'partner-export rerun --failed --partner acme --allow-deletions'"), "\(held.stdout)")
        let owedList = try fixture.run(["deliveries", "--failed"])
        #expect(owedList.stdout.contains("Held by the deletion guard (acme): once the notices are confirmed, partner-export rerun "
                                         + "--failed --partner acme --allow-deletions"), "\(owedList.stdout)")
        let owed = try fixture.query("SELECT status, count(*) FROM deliveries WHERE run_id = (SELECT id FROM runs ORDER BY rowid DESC LIMIT 1) GROUP BY status")
        #expect(owed.count == 1 && owed.first?[0] == "held", "every batch held, owed: \(owed)")
        #expect(try fixture.query("SELECT count(*) FROM holdings").first?[0] == "100", "the partner still holds everyone")
        // A scheduled run without the flag holds again; the rerun the message names sends them.
        #expect(try fixture.run(["rerun", "--failed"]).status == 1)
        #expect(sandbox.requests().count == sent)
        let allowed = try fixture.run(["rerun", "--failed", "--partner", "acme", "--allow-deletions"])
        #expect(allowed.status == 0, "\(allowed.output)")
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(view.notices.count == 30 && view.records.count == 70)
        let sinceHeld = try sandbox.view(path: "/feeds/acme", key: "ref", afterSeq: firstSeq)
        #expect(sinceHeld.records.values.filter { $0["firstName"] == "Changed" }.count == 2, "the changed records went out with the notices")
        #expect(sinceHeld.recordsReceived == (mode == "snapshot" ? 70 : 2), "\(sinceHeld.recordsReceived)")
        #expect(Set(view.notices.map(\.key)) == Set((1...30).map { DeliveryFixture.acmeRef(Int64($0)) }))
        #expect(try fixture.run(["deliveries", "--failed", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        // A partner holding few customers is not held for a handful of notices: never for ten or fewer.
        let small = try DeliveryFixture(sandbox: sandbox, customers: 5, maxRecords: 40, ledger: ledger)
        #expect(try small.run(["run", "acme"]).status == 0)
        try small.withdraw(2)
        #expect(try small.run(["run", "acme"]).status == 0, "one of five (20%) is under the floor of ten notices")
        let metrics = try OperationsTests.parsePrometheus(fixture.metricsPath)
        #expect(metrics["partner_export_deletion_guard_holds_total{acme}"] == 2, "the first run and the rerun without the flag")
        #expect(metrics["partner_export_notices_sent_total{acme}"] == 30)
    }

    @Test("a withdrawal after a complete run: rerun --failed, deliveries --failed and the metrics say the notice is owed (not 'every feed is complete'); the next run sends it", arguments: LedgerKind.allCases)
    func noticesDueAreOwed(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 20, ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        try fixture.withdraw(3)
        let rerun = try fixture.run(["rerun", "--failed"])
        #expect(rerun.status == 0 && rerun.stdout.contains("Deletion notices due to acme: 1 (customers it holds who are no longer eligible); "
                                                           + "its next run sends them ('partner-export run acme')"), "\(rerun.output)")
        let json = try JSONSerialization.jsonObject(with: Data(try fixture.run(["rerun", "--failed", "--json"]).stdout.utf8)) as? [String: Any]
        #expect((json?["notices_due_elsewhere"] as? [String: Int]) == ["acme": 1], "\(json ?? [:])")
        let owed = try fixture.run(["deliveries", "--failed"])
        #expect(owed.stdout.contains("every feed is complete, but deletion notices are owed:")
                && owed.stdout.contains("Deletion notices due to acme: 1"), "\(owed.stdout)")
        #expect(try OperationsTests.parsePrometheus(fixture.metricsPath)["partner_export_notices_due{acme}"] == 1)
        // The next run sends it: nothing is due any more, and nothing is said.
        #expect(try fixture.run(["run", "acme"]).status == 0)
        #expect(try sandbox.view(path: "/feeds/acme", key: "ref").notices.map(\.key) == [DeliveryFixture.acmeRef(3)])
        #expect(try OperationsTests.parsePrometheus(fixture.metricsPath)["partner_export_notices_due{acme}"] == 0)
        #expect(!(try fixture.run(["deliveries", "--failed"]).stdout.contains("Deletion notices due")))
    }

    @Test("a notice owed after a failed delivery goes out with the rerun; a customer who consents again is sent again, no stale notice", arguments: LedgerKind.allCases)
    func owedNoticeAndConsentAgain(ledger: LedgerKind) throws {
        let down: [[String: Any]] = [["status": 503], ["status": 503]]
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 50, maxRecords: 100, maxAttempts: 2, ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        try fixture.withdraw(3)
        // The records go through, the batch of notices after them does not.
        try sandbox.addFaults([[:]] + down, path: "/feeds/acme")
        #expect(try fixture.run(["run", "acme"]).status == 1, "the batch carrying the notice failed")
        #expect(try fixture.run(["deliveries", "--failed"]).stdout.contains("acme"), "the notice is owed")
        #expect(try sandbox.view(path: "/feeds/acme", key: "ref").notices.isEmpty)
        let rerun = try fixture.run(["rerun", "--failed"])
        #expect(rerun.status == 0, "\(rerun.output)")
        var view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(view.notices.map(\.key) == [DeliveryFixture.acmeRef(3)] && view.notices.first?.reason == "consent_withdrawn")
        #expect(view.records[DeliveryFixture.acmeRef(3)] == nil && view.records.count == 49)

        // 3 consents again: disclosed again normally. 5 withdraws, the notice fails, 5 consents again before the rerun: no stale notice.
        try fixture.customers().execute("UPDATE consents SET withdrawn_at = NULL WHERE customer_id = 3")
        try fixture.withdraw(5)
        // This time the records fail: the notices are held behind them.
        try sandbox.addFaults(down, path: "/feeds/acme")
        #expect(try fixture.run(["run", "acme"]).status == 1)
        try fixture.customers().execute("UPDATE consents SET withdrawn_at = NULL WHERE customer_id = 5")
        #expect(try fixture.run(["rerun", "--failed"]).status == 0)
        view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(view.records.count == 50 && view.records[DeliveryFixture.acmeRef(3)] != nil)
        #expect(view.notices.map(\.key) == [DeliveryFixture.acmeRef(3)], "no notice ever named customer 5: \(view.notices)")
        let three = try JSONSerialization.jsonObject(with: Data(try fixture.run(["disclosures", "3", "--json"]).stdout.utf8))
            as? [[String: Any]] ?? []
        #expect(three.map { $0["kind"] as? String ?? "" } == ["disclosure", "deletion", "disclosure"], "\(three)")
    }

    @Test("an e-mail key whose address changed: the partner is told to forget the old key and gets the record under the new one; an empty key never leaves")
    func changedKey() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 100, acme: "mode: changes")
        try fixture.edit(fixture.acmeMapping, replacing: "partner: acme", with: "partner: acme\nkey: email_sha256")
        try fixture.customers().execute("UPDATE customers SET email = '  ' WHERE id = 9")
        let first = try fixture.run(["run", "acme", "--json"])
        #expect(first.status == 0, "\(first.output)")
        #expect(first.stdout.contains("\"required_value_missing\""), "customer 9 has no key: left out, by id")
        var view = try sandbox.view(path: "/feeds/acme", key: "email_sha256")
        #expect(view.records.count == 29 && !view.records.keys.contains(""))
        let old = try #require(view.records.values.first { $0["ref"] == DeliveryFixture.acmeRef(7) }?["email_sha256"])
        try fixture.customers().execute("UPDATE customers SET email = 'moved7@example.com' WHERE id = 7")
        #expect(try fixture.run(["run", "acme"]).status == 0)
        view = try sandbox.view(path: "/feeds/acme", key: "email_sha256")
        #expect(view.notices.map(\.key) == [old] && view.notices.first?.reason == "no_longer_shared", "\(view.notices)")
        #expect(view.records[old] == nil && view.records.count == 29)
        #expect(view.records.values.contains { $0["ref"] == DeliveryFixture.acmeRef(7) })
        #expect(try fixture.query("SELECT count(*) FROM holdings WHERE customer_id = 7").first?[0] == "1", "held under the new key")
        let seven = try JSONSerialization.jsonObject(with: Data(try fixture.run(["disclosures", "7", "--json"]).stdout.utf8))
            as? [[String: Any]] ?? []
        #expect(seven.map { $0["kind"] as? String ?? "" }.sorted() == ["deletion", "disclosure", "disclosure"], "\(seven)")
        // Nothing else changed: the next run sends nothing.
        let before = sandbox.requests().count
        #expect(try fixture.run(["run", "acme"]).status == 0 && sandbox.requests().count == before)
    }

    @Test("what a ledger from before keys holds gets notices all the same: the key is worked out from the id")
    func legacyHoldings() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 40, maxRecords: 100)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        // As the migration leaves an earlier version's ledger: who was disclosed to is held, key and hash unknown.
        try fixture.ledgerForWriting().execute("UPDATE holdings SET key = x'', digest = x''")
        try fixture.withdraw(4)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(view.notices.map(\.key) == [DeliveryFixture.acmeRef(4)] && view.records.count == 39)
        #expect(try fixture.query("SELECT count(*) FROM holdings WHERE length(digest) = 16 AND length(key) = 33").first?[0] == "39",
                "the run learnt every key and hash again")
    }

    @Test("kill -9 at random points of changes-mode runs with notices, then a clean run: each change and notice acknowledged once", arguments: LedgerKind.allCases)
    func killedChangesRuns(ledger: LedgerKind) throws {
        // Every answer comes 30 ms late, so that a kill lands mid-run whatever the machine's speed (and often
        // while a request is in flight: the partner acknowledges what the ledger never recorded).
        let slow: [[String: Any]] = Array(repeating: ["stall": 0.03], count: 2000)
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: slow), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 600, maxRecords: 10, acme: "mode: changes", ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        var generator = SplitMix64(seed: 20261201)
        var killed = 0
        for round in 0..<8 {
            // Each round changes 40 customers and withdraws 3 (well under the guard), then a run is killed.
            let base = Int64(round * 60)
            try fixture.customers().execute("UPDATE customers SET first_name = 'R\(round)' WHERE id > \(base + 3) AND id <= \(base + 43)")
            try fixture.customers().execute("UPDATE consents SET withdrawn_at = '2026-11-28T00:00:00Z' "
                                            + "WHERE customer_id > \(base) AND customer_id <= \(base + 3)")
            let runs = Int((try? fixture.query("SELECT count(*) FROM runs"))?.first?[0] ?? "0") ?? 0
            let process = try fixture.launch(["run", "acme"])
            if round % 2 == 0 {
                usleep(UInt32.random(in: 0...300_000, using: &generator))
            } else {
                // After a chosen number of this run's attempts (a run of these changes has about 14 batches).
                let target = Int.random(in: 1...10, using: &generator)
                _ = fixture.waitUntil("SELECT count(*) >= \(target) FROM attempts WHERE run_id = (SELECT id FROM runs "
                                      + "ORDER BY rowid DESC LIMIT 1) AND (SELECT count(*) FROM runs) > \(runs)", seconds: 30)
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                killed += 1
            }
            process.waitUntilExit()
        }
        #expect(killed >= 4, "at least the rounds killed after a number of attempts were cut short: \(killed) of 8")
        let clean = try fixture.run(["run", "acme"])
        #expect(clean.status == 0, "\(clean.output)")
        if ledger == .sqlite { #expect(try fixture.query("PRAGMA integrity_check").first?[0] == "ok") }

        // The partner's side: exactly today's eligible customers, each in today's version.
        let withdrawn = Set((0..<8).flatMap { round in (1...3).map { Int64(round * 60 + $0) } })
        let eligible = (1...600).map { Int64($0) }.filter { !withdrawn.contains($0) }
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == Set(eligible.map(DeliveryFixture.acmeRef)), "nothing acknowledged was forgotten, nothing extra kept")
        let db = try Database(path: fixture.database, mode: .readOnly)
        let statement = try db.prepare("SELECT id, first_name FROM customers")
        var current: [String: String] = [:]
        while try statement.step() { current[DeliveryFixture.acmeRef(statement.int64(0))] = statement.string(1) }
        #expect(view.records.allSatisfy { current[$0.key] == $0.value["firstName"] }, "every record in its current version")
        // Every notice named one withdrawn customer and reached the partner under one delivery id only.
        #expect(Set(view.notices.map(\.key)) == Set(withdrawn.map(DeliveryFixture.acmeRef)))
        var noticeDeliveries: [String: Set<String>] = [:]
        var versionDeliveries: [String: Set<String>] = [:]
        for request in sandbox.requests() where request.acknowledged {
            guard let id = request.idempotencyKey, let body = request.body,
                  let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else { continue }
            for notice in object["deletions"] as? [[String: Any]] ?? [] { noticeDeliveries[notice["ref"] as? String ?? "", default: []].insert(id) }
            for record in object["records"] as? [[String: Any]] ?? [] {
                let version = "\(record["ref"] ?? "")/\(record["firstName"] ?? "")"
                versionDeliveries[version, default: []].insert(id)
            }
        }
        #expect(noticeDeliveries.values.allSatisfy { $0.count == 1 }, "a notice is never resent under a new id")
        #expect(versionDeliveries.values.allSatisfy { $0.count == 1 }, "a version the partner acknowledged is never resent under a new id")
        // The ledger's side: each notice recorded once, what it holds equals what the partner holds.
        let recorded = try fixture.query("SELECT customer_id, count(*) FROM disclosures WHERE kind = 'deletion' GROUP BY customer_id")
        #expect(recorded.count == withdrawn.count && recorded.allSatisfy { $0[1] == "1" })
        #expect(Set(try fixture.query("SELECT customer_id FROM holdings").compactMap { $0[0].flatMap { Int64($0) } }) == Set(eligible))
        #expect(try fixture.query("SELECT count(*) FROM deliveries WHERE status = 'pending'").first?[0] == "0")
        print("changes-mode kill -9: \(killed) of 8 runs killed; \(sandbox.requests().filter(\.duplicate).count) deliveries the partner "
              + "had acknowledged were resent under their own id; \(recorded.count) notices recorded once each")
    }

    @Test("the shipped Globex XSD accepts feeds with deletion notices (checked by python xmlschema too), and validates every feed")
    func shippedSchemaAcceptsNotices() throws {
        let sandbox = try Sandbox(routes: ["/feeds/globex-programs": ["basic_user": "partner-export", "basic_password_env": "GLOBEX_PASSWORD"]],
                                  environment: DeliveryFixture.secrets)
        let folder = TestFiles.temporaryDirectory("xsd-notices")
        let config = folder.appendingPathComponent("config")
        for name in ["partners", "mappings", "schemas"] {
            try FileManager.default.copyItem(at: TestFiles.packageRoot.appendingPathComponent(name), to: config.appendingPathComponent(name))
        }
        // The shipped contract, pointed at the sandbox (as `make demo` does).
        let contract = config.appendingPathComponent("partners/globex-programs.yaml")
        var text = try String(contentsOf: contract, encoding: .utf8)
        text = text.replacingOccurrences(of: #"(?m)^  url: .*$"#, with: "  url: \(sandbox.url("/feeds/globex-programs", mtls: true))",
                                         options: .regularExpression)
        text = text.replacingOccurrences(of: "delivery:\n", with: "delivery:\n  ca_file: \(Sandbox.pki("ca.pem"))\n"
                                         + "  client_cert: \(Sandbox.pki("client.pem"))\n  client_key: \(Sandbox.pki("client.key"))\n")
        try Data(text.utf8).write(to: contract)
        let db = folder.appendingPathComponent("customers.sqlite").path
        let common = ["--config", config.path, "--db", db, "--state", folder.appendingPathComponent("state/ledger.sqlite").path]
        let environment = DeliveryFixture.secrets
        #expect(try Binary.run(["demo-data", "--customers", "400", "--seed", "3", "--db", db]).status == 0)
        let first = try Binary.run(["run", "globex-programs"] + common, environment: environment)
        #expect(first.status == 0, "\(first.output)")
        // One member withdraws: the next feed carries a notice, validated against the XSD before it leaves.
        let source = try Database(path: db, mode: .readWrite)
        try source.execute("""
            UPDATE consents SET withdrawn_at = '2026-11-28T00:00:00Z' WHERE scope = 'partner-programs' AND customer_id =
              (SELECT min(customer_id) FROM consents WHERE scope = 'partner-programs' AND withdrawn_at IS NULL)
            """)
        let out = folder.appendingPathComponent("feed.xml").path
        let preview = try Binary.run(["preview", "globex-programs", "--out", out, "--json"] + common, environment: environment)
        #expect(preview.status == 0, "\(preview.output)")
        let counts = try JSONSerialization.jsonObject(with: Data(preview.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(counts["notices_due"] as? [String: Int] == ["consent_withdrawn": 1], "\(counts)")
        let document = try StrictXML(Array(try Data(contentsOf: URL(fileURLWithPath: out))))
        #expect(document.deletions.count == 1 && document.deletions.first?.reason == "consent_withdrawn")
        #expect(document.rootAttributes["deletion-count"] == "1" && document.rootAttributes["mode"] == "snapshot")
        // An XSD validator nobody here wrote agrees.
        let check = try Binary.run(["python3", "-c", "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2]); print('valid')",
                                    config.appendingPathComponent("schemas/globex-programs.xsd").path, out],
                                   executable: URL(fileURLWithPath: "/usr/bin/env"))
        #expect(check.status == 0 && check.output.contains("valid"), "\(check.output)")
        // The run sends it: the tool's own XSD check passed, the partner acknowledged it.
        let second = try Binary.run(["run", "globex-programs"] + common, environment: environment)
        #expect(second.status == 0, "\(second.output)")
        let view = try sandbox.view(path: "/feeds/globex-programs", key: "memberRef")
        #expect(view.notices.count == 1 && view.notices.first?.key == document.deletions.first?.key)
    }
}
