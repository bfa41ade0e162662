import ExportCore
import Foundation
import SQLite
import Testing
import TestSupport

/// What a careless or hostile source does to the promises, with the real binary: a duplicate
/// consent row, a key that changed under the partner's holdings.
@Suite("A source that breaks its own rules", .serialized)
struct SourceTrustTests {
    @Test("a consents table without its key, holding a withdrawn and an active row for one customer: preview and run refuse it (exit 2), nothing is sent")
    func duplicateConsentRow() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 5)
        try fixture.customers().execute("""
            CREATE TABLE c2 (customer_id INTEGER NOT NULL, scope TEXT NOT NULL, granted_at TEXT NOT NULL, withdrawn_at TEXT, source TEXT);
            INSERT INTO c2 SELECT customer_id, scope, granted_at, withdrawn_at, source FROM consents;
            DROP TABLE consents; ALTER TABLE c2 RENAME TO consents;
            UPDATE consents SET withdrawn_at = '2026-01-01T00:00:00Z' WHERE customer_id = 4 AND scope = 'partner-offers';
            INSERT INTO consents VALUES (4, 'partner-offers', '2026-02-01T00:00:00Z', NULL, 'web');
            """)
        let preview = try fixture.run(["preview", "acme"])
        #expect(preview.status == 2 && preview.stderr.contains("consents holds 2 rows for customer 4 and scope \"partner-offers\""),
                "\(preview.output)")
        let run = try fixture.run(["run", "acme"])
        #expect(run.status == 2 && run.stderr.contains("customer 4"), "\(run.output)")
        #expect(sandbox.requests().isEmpty, "nothing was sent")
        // The duplicate removed, the withdrawal decides: customer 4 is not sent.
        try fixture.customers().execute("DELETE FROM consents WHERE customer_id = 4 AND withdrawn_at IS NULL AND scope = 'partner-offers'")
        let clean = try fixture.run(["run", "acme"])
        #expect(clean.status == 0, "\(clean.output)")
        let refs = sandbox.requests().compactMap(\.body).compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            .flatMap { $0["records"] as? [[String: Any]] ?? [] }.compactMap { $0["ref"] as? String }
        #expect(refs.count == 4 && !refs.contains(DeliveryFixture.acmeRef(4)), "\(refs)")
    }

    @Test("a changed pseudonym key (staging's) holds the run like mass deletions: preview and run say the key changed, nothing is sent; --allow-deletions replaces the keys", arguments: ["snapshot", "changes"], LedgerKind.allCases)
    func changedPseudonymKey(mode: String, ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 10, acme: "mode: \(mode)", ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        let sent = sandbox.requests().count
        let staging = ["ACME_PSEUDONYM_KEY": "staging-key-Lemur-0000000000"]
        let preview = try fixture.run(["preview", "acme", "--limit", "0"], extra: staging)
        #expect(preview.stdout.contains("The deletion guard would hold a run: the pseudonym key or the key field's source changed: "
                                        + "30 of 30 held keys would be replaced"), "\(preview.output)")
        #expect(preview.stdout.contains("pseudonym_key_env (ACME_PSEUDONYM_KEY"), "\(preview.output)")
        let held = try fixture.run(["run", "acme"], extra: staging)
        #expect(held.status == 1 && held.stdout.contains("held by the deletion guard: the pseudonym key or the key field's source changed: "
                                                          + "30 of 30 held keys would be replaced"), "\(held.output)")
        #expect(sandbox.requests().count == sent, "nothing was sent under the new keys, no partner told to forget")
        // When the new key is meant: the old keys are forgotten and everyone is sent under the new one.
        let allowed = try fixture.run(["rerun", "--failed", "--partner", "acme", "--allow-deletions"], extra: staging)
        #expect(allowed.status == 0, "\(allowed.output)")
        let view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.notices.map(\.key)) == Set((1...30).map { DeliveryFixture.acmeRef(Int64($0)) }), "every old key forgotten")
        #expect(view.records.count == 30 && view.records.keys.allSatisfy { key in !(1...30).contains { DeliveryFixture.acmeRef(Int64($0)) == key } })
    }

    @Test("an anonymised copy of the database under an e-mail key: every key would change, so the run is held and says so")
    func anonymisedEmailKey() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 40, maxRecords: 10)
        try fixture.edit(fixture.acmeMapping, replacing: "partner: acme\n", with: "partner: acme\nkey: email_sha256\n")
        #expect(try fixture.run(["run", "acme"]).status == 0)
        let sent = sandbox.requests().count
        // Three real changes of address are fine (under the floor of ten); an anonymised copy is not.
        try fixture.customers().execute("UPDATE customers SET email = 'moved' || id || '@example.net' WHERE id <= 3")
        let few = try fixture.run(["preview", "acme", "--limit", "0"])
        #expect(!few.stdout.contains("deletion guard would hold"), "\(few.output)")
        try fixture.customers().execute("UPDATE customers SET email = 'anon' || id || '@invalid'")
        let preview = try fixture.run(["preview", "acme", "--limit", "0"])
        #expect(preview.stdout.contains("the pseudonym key or the key field's source changed: 40 of 40 held keys would be replaced"),
                "\(preview.output)")
        let held = try fixture.run(["run", "acme"])
        #expect(held.status == 1 && held.stdout.contains("40 of 40 held keys would be replaced"), "\(held.output)")
        #expect(sandbox.requests().count == sent)
    }

    @Test("an id used again (customer 2 erased, the number given to someone new): disclosures marks the earlier customer's entries and the new customer's report leaves them out; an unknown id is said to be unknown")
    func idReused() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 5)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        try fixture.customers().execute("UPDATE customers SET created_at = '2099-01-01T00:00:00Z', first_name = 'Someone Else' WHERE id = 2")
        let text = try fixture.run(["disclosures", "2"])
        #expect(text.status == 0 && text.stdout.contains("Customer 2's record was created 2099-01-01T00:00:00Z")
                && text.stdout.contains("EARLIER CUSTOMER"), "\(text.output)")
        let entries = try JSONSerialization.jsonObject(with: Data(try fixture.run(["disclosures", "2", "--json"]).stdout.utf8)) as? [[String: Any]] ?? []
        #expect(!entries.isEmpty && entries.allSatisfy { $0["earlier_holder"] as? Bool == true }, "\(entries)")
        let report = try fixture.run(["disclosures", "2", "--format", "json"])
        let recipients = (try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any])?["recipients"] as? [Any]
        #expect(report.status == 0 && recipients?.isEmpty == true && report.stderr.contains("concern an earlier customer who had this id"),
                "\(report.output)")
        // Customer 3 is who they were: their entries are theirs.
        let three = try JSONSerialization.jsonObject(with: Data(try fixture.run(["disclosures", "3", "--json"]).stdout.utf8)) as? [[String: Any]] ?? []
        #expect(!three.isEmpty && three.allSatisfy { $0["earlier_holder"] as? Bool == false })
        // A number nobody has and nothing was disclosed under.
        let unknown = try fixture.run(["disclosures", "999"])
        #expect(unknown.stdout.contains("the customer database has no customer 999 either: check the number"), "\(unknown.output)")
        let unknownReport = try fixture.run(["disclosures", "999", "--format", "html"])
        #expect(unknownReport.status == 2 && unknownReport.stderr.contains("there is no customer 999"), "\(unknownReport.output)")
    }
}
