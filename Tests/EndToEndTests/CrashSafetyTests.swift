import DemoData
import Foundation
import TestSupport
import Testing

@Suite("Crash safety and secrecy", .serialized)
struct CrashSafetyTests {
    /// kill -9 at random instants over many runs, then one clean run: nothing lost, nothing pending,
    /// the ledger and the partner agree on every delivery id.
    @Test("kill -9 at random points, then a clean run: the ledger and the partner agree", arguments: LedgerKind.allCases)
    func killNine(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3000, maxRecords: 10, ledger: ledger)
        var generator = SplitMix64(seed: 20261127)  // a reproducible kill schedule
        var killed = 0
        for round in 0..<24 {
            let startedRuns = Int((try? fixture.query("SELECT count(*) FROM runs"))?.first?[0] ?? "0") ?? 0
            let process = try fixture.launch(["run", "acme"])
            if round % 2 == 0 {
                // Early: opening the ledger, recovering, rendering the first batches.
                usleep(UInt32.random(in: 0...80_000, using: &generator))
            } else {
                // Mid-feed: after a chosen number of this run's attempts were recorded (whatever the machine's speed).
                let target = Int.random(in: 1...200, using: &generator)
                _ = fixture.waitUntil("SELECT count(*) >= \(target) FROM attempts WHERE run_id = (SELECT id FROM runs "
                                      + "ORDER BY rowid DESC LIMIT 1) AND (SELECT count(*) FROM runs) > \(startedRuns)", seconds: 60)
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                killed += 1
            }
            process.waitUntilExit()
        }
        // A feed of 300 batches takes far longer than the longest wait above: every run was cut short.
        #expect(killed == 24, "\(killed) of 24 runs were killed mid-way")
        let clean = try fixture.run(["run", "acme", "--json"])
        #expect(clean.status == 0, "\(clean.output)")

        if ledger == .sqlite { #expect(try fixture.query("PRAGMA integrity_check").first?[0] == "ok") }
        #expect(try fixture.query("SELECT count(*) FROM deliveries WHERE status = 'pending'").first?[0] == "0", "nothing left pending")
        #expect(try fixture.run(["deliveries", "--failed", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]",
                 "the clean run's complete feed replaced whatever the killed ones owed")
        let ledger = Dictionary(uniqueKeysWithValues: try fixture.query("SELECT id, status FROM deliveries").map { ($0[0] ?? "", $0[1] ?? "") })
        let requests = sandbox.requests()
        let received = Set(requests.compactMap(\.idempotencyKey))
        let acknowledged = Set(requests.filter(\.acknowledged).compactMap(\.idempotencyKey))
        let delivered = Set(ledger.filter { $0.value == "delivered" }.keys)
        #expect(delivered.isSubset(of: acknowledged), "the ledger calls delivered only what the partner acknowledged")
        #expect(received.isSubset(of: Set(ledger.keys)), "every id the partner received is in the ledger")
        #expect(acknowledged == delivered, "every acknowledged delivery is recorded as delivered: nothing lost")
        let disclosed = try fixture.query("SELECT count(*) FROM disclosures WHERE kind = 'disclosure'").first?[0]
        let recorded = try fixture.query("SELECT coalesce(sum(record_count), 0) FROM deliveries WHERE status = 'delivered'").first?[0]
        #expect(disclosed != nil && disclosed == recorded)
        // The last run delivered the whole feed.
        let last = try fixture.query("SELECT count(*), sum(record_count) FROM deliveries WHERE run_id = "
                                     + "(SELECT id FROM runs WHERE status = 'succeeded' ORDER BY started_at DESC LIMIT 1) "
                                     + "AND status = 'delivered'").first
        #expect(last?[1] == "3000")
        let duplicates = requests.filter { $0.duplicate }.count
        let superseded = ledger.values.filter { $0 == "superseded" }.count
        print("kill -9 matrix: \(killed) of 24 runs killed; \(ledger.count) deliveries recorded, \(delivered.count) delivered, "
              + "\(superseded) superseded unsent; \(requests.count) requests received, \(duplicates) duplicate deliveries "
              + "(same id resent after a crash); lost: \(acknowledged.subtracting(delivered).count)")
    }

    @Test("no token, signing secret, pseudonym key, password or card number in any output, log, ledger row or payload; owner-only files")
    func secretsNeverLeak() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 503], ["status": 503], ["status": 400]]),
                                  environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 15, maxRecords: 5, maxAttempts: 2, globex: true)
        var outputs: [String] = []
        for arguments in [["validate"], ["preview", "acme", "--json"], ["preview", "globex", "--reveal"], ["run", "--all"],
                          ["deliveries", "--json", "--show-answers"], ["deliveries", "--failed"], ["rerun", "--failed"],
                          ["disclosures", "3", "--json"], ["disclosures", "3"], ["run", "--all", "--json"]] {
            let result = try fixture.run(arguments, extra: ["PARTNER_EXPORT_LOG_LEVEL": "trace"])
            #expect(result.status != 2, "\(arguments): \(result.output)")
            #expect(!result.output.isEmpty, "\(arguments) printed nothing to scan")
            outputs.append(result.output)
        }
        var secrets = DeliveryFixture.secrets.filter { $0.key != "PARTNER_EXPORT_RETRY_BASE_SECONDS" }.map(\.value)
        let signing = DeliveryFixture.secrets["ACME_SIGNING_SECRET"] ?? ""
        secrets.append(String(decoding: Data(base64Encoded: String(signing.dropFirst(6))) ?? Data(), as: UTF8.self))
        secrets.append("4111111111111111")  // every fixture customer's (test) card number
        secrets.append("12/29")  // and its expiry
        let stateFolder = fixture.stateFolder
        let files = TestFiles.files(under: stateFolder)
        #expect(files.contains { $0.hasSuffix(".json") } && files.contains { $0.hasSuffix(".xml") })
        // The scan finds what is there: the revealed preview shows a first name, the XML payloads hold e-mail addresses in clear.
        #expect(outputs[2].contains("Anna"), "the scan of outputs must be able to see a value")
        #expect(try files.filter { $0.hasSuffix(".xml") }.contains {
            try Data(contentsOf: URL(fileURLWithPath: $0)).range(of: Data("@example.com".utf8)) != nil
        }, "the scan of files must be able to see a value")
        for secret in secrets {
            for output in outputs { #expect(!output.contains(secret), "a secret in the output") }
            for file in files {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "a secret or card number in \(file)")
            }
        }
        for file in files { #expect(TestFiles.mode(of: file) == 0o600, "\(file) is not owner-only") }
        for folder in Set(files.map { ($0 as NSString).deletingLastPathComponent }) {
            #expect(TestFiles.mode(of: folder) == 0o700, "\(folder) is not owner-only")
        }
    }
}
