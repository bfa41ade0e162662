import ExportCore
import Foundation
import Ledger
@testable import Pipeline
import TestSupport
import Testing

/// A partner's result is typed and summed by one function: what each shard did is counted once, the
/// worst status wins, and a delivery a dead worker got acknowledged is added exactly once.
@Suite("Partner results")
struct PartnerResultTests {
    static let email = FieldShape(name: "e", from: "email", form: "sha256")
    static let first = FieldShape(name: "n", from: "first_name", form: "clear")

    func shard(_ status: PartnerStatus, delivered: Int, batch: Int, values: Int, notes: [String] = []) -> PartnerResult {
        var result = PartnerResult(partner: "p", status: status, startedAt: "2026-12-01T02:00:0\(batch).000Z")
        result.finishedAt = "2026-12-01T02:01:0\(batch).000Z"
        result.eligible = 10
        result.records = delivered * 5
        result.delivered = delivered
        result.failed = status == .failed ? 1 : 0
        result.bytes = delivered * 100
        result.retries = 1
        result.fields = [PartnerResult.FieldCount(shape: Self.email, values: values, allowedForms: ["sha256"])]
        result.allowedNotSent = [PartnerResult.Allowed(field: "first_name", forms: ["clear"]), PartnerResult.Allowed(field: "city", forms: ["clear"])]
        result.actions = [PartnerResult.Action(delivery: "d\(batch)", batch: batch, kind: .sent, by: [], status: .delivered)]
        result.notes = notes
        result.changes = PartnerResult.Changes(new: 3, changed: 1, unchanged: 6, noticesDue: [.consentWithdrawn: 1], noticesSent: 1, unnamed: 0)
        if status == .failed { result.error = .deliveryExhausted("batch \(batch) gave up") }
        return result
    }

    @Test("shards sum: counts added, the worst status with its error, each field once with its values summed, notes once, the first start and last end")
    func merged() throws {
        var second = shard(.failed, delivered: 1, batch: 2, values: 5, notes: ["same note"])
        second.fields.append(PartnerResult.FieldCount(shape: Self.first, values: 5, allowedForms: ["clear"]))
        let merged = try #require(PartnerResult.merged([shard(.delivered, delivered: 2, batch: 3, values: 10, notes: ["same note"]), second,
                                                       shard(.nothingToSend, delivered: 0, batch: 1, values: 0)]))
        #expect(merged.status == .failed && merged.error?.code == "delivery.exhausted")
        #expect(merged.eligible == 30 && merged.delivered == 3 && merged.records == 15 && merged.bytes == 300 && merged.retries == 3)
        #expect(merged.deliveries == 4, "delivered + failed + rejected")
        #expect(merged.fields.map(\.values) == [15, 5] && merged.fields.map(\.shape) == [Self.email, Self.first])
        #expect(merged.allowedNotSent.map(\.field) == ["city"], "first_name was sent by one shard")
        #expect(merged.notes == ["same note"])
        #expect(merged.actions.map(\.batch) == [1, 2, 3])
        #expect(merged.startedAt == "2026-12-01T02:00:01.000Z" && merged.finishedAt == "2026-12-01T02:01:03.000Z")
        #expect(merged.changes == PartnerResult.Changes(new: 9, changed: 3, unchanged: 18, noticesDue: [.consentWithdrawn: 3], noticesSent: 3))
        #expect(!merged.succeeded)
        #expect(PartnerResult.merged([]) == nil)
        let alone = shard(.delivered, delivered: 1, batch: 1, values: 1)
        #expect(PartnerResult.merged([alone]) == alone)
    }

    @Test("a delivery a dead worker got acknowledged is added once, its fields with it; an alert makes the result not succeeded")
    func deadWorkersDelivery() throws {
        var result = shard(.delivered, delivered: 1, batch: 1, values: 10)
        result.feed = PartnerResult.Feed(id: "f", startedBy: "r", isNew: true, complete: true, owed: 0)
        #expect(result.succeeded)
        let delivery = DeliveryRecord(seq: 9, id: "d9", runID: "r", feed: "f", partner: "p", batch: 9, recordCount: 7, lastCustomer: 70,
                                      bytes: 50, sha256: "", recordsRange: 0..<0, payloadPath: "", contentType: "application/json",
                                      gzip: false, status: .delivered, attempts: 1, inDoubt: false, lastHTTPStatus: 200, lastError: nil,
                                      lastErrorCode: nil, answerPrefix: [], createdAt: "t", deliveredAt: "t", supersededBy: nil,
                                      supersedes: nil, fields: ["e"], purpose: "", consentScopes: [], shape: [Self.email], fieldCounts: [7],
                                      payloadPrunedAt: nil)
        result.add(delivered: delivery, allowedForms: { _ in ["sha256"] })
        #expect(result.delivered == 2 && result.records == 12 && result.fields.first?.values == 17 && result.actions.count == 2)
        result.alerts = [.payloadMismatch("delivery d1: altered")]
        #expect(!result.succeeded)
    }

    @Test("the stored form reads back the same; a report stored before results were typed reads into the same figures; an unknown status is an error")
    func storedForm() throws {
        var result = shard(.held, delivered: 0, batch: 1, values: 0)
        result.error = .deletionGuard("held")
        result.alerts = [.payloadMismatch("altered")]
        result.mode = .changes
        #expect(try JSONCoding.decode(PartnerResult.self, from: try JSONCoding.compact(result)) == result)
        // A partner's entry of a run report as an earlier version stored it (the --json shape, old names and all).
        let golden = TestFiles.packageRoot.appendingPathComponent("Tests/EndToEndTests/Golden/shapes/run.json")
        let run = try JSONSerialization.jsonObject(with: Data(contentsOf: golden)) as? [String: Any]
        let entry = try #require((run?["partners"] as? [[String: Any]])?.first)
        let old = try JSONCoding.decode(PartnerResult.self, from: String(decoding: try JSONSerialization.data(withJSONObject: entry), as: UTF8.self))
        #expect(old.status.rawValue == entry["status"] as? String && old.delivered == entry["delivered"] as? Int
                && old.records == entry["records"] as? Int && old.actions.count == (entry["actions"] as? [Any])?.count
                && old.fields.count == (entry["fields"] as? [Any])?.count)
        #expect(throws: (any Error).self) { try JSONCoding.decode(PartnerResult.self, from: #"{"partner":"p","status":"done","started_at":"t"}"#) }
    }
}
