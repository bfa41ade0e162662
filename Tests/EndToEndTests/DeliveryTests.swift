import Foundation
import TestSupport
import Testing

/// Delivery over real TLS to the partner sandbox, driving the real binary.
@Suite("Delivery over HTTPS", .serialized)
struct DeliveryEndToEndTests {
    @Test("retries through 500, 503, 429 with Retry-After, a dropped connection and a stall, then delivers; same key, valid signature", arguments: LedgerKind.allCases)
    func retriesThenDelivers(ledger: LedgerKind) throws {
        // The 429 comes first: after a first attempt the backoff's own wait is under a second, so only an honoured
        // Retry-After: 2 makes the next request wait two. The stall comes before the drop: a timed-out connection is
        // closed, so the drop meets a fresh one (libcurl transparently retries a request once when a *reused*
        // connection turns out dead).
        let faults: [[String: Any]] = [["status": 429, "retry_after": 2], ["status": 500], ["status": 503],
                                       ["stall": 4, "status": 503], ["drop": true]]
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: faults), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 5, maxAttempts: 6, timeout: 2, ledger: ledger)
        let result = try fixture.run(["run", "acme", "--json"])
        #expect(result.status == 0, "\(result.output)")

        // The stalled request is recorded when its late answer is written, after the client gave up on it: the
        // binary's exit is no event for it, so the log is read until its sixth request is there.
        for _ in 0..<100 where sandbox.requests().count < 6 { usleep(50_000) }
        let requests = sandbox.requests().filter { $0.path == "/feeds/acme" }.sorted { $0.time < $1.time }
        #expect(requests.count == 6)
        #expect(requests.first?.status == 429)
        if requests.count > 1 {
            #expect(requests[1].time - requests[0].time >= 1.9, "Retry-After: 2 was not honoured: \(requests[1].time - requests[0].time) s")
        }
        #expect(Set(requests.compactMap(\.idempotencyKey)).count == 1, "one idempotency key on every attempt")
        #expect(requests.map(\.status).sorted { ($0 ?? 0) < ($1 ?? 0) } == [nil, 200, 429, 500, 503, 503])
        let delivered = try #require(requests.first { $0.acknowledged })
        #expect(delivered.acknowledged && delivered.signatureValid == true)
        #expect(requests.allSatisfy { $0.signatureValid == true })
        #expect(delivered.headers["webhook-id"] == delivered.idempotencyKey)

        let rows = try fixture.query("SELECT id, status, attempts, in_doubt FROM deliveries")
        #expect(rows.count == 1)
        #expect(rows.first?[0] == delivered.idempotencyKey)
        #expect(rows.first?[1] == "delivered" && rows.first?[2] == "6")
        let attempts = try fixture.query("SELECT outcome, http_status, curl_code FROM attempts ORDER BY number")
        #expect(attempts.map { $0[0] } == ["retry", "retry", "retry", "retry", "retry", "delivered"])
        #expect(attempts[3][2] == "28", "a stalled answer times out (curl 28)")
        #expect(attempts[4][2] == "52", "a dropped connection is curl 52")
        #expect(try fixture.query("SELECT count(*) FROM disclosures").first?[0] == "5")
        let summary = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let partner = (summary?["partners"] as? [[String: Any]])?.first
        #expect(partner?["status"] as? String == "delivered")
        #expect(partner?["retries"] as? Int == 5)
        #expect(partner?["records"] as? Int == 5)
    }

    @Test("a partner that reads the whole request and answers only 1xx (100, 102, 103), then nothing: in doubt, resent under its own id, the customer's disclosure kept though they withdrew meanwhile",
          arguments: [100, 102, 103], LedgerKind.allCases)
    func informationalOnly(_ status: Int, ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["informational": status]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 15, maxRecords: 10, maxAttempts: 1, timeout: 5, ledger: ledger)
        let first = try fixture.run(["run", "acme"])
        #expect(first.status == 1, "\(first.output)")
        let rows = try fixture.query("SELECT batch, status, in_doubt FROM deliveries ORDER BY batch")
        #expect(rows.first?[1] == "failed" && ["1", "t", "true"].contains(rows.first?[2] ?? ""), "in doubt, not plainly failed: \(rows)")
        let inDoubt = try #require(sandbox.requests().first?.idempotencyKey)
        // Customer 3 (in that batch) withdraws before the rerun: the batch may have reached the partner,
        // so it goes out again under its own id, never superseded, and the disclosure stands.
        try fixture.withdraw(3)
        let rerun = try fixture.run(["rerun", "--failed"])
        #expect(rerun.status == 0, "\(rerun.output)")
        #expect(sandbox.requests().filter { $0.idempotencyKey == inDoubt }.count == 2, "resent under its own id")
        let three = try JSONSerialization.jsonObject(with: Data(try fixture.run(["disclosures", "3", "--json"]).stdout.utf8))
            as? [[String: Any]] ?? []
        #expect(three.contains { $0["kind"] as? String == "disclosure" && $0["delivery"] as? String == inDoubt }, "\(three)")
        #expect(try fixture.run(["deliveries", "--failed", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    @Test("permanent answers are not retried: the delivery is rejected, the later batches held, run exits 1, nothing is disclosed",
          arguments: [400, 401, 403, 302, 501], LedgerKind.allCases)
    func permanentFailure(_ status: Int, ledger: LedgerKind) throws {
        var fault: [String: Any] = ["status": status]
        if status == 302 { fault["location"] = "https://elsewhere.example/" }
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [fault]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 25, maxRecords: 10, ledger: ledger)
        let result = try fixture.run(["run", "acme"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stdout.contains("NOT EVERYTHING WAS DELIVERED"))
        #expect(sandbox.requests().count == 1, "not retried, and later batches not sent")
        // The whole feed is rendered and recorded; what was not sent stays owed (held), never superseded.
        let rows = try fixture.query("SELECT batch, status, attempts, last_http_status, last_error, payload_path, payload_pruned_at "
                                     + "FROM deliveries ORDER BY batch")
        #expect(rows.map { $0[0] } == ["1", "2", "3"])
        #expect(rows.first?[1] == "rejected" && rows.first?[2] == "1")
        #expect(rows.first?[3] == String(status))
        for row in rows {
            #expect(fixture.payloadExists(row[5]) && row[6] == nil, "an owed delivery keeps its payload for the rerun")
        }
        for row in rows.dropFirst() {
            #expect(row[1] == "held" && row[2] == "0", "\(row)")
            #expect(row[4]?.contains("batch 1") == true, "\(row)")
        }
        #expect(try fixture.query("SELECT count(*) FROM disclosures").first?[0] == "0")
        let failed = try fixture.run(["deliveries", "--failed", "--json"])
        let list = try JSONSerialization.jsonObject(with: Data(failed.stdout.utf8)) as? [[String: Any]]
        #expect(list?.count == 3)
        let rejected = list?.first { $0["status"] as? String == "rejected" }
        #expect(rejected?["last_http_status"] as? Int == status)
        #expect(rejected?["last_error_code"] as? String == "delivery.rejected")
        #expect(list?.filter { $0["status"] as? String == "held" }.count == 2)
        let disclosures = try fixture.run(["disclosures", "1", "--json"])
        #expect(disclosures.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    @Test("a wrong bearer token is answered 401 and rejected")
    func wrongToken() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3)
        let result = try fixture.run(["run", "acme"], extra: ["ACME_TOKEN": "tok_rotated_but_not_here"])
        #expect(result.status == 1)
        #expect(try fixture.query("SELECT status, last_http_status FROM deliveries").first == ["rejected", "401"])
    }

    @Test("a server whose certificate the configured CA did not sign is refused, and not retried")
    func untrustedServer() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets, rogue: true)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3)
        let result = try fixture.run(["run", "acme"])
        #expect(result.status == 1)
        #expect(sandbox.requests().isEmpty, "nothing may be sent to an untrusted server")
        let row = try #require(try fixture.query("SELECT status, attempts, last_error FROM deliveries").first)
        #expect(row[0] == "failed" && row[1] == "1")
        #expect(row[2]?.contains("curl 60") == true, "\(row)")
        #expect(try fixture.query("SELECT count(*) FROM disclosures").first?[0] == "0")
    }

    @Test("a pinned public key that matches is accepted; one that does not is refused at once")
    func pinnedKey() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let pin = try publicKeyPin(Sandbox.pki("server.pem"))
        let good = try DeliveryFixture(sandbox: sandbox, customers: 2, acme: "  pinned_public_key: \"sha256//\(pin)\"")
        #expect(try good.run(["run", "acme"]).status == 0)
        let wrong = try publicKeyPin(Sandbox.pki("client.pem"))
        let bad = try DeliveryFixture(sandbox: sandbox, customers: 2, acme: "  pinned_public_key: \"sha256//\(wrong)\"")
        #expect(try bad.run(["run", "acme"]).status == 1)
        let row = try #require(try bad.query("SELECT status, attempts, last_error FROM deliveries").first)
        #expect(row[0] == "failed" && row[1] == "1" && row[2]?.contains("curl 90") == true, "\(row)")
    }

    /// The base64 SHA-256 of a certificate's public key, as libcurl's pinning wants it.
    private func publicKeyPin(_ certificate: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "openssl x509 -in '\(certificate)' -pubkey -noout | openssl pkey -pubin -outform der "
                             + "| openssl dgst -sha256 -binary | base64"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("mTLS works with the client certificate and fails without it; gzip and PUT arrive intact")
    func mutualTLS() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let with = try DeliveryFixture(sandbox: sandbox, customers: 12, maxAttempts: 2, globex: true)
        let ok = try with.run(["run", "globex"])
        #expect(ok.status == 0, "\(ok.output)")
        let received = sandbox.requests().filter { $0.path == "/feeds/globex" }
        #expect(received.count == 2 && received.allSatisfy { $0.clientCertificate && $0.acknowledged && $0.method == "PUT" })
        #expect(received.allSatisfy { $0.headers["content-encoding"] == "gzip" })
        let payloads = try with.query("SELECT sha256 FROM deliveries ORDER BY batch").map { $0[0] ?? "" }
        #expect(received.map(\.bodySHA256) == payloads, "the decompressed body is the recorded payload")
        let body = try #require(received.first?.body)
        let document = try StrictXML(Array(body))
        #expect(document.records.count == 10)

        let without = try DeliveryFixture(sandbox: sandbox, customers: 3, maxAttempts: 2, globex: true, globexClientCertificate: false)
        let refused = try without.run(["run", "globex"])
        #expect(refused.status == 1)
        #expect(sandbox.requests().filter { $0.path == "/feeds/globex" }.count == received.count,
                "no request got through without a certificate")
        #expect(try without.query("SELECT status, last_error_code, in_doubt, attempts FROM deliveries").first
                == ["failed", "delivery.setup", "0", "1"], "not in doubt: a refused handshake carries no request")
        #expect(refused.stdout.contains("asks for a TLS client certificate and the contract names none"), "\(refused.output)")
    }

    @Test("rerun after a withdrawal sends the batch without that customer; disclosures show nothing new for them", arguments: LedgerKind.allCases)
    func rerunAfterWithdrawal(ledger: LedgerKind) throws {
        let failTwice: [[String: Any]] = [["status": 503], ["status": 503]]
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: failTwice), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 6, maxAttempts: 2, ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 1)
        let failed = try #require(try fixture.query("SELECT id, record_count FROM deliveries WHERE status = 'failed'").first)
        #expect(failed[1] == "6")

        try fixture.withdraw(4)
        let rerun = try fixture.run(["rerun", "--failed", "--json"])
        #expect(rerun.status == 0, "\(rerun.output)")
        let summary = try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any]
        let actions = ((summary?["partners"] as? [[String: Any]])?.first?["actions"] as? [[String: Any]]) ?? []
        #expect(actions.map { $0["action"] as? String } == ["replaced", "sent"], "\(actions)")

        let last = try #require(sandbox.requests().last)
        #expect(last.acknowledged && last.idempotencyKey != failed[0])
        let lastBody = try #require(last.body)
        let feed = try #require(try JSONSerialization.jsonObject(with: lastBody) as? [String: Any])
        #expect((feed["records"] as? [Any])?.count == 5)
        let rows = try fixture.query("SELECT id, status, superseded_by, supersedes, payload_path FROM deliveries ORDER BY seq")
        #expect(rows.count == 2)
        #expect(rows[0][1] == "superseded" && rows[0][2] == last.idempotencyKey)
        #expect(rows[1][1] == "delivered" && rows[1][3] == failed[0])
        // The old payload still held the withdrawn customer's record: it goes with the supersession.
        #expect(!fixture.payloadExists(rows[0][4]))
        #expect(fixture.payloadExists(rows[1][4]))

        let withdrawn = try fixture.run(["disclosures", "4", "--json"])
        #expect(withdrawn.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        let other = try JSONSerialization.jsonObject(with: Data(try fixture.run(["disclosures", "5", "--json"]).stdout.utf8)) as? [[String: Any]]
        #expect(other?.count == 1)
        #expect(other?.first?["delivery"] as? String == last.idempotencyKey)
        #expect(other?.first?["consent_scope"] as? String == "partner-offers")
        #expect(other?.first?["fields"] as? [String] == ["ref", "email_sha256", "firstName", "country"])
    }

    @Test("rerun with unchanged records resends the very same bytes under the same delivery id", arguments: LedgerKind.allCases)
    func rerunSameBytes(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 503], ["status": 503]]),
                                  environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 4, maxAttempts: 2, ledger: ledger)
        #expect(try fixture.run(["run", "acme"]).status == 1)
        let id = try #require(try fixture.query("SELECT id FROM deliveries").first?[0] ?? nil)
        let rerun = try fixture.run(["rerun", id])
        #expect(rerun.status == 0, "\(rerun.output)")
        #expect(rerun.stdout.contains("same records: resent as \(id)"), "\(rerun.stdout)")
        let requests = sandbox.requests()
        #expect(requests.count == 3)
        #expect(Set(requests.compactMap(\.idempotencyKey)) == [id])
        #expect(Set(requests.map(\.bodySHA256)).count == 1, "identical bytes")
        #expect(try fixture.query("SELECT status, attempts FROM deliveries").first == ["delivered", "3"])
        // Nothing left to rerun; a delivered delivery is refused by name.
        #expect(try fixture.run(["rerun", "--failed"]).stdout.contains("No failed, rejected or held deliveries"))
        #expect(try fixture.run(["rerun", id]).status == 2)
    }

    @Test("two runs cannot overlap: the second exits 75 and changes nothing", arguments: LedgerKind.allCases)
    func lock(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["stall": 3]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3, timeout: 10, ledger: ledger)
        let first = Process()
        first.executableURL = Binary.url
        first.arguments = ["run", "acme"] + fixture.options
        first.environment = fixture.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
        first.standardOutput = FileHandle.nullDevice
        try first.run()
        // The first run holds the lock once its attempt is recorded; the partner stalls it for 3 s.
        #expect(fixture.waitUntil("SELECT count(*) FROM attempts"))
        let second = try fixture.run(["run", "acme"])
        #expect(second.status == 75, "\(second.output)")
        #expect(second.stderr.contains("holds the lock"))
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(try fixture.query("SELECT count(*) FROM runs").first?[0] == "1")
    }
}
