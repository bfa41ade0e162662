import Foundation
import SQLite
import TestSupport
import Testing

/// The real `partner-export` binary, run as an operator would, on a generated database.
@Suite("partner-export end to end")
struct EndToEndTests {
    static let keys = ["ACME_PSEUDONYM_KEY": "e2e-acme-pseudonym-key-0001", "GLOBEX_PSEUDONYM_KEY": "e2e-globex-pseudonym-key-01",
                       "INITECH_PSEUDONYM_KEY": "e2e-initech-pseudonym-key-1"]
    let config = TestFiles.packageRoot.path

    func run(_ arguments: [String], _ environment: [String: String] = keys, in folder: URL? = nil) throws -> Binary.Result {
        try Binary.run(arguments, environment: environment, in: folder)
    }

    @Test("validate accepts the shipped configuration and says what it checked")
    func validateShipped() throws {
        let result = try run(["validate", "--config", config])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("Checked 8 files"), "3 contracts, 3 mappings, the catalog and the policy")
        #expect(result.stdout.contains("acme-offers") && result.stdout.contains("globex-programs")
                && result.stdout.contains("initech-insights"))
    }

    @Test("validate refuses a broken configuration with exit 2 and file:line")
    func validateBroken() throws {
        let folder = TestFiles.temporaryDirectory("e2e-config")
        for dir in ["partners", "mappings", "schemas"] {
            try FileManager.default.copyItem(atPath: "\(config)/\(dir)", toPath: folder.appendingPathComponent(dir).path)
        }
        let mapping = folder.appendingPathComponent("mappings/acme-offers.yaml")
        let original = try String(contentsOf: mapping, encoding: .utf8)
        try (original + "  - {name: pan, from: card_number}\n").write(to: mapping, atomically: true, encoding: .utf8)
        let line = original.split(separator: "\n", omittingEmptySubsequences: false).count
        let result = try run(["validate", "--config", folder.path])
        #expect(result.status == 2)
        #expect(result.stdout.contains("mappings/acme-offers.yaml:\(line): from: 'card_number' is cardholder data"), "\(result.stdout)")
        // preview and run refuse too, before reading anything.
        let preview = try run(["preview", "acme-offers", "--config", folder.path, "--db", "/nonexistent.sqlite"])
        #expect(preview.status == 2)
        #expect(preview.stderr.contains("mappings/acme-offers.yaml:\(line):"))
    }

    @Test("usage errors and unknown partners exit 2")
    func usage() throws {
        #expect(try run(["run", "--config", config]).status == 2)
        #expect(try run(["preview", "--config", config]).status == 2)
        #expect(try run(["frobnicate"]).status == 2)
        let folder = TestFiles.temporaryDirectory("e2e")
        let db = folder.appendingPathComponent("c.sqlite").path
        #expect(try run(["demo-data", "--customers", "10", "--db", db]).status == 0)
        let unknown = try run(["preview", "nobody", "--config", config, "--db", db])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("there is no partner 'nobody'"))
    }

    @Test("a missing pseudonym key stops preview with exit 2; a short one fails that partner's run (exit 1); the variable is named, never the value")
    func missingKey() throws {
        let folder = TestFiles.temporaryDirectory("e2e")
        let db = folder.appendingPathComponent("c.sqlite").path
        #expect(try run(["demo-data", "--customers", "10", "--db", db]).status == 0)
        let missing = try run(["preview", "acme-offers", "--config", config, "--db", db], [:])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("ACME_PSEUDONYM_KEY"))
        let short = try run(["run", "--all", "--dry-run", "--config", config, "--db", db],
                            ["ACME_PSEUDONYM_KEY": "tooShort9", "GLOBEX_PSEUDONYM_KEY": Self.keys["GLOBEX_PSEUDONYM_KEY"]!,
                             "INITECH_PSEUDONYM_KEY": Self.keys["INITECH_PSEUDONYM_KEY"]!])
        #expect(short.status == 1, "a partner's own secret fails that partner only: \(short.output)")
        #expect(short.stderr.contains("ACME_PSEUDONYM_KEY is 9 bytes"))
        #expect(short.stdout.contains("globex-programs") && short.stdout.contains("acme-offers"))
        #expect(!short.output.contains("tooShort9"))
    }

    @Test("demo-data, preview and a dry run on a generated database; files are owner-only; no secret or card number leaks")
    func demoFlow() throws {
        let folder = TestFiles.temporaryDirectory("e2e")
        let db = folder.appendingPathComponent("customers.sqlite").path
        let state = folder.appendingPathComponent("state/ledger.sqlite").path
        let generated = try run(["demo-data", "--customers", "3000", "--seed", "9", "--db", db])
        #expect(generated.status == 0, "\(generated.output)")
        #expect(generated.stdout.contains("Wrote 3,000 synthetic customers"))
        #expect(try run(["demo-data", "--customers", "5", "--db", db]).status == 2, "refuses to overwrite without --force")

        let out = folder.appendingPathComponent("acme.json").path
        let preview = try run(["preview", "acme-offers", "--config", config, "--db", db, "--out", out])
        #expect(preview.status == 0, "\(preview.output)")
        #expect(preview.stdout.contains("Sample records (masked"))
        #expect(TestFiles.mode(of: out) == 0o600)
        let feed = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let records = try #require(feed["records"] as? [[String: Any]])
        #expect(records.count == feed["record_count"] as? Int)
        #expect(Set(records.flatMap(\.keys)) == ["customer_ref", "email_sha256", "firstName", "country", "postcode_area",
                                                 "services", "customer_since"])

        let json = try run(["preview", "acme-offers", "--config", config, "--db", db, "--json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(report["rendered"] as? Int == records.count)
        #expect((report["customers"] as? Int) == 3000)
        let excluded = try #require(report["excluded"] as? [String: Int])
        #expect((report["eligible"] as? Int ?? 0) + excluded.values.reduce(0, +) == 3000)

        let dry = try run(["run", "--all", "--dry-run", "--json", "--config", config, "--db", db, "--state", state])
        #expect(dry.status == 0, "\(dry.output)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any])
        let partners = try #require(summary["partners"] as? [[String: Any]])
        #expect(partners.map { $0["partner"] as? String } == ["acme-offers", "globex-programs", "initech-insights"])
        #expect(partners.first?["records"] as? Int == records.count)
        let written = TestFiles.files(under: folder.appendingPathComponent("state").path)
        #expect(written.count >= 3)
        for file in written + [out] {
            #expect(TestFiles.mode(of: file) == 0o600, "\(file)")
            let bytes = try String(contentsOfFile: file, encoding: .utf8)
            for secret in Self.keys.values { #expect(!bytes.contains(secret)) }
            for pan in ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"] {
                #expect(!bytes.contains(pan), "card number in \(file)")
            }
        }
        let globex = try #require(written.first { $0.hasSuffix("batch-000001.xml") })
        let document = try StrictXML(Array(try Data(contentsOf: URL(fileURLWithPath: globex))))
        #expect(document.rootName == "enrolments")
        for output in [generated.output, preview.output, json.output, dry.output] {
            for secret in Self.keys.values { #expect(!output.contains(secret)) }
        }
    }
}
