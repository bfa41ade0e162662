import Foundation
@testable import Ledger
import SQLite
import Testing

@Suite("Ledger")
struct LedgerTests {
    func ledger() throws -> Ledger {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)/state")
        return try Ledger(path: folder.appendingPathComponent("ledger.sqlite").path)
    }

    @Test("manifests round-trip, ids in any order, any grants")
    func manifest() throws {
        let manifest = Manifest(customerIDs: [5, 3, 1_000_000_000_000, -2, 7],
                                grants: [["2024-01-01T00:00:00Z", ""], ["a", "b"], ["é", "x"], ["", ""], ["z", "z"]])
        #expect(try Manifest(decoding: manifest.encoded()) == manifest)
        #expect(throws: ManifestError.self) { try Manifest(decoding: Array(manifest.encoded().dropLast())) }
        #expect(try Manifest(decoding: Manifest(customerIDs: [], grants: []).encoded()).customerIDs.isEmpty)
        // Built from a grant stream, as the pipeline does, it is the same manifest.
        var stream: [UInt8] = []
        for row in manifest.grants { for grant in row { Array(grant.utf8).withUnsafeBytes { Manifest.appendGrant($0, to: &stream) } } }
        #expect(Manifest.encoded(customerIDs: manifest.customerIDs, scopes: 2, grantStream: stream) == manifest.encoded())
    }

    @Test("the ledger file is owner-only, and disclosures are written only with a delivered status")
    func deliveredOnly() throws {
        let ledger = try ledger()
        #expect(((try FileManager.default.attributesOfItem(atPath: ledger.path))[.posixPermissions] as? Int) == 0o600)
        try ledger.startRun(id: "r1", trigger: "manual", partners: ["p"], at: "2026-11-27T02:00:00Z")
        let delivery = try ledger.createDelivery(NewDelivery(
            id: "d1", runID: "r1", partner: "p", batch: 1, bytes: 10, sha256: "x", recordsRange: 0..<10, payloadPath: "payloads/p/d1.json",
            contentType: "application/json", gzip: false, createdAt: "2026-11-27T02:00:00Z", fields: ["a", "b"], purpose: "offers",
            consentScopes: ["s1", "s2"], manifest: Manifest(customerIDs: [10, 11], grants: [["g1", "g2"], ["h1", "h2"]]).encoded(),
            recordCount: 2))
        try ledger.beginAttempt(delivery: delivery, number: 1, run: "r1", at: "2026-11-27T02:00:01Z")
        try ledger.finishAttempt(delivery: delivery, number: 1, result: AttemptResult(
            httpStatus: 503, curlCode: 0, error: nil, durationMilliseconds: 5, outcome: "retry", answerPrefix: [], inDoubt: false),
            status: .pending, error: "HTTP 503", at: "2026-11-27T02:00:02Z")
        #expect(try ledger.disclosures(customerID: 10).isEmpty)
        try ledger.beginAttempt(delivery: delivery, number: 2, run: "r1", at: "2026-11-27T02:00:03Z")
        try ledger.finishAttempt(delivery: delivery, number: 2, result: AttemptResult(
            httpStatus: 200, curlCode: 0, error: nil, durationMilliseconds: 5, outcome: "delivered", answerPrefix: [], inDoubt: false),
            status: .delivered, error: nil, at: "2026-11-27T02:00:04Z")
        let disclosures = try ledger.disclosures(customerID: 11)
        #expect(disclosures.map(\.consentScope) == ["s1", "s2"])
        #expect(disclosures.map(\.consentGrantedAt) == ["h1", "h2"])
        #expect(disclosures.allSatisfy { $0.deliveryID == "d1" && $0.fields == ["a", "b"] && $0.disclosedAt == "2026-11-27T02:00:04Z"
                                         && $0.purpose == "offers" && $0.confirmed })
        #expect(try ledger.delivery("d1")?.attempts == 2)
    }

    @Test("a superseded delivery that was in doubt leaves unconfirmed disclosures and keeps its payload; one that never left leaves none, and its payload may go")
    func supersededInDoubt() throws {
        let ledger = try ledger()
        try ledger.startRun(id: "r1", trigger: "manual", partners: ["p"], at: "2026-11-27T02:00:00Z")
        func make(_ id: String, _ customer: Int64) throws -> DeliveryRecord {
            try ledger.createDelivery(NewDelivery(
                id: id, runID: "r1", partner: "p", batch: 1, bytes: 1, sha256: "x", recordsRange: 0..<1, payloadPath: "p",
                contentType: "application/json", gzip: false, createdAt: "t", fields: ["a"], purpose: "offers",
                consentScopes: ["s"], manifest: Manifest(customerIDs: [customer], grants: [["g"]]).encoded(), recordCount: 1))
        }
        let doubtful = try make("d1", 1)
        try ledger.markInDoubt(doubtful)
        #expect(try !ledger.markSuperseded(try #require(try ledger.delivery("d1")), by: "d9", reason: "rerun", at: "2026-11-27T03:00:00Z"))
        #expect(try ledger.delivery("d1")?.payloadPrunedAt == nil, "what the partner may hold stays for the retention period")
        let unconfirmed = try ledger.disclosures(customerID: 1)
        #expect(unconfirmed.count == 1 && unconfirmed.first?.confirmed == false)
        #expect(try ledger.markSuperseded(try make("d2", 2), by: nil, reason: "never sent", at: "2026-11-27T03:00:00Z"))
        #expect(try ledger.disclosures(customerID: 2).isEmpty)
        #expect(try ledger.delivery("d2")?.payloadPrunedAt == "2026-11-27T03:00:00Z")
    }

    @Test("disclosures by customer use the primary key, not a scan")
    func disclosureQueryPlan() throws {
        let ledger = try ledger()
        let plan = try ledger.database.prepare("""
            EXPLAIN QUERY PLAN SELECT d.partner FROM disclosures AS x JOIN deliveries AS d ON d.seq = x.delivery
            WHERE x.customer_id = ?
            """)
        var details: [String] = []
        while try plan.step() { details.append(plan.string(3) ?? "") }
        #expect(details.contains { $0.contains("SEARCH x USING PRIMARY KEY (customer_id=?)") }, "\(details)")
        #expect(!details.contains { $0.hasPrefix("SCAN x") })
    }
}
