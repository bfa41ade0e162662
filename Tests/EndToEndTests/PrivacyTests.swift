import Foundation
import TestSupport
import Testing

/// The record of processing read from the ledger, checked against what the partners actually received;
/// partners as witnesses of the disclosure log (docs/privacy.md, docs/audit.md).
@Suite("Privacy as code: record of processing and witnesses", .serialized)
struct PrivacyTests {
    static let catalog = PrivacyFixture.catalog
    static let categories = ["id": "user.unique_id", "first_name": "user.name.first", "email": "user.contact.email",
                             "country": "user.contact.address.country"]

    /// A fixture of two partners (JSON and XML) with a catalog and their contracts' terms, and an audit key.
    static func fixture(_ sandbox: Sandbox, ledger: LedgerKind = .sqlite) throws -> (DeliveryFixture, verifier: String) {
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 24, maxRecords: 10, globex: true, ledger: ledger)
        try TestFiles.write(catalog, to: fixture.config.appendingPathComponent("catalog.yaml"))
        try fixture.edit(fixture.acmeContract, replacing: "format: json", with: """
            data_use: marketing.advertising.third_party
            legal_basis: consent
            recipient: {legal_name: ACME Offers Ltd, country: GB}
            retention_days: 365
            format: json
            """)
        try fixture.edit(fixture.config.appendingPathComponent("partners/globex.yaml"), replacing: "format: xml",
                         with: "data_use: third_party_sharing\nlegal_basis: consent\nformat: xml")
        let initialised = try fixture.run(["audit", "init", "--name", "privacy.example"])
        #expect(initialised.status == 0, "\(initialised.output)")
        let verifier = initialised.stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix("privacy.example+") } ?? ""
        return (fixture, verifier)
    }

    /// The mapping's output name → source column.
    static let sources = ["ref": "id", "email_sha256": "email", "firstName": "first_name", "country": "country",
                          "memberRef": "id", "givenName": "first_name", "email": "email"]

    static func record(_ result: Binary.Result) throws -> [String: [String: Any]] {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.output)")
        let partners = try #require(document["partners"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: partners.map { ($0["partner"] as? String ?? "", $0) })
    }

    @Test("ropa --format json: for each partner the categories disclosed are those of the fields its sandbox received, counted as the disclosure rows, under a checkpoint that verifies; a field dropped from the mapping is declared but not sent in the period",
          arguments: LedgerKind.allCases)
    func recordOfProcessing(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let (fixture, verifier) = try Self.fixture(sandbox, ledger: ledger)
        #expect(try fixture.run(["run", "--all"]).status == 0)

        let result = try fixture.run(["ropa", "--format", "json"])
        #expect(result.status == 0, "\(result.output)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((document["controller"] as? [String: Any])?["dpo"] as? String == "dpo@cyrus.example")
        let record = try Self.record(result)
        for (partner, path) in [("acme", "/feeds/acme"), ("globex", "/feeds/globex")] {
            let entry = try #require(record[partner])
            // What left, recomputed from the partner's own copy of the bodies.
            let view = try sandbox.view(path: path, key: partner == "acme" ? "ref" : "memberRef")
            let sent = Set(view.records.values.flatMap(\.keys).compactMap { Self.sources[$0] }.compactMap { Self.categories[$0] })
            let disclosed = (entry["disclosed"] as? [[String: Any]] ?? []).compactMap { $0["category"] as? String }
            #expect(Set(disclosed) == sent, "\(partner): \(disclosed) vs what left \(sent)")
            let rows = try fixture.query("""
                SELECT count(*) FROM (SELECT DISTINCT x.customer_id, x.delivery FROM disclosures AS x JOIN deliveries AS d
                ON d.seq = x.delivery WHERE d.partner = '\(partner)' AND x.kind = 'disclosure') AS r
                """).first?[0].flatMap { Int($0) }
            #expect(entry["records"] as? Int == rows && rows == 24, "\(partner): \(String(describing: entry["records"])) vs \(String(describing: rows))")
            for category in entry["disclosed"] as? [[String: Any]] ?? [] { #expect(category["records"] as? Int == 24, "\(category)") }
            #expect((entry["sent_but_not_declared"] as? [String])?.isEmpty == true)
        }
        #expect(record["acme"]?["legal_basis_article"] as? String == "Art. 6(1)(a)")
        #expect((record["acme"]?["recipient"] as? [String: Any])?["country"] as? String == "GB")
        // The checkpoint the figures were read under verifies against the ledger.
        let checkpoint = try #require(document["checkpoint"] as? [String: Any])
        #expect(checkpoint["exact"] as? Bool == true, "\(checkpoint)")
        let path = try #require(checkpoint["path"] as? String)
        let verified = try fixture.run(["audit", "verify", "--key", verifier, "--checkpoint", path])
        #expect(verified.status == 0, "\(verified.output)")
        #expect(checkpoint["entries"] as? Int == 48, "24 customers to each of two partners")

        // ACME's mapping stops sending the first name, customer 3 withdraws; a run an hour later; the period since then.
        try fixture.edit(fixture.acmeMapping, replacing: "  - {name: firstName, from: first_name}\n", with: "")
        try fixture.withdraw(3)
        let later = Date().addingTimeInterval(3600)
        let formatter = ISO8601DateFormatter()
        #expect(try fixture.run(["run", "acme"], extra: ["PARTNER_EXPORT_NOW": formatter.string(from: later)]).status == 0)
        let since = formatter.string(from: later.addingTimeInterval(-60))
        let period = try Self.record(try fixture.run(["ropa", "--format", "json", "--since", since]))
        #expect(period["acme"]?["declared_but_not_sent"] as? [String] == ["user.name.first"], "\(String(describing: period["acme"]))")
        #expect(period["acme"]?["records"] as? Int == 23 && period["acme"]?["deletion_notices"] as? Int == 1)
        // The notice disclosed the key (the pseudonymous id) once more: counted under its category.
        let key = (period["acme"]?["disclosed"] as? [[String: Any]] ?? []).first { $0["category"] as? String == "user.unique_id" }
        #expect(key?["notices"] as? Int == 1 && key?["records"] as? Int == 23, "\(String(describing: key))")
        #expect(period["globex"]?["records"] as? Int == 0, "globex sent nothing in the period")
        // Text and CSV say the same.
        let text = try fixture.run(["ropa", "--since", since])
        #expect(text.stdout.contains("declared but not sent in the period: user.name.first"), "\(text.stdout)")
        let csv = try fixture.run(["ropa", "--format", "csv"])
        #expect(csv.stdout.hasPrefix("partner,data_use,legal_basis,") && csv.stdout.contains("acme,marketing.advertising.third_party,consent"))
    }

    @Test("ropa --format html: one self-contained, printable page that headless Chromium renders at phone and desktop widths")
    func html() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let (fixture, _) = try Self.fixture(sandbox)
        #expect(try fixture.run(["run", "--all"]).status == 0)
        let folder = TestFiles.temporaryDirectory("ropa-html")
        let page = folder.appendingPathComponent("ropa.html").path
        let written = try fixture.run(["ropa", "--format", "html", "--out", page])
        #expect(written.status == 0, "\(written.output)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("Record of processing activities") && html.contains("ACME Offers Ltd") && html.contains("Globex Rewards plc"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href=\"http"), "self-contained")
        #expect(TestFiles.mode(of: page) == 0o600)
        try AuditTests.rendersInChromium(page, folder: folder)
    }

    @Test("witnesses: every request carries the newest signed checkpoint; the partner's copy shows a rolled-back ledger inconsistent, and a consistency proof joins two of its copies")
    func witnesses() throws {
        let setup = try RollbackTests.Setup(.sqlite)
        let fixture = setup.fixture
        #expect(try setup.run(["run", "acme"]).status == 0)
        // A backup of the whole state folder after the first run: the ledger and the checkpoints kept beside it.
        let backup = TestFiles.temporaryDirectory("state-backup")
        let ledgerCopy = backup.appendingPathComponent("ledger.sqlite").path
        let checkpointsCopy = backup.appendingPathComponent("checkpoints").path
        try FileManager.default.copyItem(atPath: fixture.state, toPath: ledgerCopy)
        try FileManager.default.copyItem(atPath: fixture.stateFolder + "/checkpoints", toPath: checkpointsCopy)
        try fixture.withdraw(3)
        #expect(try setup.run(["run", "acme"]).status == 0)
        #expect(try setup.run(["run", "acme"]).status == 0)

        // The partner kept what the requests carried: the checkpoint after the first run (sent by the second),
        // the one after the second (sent by the third).
        let kept = setup.sandbox.folder.appendingPathComponent("checkpoints")
        let copies = try FileManager.default.contentsOfDirectory(atPath: kept.path).sorted().map { kept.appendingPathComponent($0).path }
        #expect(copies.count == 2, "\(copies)")
        // The first run of a new ledger had nothing to witness; every request of a later run carried the
        // checkpoint of the log as that run started: the second run's the first copy, the third's the second.
        let requests = setup.sandbox.requests().filter { $0.path == "/feeds/acme" }.sorted { $0.seq < $1.seq }
        let carried = requests.map { $0.headers["partner-export-checkpoint"].flatMap { Data(base64Encoded: $0) } }
        let notes = try copies.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(carried.first == .some(nil), "the first run had no checkpoint to carry")
        #expect(carried.compactMap { $0 }.count == requests.count - 3, "every request of the later runs carried one: \(carried.map { $0 != nil })")
        #expect(Set(carried.compactMap { $0 }) == Set(notes))
        guard copies.count == 2 else { return }
        for copy in copies {
            #expect(try setup.run(["audit", "verify", "--key", setup.verifier, "--checkpoint", copy]).status == 0, "the genuine log extends \(copy)")
        }
        let proof = try setup.run(["audit", "consistency", copies[0], copies[1], "--key", setup.verifier])
        #expect(proof.status == 0, "\(proof.output)")
        let checked = try AuditTests.python([RollbackTests.script, "--key", setup.verifier, "-"], input: proof.stdout)
        #expect(checked.status == 0 && checked.output.contains("consistent"), "\(checked.output)")

        // The state folder rolled back to before the second run: our own checkpoints agree with it; the partner's do not.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: fixture.state + suffix) }
        try FileManager.default.copyItem(atPath: ledgerCopy, toPath: fixture.state)
        try FileManager.default.removeItem(atPath: fixture.stateFolder + "/checkpoints")
        try FileManager.default.copyItem(atPath: checkpointsCopy, toPath: fixture.stateFolder + "/checkpoints")
        let own = try setup.run(["audit", "verify", "--key", setup.verifier])
        #expect(own.status == 0, "the rolled-back folder is consistent with itself: \(own.output)")
        let witnessed = try setup.run(["audit", "verify", "--key", setup.verifier, "--checkpoint", copies[1]])
        #expect(witnessed.status == 1, "\(witnessed.output)")
        #expect(witnessed.output.contains(copies[1]), "the partner's checkpoint is named: \(witnessed.output)")
    }
}
