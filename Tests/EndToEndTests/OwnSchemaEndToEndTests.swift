import ExportCore
import Foundation
import SQLite
import Testing
import TestSupport

/// `source.yaml` with the real binary: a CRM's renamed tables read in place (consents a view over an
/// opt-in and an opt-out table), delivered to the partner sandbox over HTTPS, a withdrawal told to the
/// partner, `disclosures ID` answering with the CRM's key.
@Suite("Your own schema, end to end", .serialized)
struct OwnSchemaEndToEndTests {
    /// A fixture whose customer database is the CRM copy of the canonical one, with `source.yaml`.
    static func renamed(_ sandbox: Sandbox, mode: String = "snapshot") throws -> DeliveryFixture {
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 10, acme: "mode: \(mode)")
        let canonical = fixture.folder.appendingPathComponent("canonical.sqlite").path
        try FileManager.default.moveItem(atPath: fixture.database, toPath: canonical)
        try OwnSchemaFixture.writeRenamed(fixture.database, from: canonical, customersAsView: true)
        try FileManager.default.removeItem(atPath: canonical)
        try TestFiles.write(OwnSchemaFixture.sourceYAML(customersAsView: true), to: fixture.config.appendingPathComponent("source.yaml"))
        return fixture
    }

    @Test("validate --db checks the CRM's tables; a run delivers them, a withdrawal (a row in opt_outs) becomes a deletion notice, disclosures answers by the CRM's key")
    func fullRun() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try Self.renamed(sandbox, mode: "changes")

        let validated = try fixture.run(["validate"])
        #expect(validated.status == 0, "\(validated.output)")
        #expect(validated.stdout.contains("has every table and column the partners read (source.yaml)"), "\(validated.output)")

        let first = try fixture.run(["run", "acme"])
        #expect(first.status == 0, "\(first.output)")
        var view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(view.records.count == 30, "\(view.records.count)")
        #expect(view.records[DeliveryFixture.acmeRef(3)] != nil)

        // The CRM records a withdrawal its own way: a row in opt_outs.
        let crm = try Database(path: fixture.database, mode: .readWrite)
        try crm.execute("INSERT INTO opt_outs VALUES (3, 'partner-offers', '2026-11-27T03:00:00Z')")
        let second = try fixture.run(["run", "acme"])
        #expect(second.status == 0, "\(second.output)")
        view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(view.notices.map(\.key) == [DeliveryFixture.acmeRef(3)] && view.notices.first?.reason == "consent_withdrawn")
        #expect(view.records[DeliveryFixture.acmeRef(3)] == nil && view.records.count == 29)

        let disclosures = try fixture.run(["disclosures", "3", "--json"])
        #expect(disclosures.status == 0, "\(disclosures.output)")
        let rows = try JSONSerialization.jsonObject(with: Data(disclosures.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows.count == 2 && rows.allSatisfy { $0["partner"] as? String == "acme" }, "\(disclosures.stdout)")
        #expect(disclosures.stdout.contains("consent_withdrawn"), "\(disclosures.stdout)")
    }

    @Test("a contract allowing a field source.yaml does not map: validate names the contract's line; a customers view whose key repeats: validate --db names the first duplicate, a run sends nothing")
    func refused() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try Self.renamed(sandbox)
        let source = fixture.config.appendingPathComponent("source.yaml")
        let text = try String(contentsOf: source, encoding: .utf8)
        try TestFiles.write(text.replacingOccurrences(of: "    country: country_code\n", with: ""), to: source)
        let unmapped = try fixture.run(["validate"])
        #expect(unmapped.status == 2, "\(unmapped.output)")
        let line = (try String(contentsOf: fixture.acmeContract, encoding: .utf8)).split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.trimmingCharacters(in: .whitespaces).hasPrefix("country:") }.map { $0 + 1 } ?? 0
        #expect(unmapped.stdout.contains("partners/acme.yaml:\(line): allow: 'country' is not mapped by source.yaml"), "\(unmapped.output)")
        // A column listed in never_read that a field would read (the contract allows email): refused at its line.
        let never = text.replacingOccurrences(of: "never_read: [card_pan, card_exp, notes]", with: "never_read: [card_pan, card_exp, notes, email_address]")
        #expect(never != text)
        try TestFiles.write(never, to: source)
        let refusedNever = try fixture.run(["validate"])
        let neverLine = never.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("email: email_address") }.map { $0 + 1 } ?? 0
        #expect(refusedNever.status == 2 && refusedNever.stdout.contains("source.yaml:\(neverLine): customers.fields.email: column email_address is never read"),
                "\(refusedNever.output)")
        try TestFiles.write(text, to: source)

        let crm = try Database(path: fixture.database, mode: .readWrite)
        try crm.execute("DROP VIEW clients_v; CREATE VIEW clients_v AS SELECT * FROM crm_clients UNION ALL SELECT * FROM crm_clients WHERE client_id = 12")
        let validated = try fixture.run(["validate"])
        #expect(validated.status == 2 && validated.stdout.contains("customer 12 has 2 rows"), "\(validated.output)")
        let run = try fixture.run(["run", "acme"])
        #expect(run.status == 2 && run.stderr.contains("customer 12 has 2 rows"), "\(run.output)")
        #expect(sandbox.requests().isEmpty, "nothing was sent")
    }
}
