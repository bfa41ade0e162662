import ExportCore
import Foundation
import SQLite
import Testing
import TestSupport

/// A ledger made by the previous release, opened by this one: the history is kept and keeps proving
/// itself. The fixtures under `Upgrade/<version>/` were made by that release's own binary (see
/// ``makeFixture``); this release must read them, verify their old checkpoints, answer for their
/// customers and complete the feed they left owed.
@Suite("Upgrading from the previous release", .serialized)
struct UpgradeTests {
    static let previous = "0.1.0"
    static let fixtures = TestFiles.packageRoot.appendingPathComponent("Tests/EndToEndTests/Upgrade/\(previous)")

    /// The previous release's history, copied into a fresh fixture: its customers, its ledger (the
    /// SQLite file and payloads, or the PostgreSQL schema loaded from its dump), its checkpoints.
    struct Restored {
        let sandbox: Sandbox
        let fixture: DeliveryFixture
        let verifier: String
        let checkpoints: [String]

        init(_ kind: LedgerKind) throws {
            let source = UpgradeTests.fixtures.appendingPathComponent(kind.rawValue)
            sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
            fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 10, maxAttempts: 2, ledger: kind)
            let files = FileManager.default
            try files.removeItem(atPath: fixture.database)
            try files.copyItem(atPath: source.appendingPathComponent("customers.sqlite").path, toPath: fixture.database)
            let state = fixture.stateFolder
            try? files.removeItem(atPath: state)
            try files.createDirectory(atPath: state, withIntermediateDirectories: true)
            chmod(state, 0o700)
            switch kind {
            case .sqlite:
                try files.copyItem(atPath: source.appendingPathComponent("ledger.sqlite").path, toPath: fixture.state)
                try files.copyItem(atPath: source.appendingPathComponent("payloads").path, toPath: state + "/payloads")
            case .postgres:
                let psql = try PostgresTools.program("psql")
                let loaded = try Binary.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", source.appendingPathComponent("ledger.sql").path,
                                             fixture.state], executable: URL(fileURLWithPath: "/usr/bin/env"))
                #expect(loaded.status == 0, "\(loaded.output)")
            }
            let kept = source.appendingPathComponent("checkpoints")
            try files.copyItem(atPath: kept.path, toPath: state + "/checkpoints")
            checkpoints = try files.contentsOfDirectory(atPath: state + "/checkpoints").filter { $0.hasSuffix(".txt") }.sorted()
                .map { state + "/checkpoints/" + $0 }
            verifier = try String(contentsOf: source.appendingPathComponent("verifier.txt"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func verifyOldCheckpoints() throws -> Binary.Result {
            try fixture.run(["audit", "verify", "--key", verifier] + checkpoints.flatMap { ["--checkpoint", $0] })
        }
    }

    @Test("a ledger of the previous release: its old checkpoints verify, its customers are answered for, and a rerun completes its owed feed",
          arguments: LedgerKind.allCases)
    func previousRelease(ledger: LedgerKind) throws {
        let restored = try Restored(ledger)
        let fixture = restored.fixture
        #expect(restored.checkpoints.count == 2, "the fixture holds the checkpoints of its two runs")

        // First open by this release (a read-only command still migrates nothing it must not).
        let before = try restored.verifyOldCheckpoints()
        #expect(before.status == 0, "the previous release's checkpoints verify against its ledger opened by this one: \(before.output)")

        // Who received customer 5's data: both runs of the previous release (its first batch went through both times).
        let disclosures = try fixture.run(["disclosures", "5", "--json"])
        #expect(disclosures.status == 0, "\(disclosures.output)")
        let rows = try JSONSerialization.jsonObject(with: Data(disclosures.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows.count == 2 && rows.allSatisfy { $0["partner"] as? String == "acme" }, "\(disclosures.stdout)")

        // What the previous release left owed: its second run's second batch failed, the third (the
        // rest of the records) and the fourth (the notice for customer 3) were held.
        let owed = try fixture.run(["deliveries", "--failed", "--json"])
        let owedRows = try JSONSerialization.jsonObject(with: Data(owed.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(owedRows.count == 3, "\(owed.output)")
        let owedRecordBatches = Set(owedRows.filter { ($0["record_count"] as? Int ?? 0) > 0 }.compactMap { $0["id"] as? String })
        #expect(owedRecordBatches.count == 2, "\(owed.output)")

        let rerun = try fixture.run(["rerun", "--failed"])
        #expect(rerun.status == 0, "\(rerun.output)")
        // The partner now holds what was owed: the records of customers 12-30 (11 went in the batch that
        // got through), sent under the ids the previous release gave their batches, and the notice
        // for customer 3 (its batch made again at the rerun, as notices are).
        let sent = restored.sandbox.requests().filter { $0.path == "/feeds/acme" && $0.acknowledged }.compactMap(\.idempotencyKey)
        #expect(owedRecordBatches.isSubset(of: Set(sent)) && sent.count == 3, "resent under their own ids: \(sent) vs \(owedRows)")
        let view = try restored.sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(view.notices.map(\.key) == [DeliveryFixture.acmeRef(3)], "\(view.notices)")
        #expect(Set(view.records.keys) == Set((12...30).map { DeliveryFixture.acmeRef(Int64($0)) }), "\(view.records.count) records")
        let after = try fixture.run(["deliveries", "--failed", "--json"])
        #expect(after.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "nothing owed any more: \(after.output)")

        // The log grew over the old one: the old checkpoints still verify (consistency with the new tree).
        let grown = try restored.verifyOldCheckpoints()
        #expect(grown.status == 0, "\(grown.output)")
        let disclosed = try fixture.run(["disclosures", "12", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(disclosed.stdout.utf8)) as? [[String: Any]] ?? []).count == 2,
                "customer 12: the previous release's first run and this release's rerun: \(disclosed.stdout)")
    }

    @Test("a ledger written by a newer release is refused untouched", arguments: LedgerKind.allCases)
    func newerRefused(ledger: LedgerKind) throws {
        let restored = try Restored(ledger)
        let fixture = restored.fixture
        switch ledger {
        case .sqlite:
            let db = try fixture.ledgerForWriting()
            try db.execute("PRAGMA user_version = 99")
        case .postgres:
            let psql = try PostgresTools.program("psql")
            let bumped = try Binary.run([psql, "-X", "-q", "-c", "UPDATE partner_export.schema_version SET version = 99", fixture.state],
                                        executable: URL(fileURLWithPath: "/usr/bin/env"))
            #expect(bumped.status == 0, "\(bumped.output)")
        }
        let before = try snapshot(fixture)
        for command in [["deliveries"], ["rerun", "--failed"], ["run", "acme"]] {
            let refused = try fixture.run(command)
            #expect(refused.status == 2, "\(command): \(refused.output)")
            #expect(refused.stderr.contains("newer partner-export"), "\(command): \(refused.stderr)")
        }
        #expect(try snapshot(fixture) == before, "nothing in the ledger changed")
        #expect(restored.sandbox.requests().isEmpty, "nothing was sent")
    }

    /// What the ledger holds, to compare before and after: the SQLite file's bytes, or every row of every table.
    private func snapshot(_ fixture: DeliveryFixture) throws -> String {
        switch fixture.ledgerKind {
        case .sqlite:
            var hasher = SHA256Hasher()
            hasher.update(Array(try Data(contentsOf: URL(fileURLWithPath: fixture.state))))
            return hasher.hexDigest()
        case .postgres:
            var text = ""
            for table in try fixture.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'partner_export' ORDER BY 1") {
                let name = table[0] ?? ""
                text += name + ":" + (try fixture.query("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM partner_export.\(name) AS t")
                    .first?[0] ?? "") + "\n"
            }
            return text
        }
    }

    /// Makes the fixtures with the previous release's binary (not a test: run by hand when a release is
    /// cut): `PARTNER_EXPORT_MAKE_UPGRADE_FIXTURE=/path/to/previous/partner-export swift test --filter makeFixture`.
    /// Two runs of the JSON partner (30 customers, batches of 10): the first delivers everything; then
    /// customer 3 withdraws and the second run's second batch fails twice, so its feed is owed.
    @Test("makes the upgrade fixtures with the previous release's binary",
          .enabled(if: ProcessInfo.processInfo.environment["PARTNER_EXPORT_MAKE_UPGRADE_FIXTURE"] != nil),
          arguments: LedgerKind.allCases)
    func makeFixture(ledger: LedgerKind) throws {
        let old = URL(fileURLWithPath: ProcessInfo.processInfo.environment["PARTNER_EXPORT_MAKE_UPGRADE_FIXTURE"] ?? "")
        let version = try Binary.run(["--version"], executable: old)
        #expect(version.stdout.hasPrefix(Self.previous), "\(version.output)")
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 10, maxAttempts: 2, ledger: ledger)
        let keys = TestFiles.temporaryDirectory("keys")
        chmod(keys.path, 0o700)
        let key = ["PARTNER_EXPORT_AUDIT_KEY_FILE": keys.appendingPathComponent("audit.key").path]
        func run(_ arguments: [String]) throws -> Binary.Result {
            try Binary.run(arguments + fixture.options, environment: fixture.environment.merging(key) { $1 }, executable: old)
        }
        let initialised = try run(["audit", "init", "--name", "upgrade.example"])
        #expect(initialised.status == 0, "\(initialised.output)")
        let verifier = initialised.stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix("upgrade.example+") } ?? ""
        #expect(try run(["run", "acme"]).status == 0)
        try fixture.withdraw(3)
        try sandbox.addFaults([[:], ["status": 503], ["status": 503]], path: "/feeds/acme")
        #expect(try run(["run", "acme"]).status == 1)

        let target = Self.fixtures.appendingPathComponent(ledger.rawValue)
        let files = FileManager.default
        try? files.removeItem(at: target)
        try files.createDirectory(at: target, withIntermediateDirectories: true)
        try files.copyItem(atPath: fixture.database, toPath: target.appendingPathComponent("customers.sqlite").path)
        try files.copyItem(atPath: fixture.stateFolder + "/checkpoints", toPath: target.appendingPathComponent("checkpoints").path)
        try Data((verifier + "\n").utf8).write(to: target.appendingPathComponent("verifier.txt"))
        switch ledger {
        case .sqlite:
            let db = try fixture.ledgerForWriting()
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            try files.copyItem(atPath: fixture.state, toPath: target.appendingPathComponent("ledger.sqlite").path)
            try files.copyItem(atPath: fixture.stateFolder + "/payloads", toPath: target.appendingPathComponent("payloads").path)
        case .postgres:
            let dump = try Binary.run([try PostgresTools.program("pg_dump"), "--no-owner", "--no-privileges", "-n", "partner_export",
                                       "-f", target.appendingPathComponent("ledger.sql").path, fixture.state],
                                      executable: URL(fileURLWithPath: "/usr/bin/env"))
            #expect(dump.status == 0, "\(dump.output)")
        }
    }
}
