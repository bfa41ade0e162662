import ExportCore
import Foundation
@testable import Ledger
@testable import Pipeline
import SQLite
import TestSupport
import Testing

/// The whole retry loop (``Sender``: the policy over a transport, every attempt recorded in a real
/// SQLite ledger) against a scripted transport: no server, no waiting.
@Suite("Retry loop")
struct RetryLoopTests {
    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let script: [Exchange]
        let status: DeliveryStatus
        let attempts: Int
        var waits: [Double] = []
        var code: String? = nil
        var inDoubt = false
        /// The contract's `max_attempts`.
        var maxAttempts = 5

        var description: String { name }
    }

    static func answer(_ status: Int?, curl: Int32 = 0, retryAfter: Int? = nil, sent: Bool = true) -> Exchange {
        Exchange(status: status, curlCode: curl, error: curl == 0 ? nil : "curl says \(curl)", retryAfter: retryAfter,
                 requestSent: sent)
    }

    /// Every row of the delivery table (docs/design.md, "Delivery"), with a fixed jitter of 0.5 and a base of 1 s.
    static let cases: [Case] = [
        Case(name: "2xx: delivered", script: [answer(204)], status: .delivered, attempts: 1),
        Case(name: "a 2xx whose answer is cut off is still an acknowledgement", script: [answer(200, curl: 18)],
             status: .delivered, attempts: 1),
        Case(name: "408 is retried", script: [answer(408)], status: .delivered, attempts: 2, waits: [0.5]),
        Case(name: "425 is retried", script: [answer(425)], status: .delivered, attempts: 2, waits: [0.5]),
        Case(name: "429 with Retry-After is retried after exactly that", script: [answer(429, retryAfter: 7)],
             status: .delivered, attempts: 2, waits: [7]),
        Case(name: "500, 502, 503, 504 are retried with a doubling ceiling",
             script: [answer(500), answer(502), answer(503), answer(504)], status: .delivered, attempts: 5,
             waits: [0.5, 1, 2, 4]),
        Case(name: "a connection that was never made is retried, not in doubt", script: [answer(nil, curl: 7, sent: false)],
             status: .delivered, attempts: 2, waits: [0.5]),
        Case(name: "a timeout after the request left is retried", script: [answer(nil, curl: 28)], status: .delivered,
             attempts: 2, waits: [0.5]),
        Case(name: "a dropped connection is retried", script: [answer(nil, curl: 52)], status: .delivered, attempts: 2,
             waits: [0.5]),
        Case(name: "a redirect is rejected, never followed", script: [answer(302)], status: .rejected, attempts: 1,
             code: "delivery.rejected"),
        Case(name: "400 is rejected", script: [answer(400)], status: .rejected, attempts: 1, code: "delivery.rejected"),
        Case(name: "401 is rejected", script: [answer(401)], status: .rejected, attempts: 1, code: "delivery.rejected"),
        Case(name: "422 is rejected", script: [answer(422)], status: .rejected, attempts: 1, code: "delivery.rejected"),
        Case(name: "501 is rejected", script: [answer(501)], status: .rejected, attempts: 1, code: "delivery.rejected"),
        Case(name: "an untrusted certificate fails at once", script: [answer(nil, curl: 60, sent: false)], status: .failed,
             attempts: 1, code: "delivery.tls"),
        Case(name: "a pinned key that does not match fails at once", script: [answer(nil, curl: 90, sent: false)],
             status: .failed, attempts: 1, code: "delivery.tls"),
        Case(name: "a client certificate problem fails at once", script: [answer(nil, curl: 58, sent: false)], status: .failed,
             attempts: 1, code: "delivery.setup"),
        Case(name: "Retry-After beyond the cap fails for this run without waiting", script: [answer(503, retryAfter: 3600)],
             status: .failed, attempts: 1, code: "delivery.retry_after_too_long"),
        Case(name: "Retry-After is capped when a broken answer carries it", script: [answer(503, curl: 18, retryAfter: 500)],
             status: .failed, attempts: 1, code: "delivery.retry_after_too_long"),
        Case(name: "the budget: three 503s with max_attempts 3 end failed, exhausted",
             script: [answer(503), answer(503), answer(503)], status: .failed, attempts: 3, waits: [0.5, 1],
             code: "delivery.exhausted", maxAttempts: 3),
        Case(name: "timeouts until the budget runs out leave it in doubt",
             script: [answer(nil, curl: 28), answer(nil, curl: 28), answer(nil, curl: 28)], status: .failed, attempts: 3,
             waits: [0.5, 1], code: "delivery.exhausted", inDoubt: true, maxAttempts: 3),
        Case(name: "a refusal after a timeout clears the doubt", script: [answer(nil, curl: 28), answer(400)], status: .rejected,
             attempts: 2, waits: [0.5], code: "delivery.rejected", inDoubt: false),
    ]

    final class Half: RandomSource {
        func nextUnit() -> Double { 0.5 }
    }

    /// A ledger with one pending delivery of customers 1…3, in a folder of its own.
    static func ledgerWithDelivery() throws -> (SQLLedger, DeliveryRecord) {
        let folder = TestFiles.temporaryDirectory("retry")
        let state = folder.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let ledger = try SQLiteLedger.open(at: state.appendingPathComponent("ledger.sqlite").path, access: .write(create: true))
        try ledger.startRun(id: "run_1", trigger: .manual, partners: ["p"], at: "2026-11-27T02:00:00Z")
        let delivery = try ledger.createDelivery(NewDelivery(
            id: "dlv_1", runID: "run_1", feed: "run_1/p", partner: "p", batch: 1, bytes: 4, sha256: FeedBytes(Array("feed".utf8)).sha256,
            recordsRange: 0..<4, payloadPath: "payloads/p/dlv_1.json", contentType: "application/json", gzip: false,
            createdAt: "2026-11-27T02:00:00Z", fields: ["a"], purpose: "offers", consentScopes: ["s"],
            manifest: Manifest(customerIDs: [1, 2, 3], grants: [["g"], ["g"], ["g"]]).encoded(), recordCount: 3, lastCustomer: 3),
            superseding: nil, at: "2026-11-27T02:00:00Z")
        return (ledger, delivery)
    }

    @Test("each answer leads to the decision the table gives, recorded attempt by attempt", arguments: cases)
    func table(_ c: Case) throws {
        let (ledger, delivery) = try Self.ledgerWithDelivery()
        let transport = ScriptedTransport(c.script)
        let clock = ScriptedClock()
        let sender = Sender(transport: transport, policy: RetryPolicy(baseSeconds: 1, capSeconds: 120, maxAttempts: c.maxAttempts),
                            ledger: ledger, runID: "run_1", time: clock.source, random: Half(), events: .none)
        let result = sender.send(delivery, feed: FeedBytes(Array("feed".utf8)))
        #expect(result.status == c.status)
        #expect(result.attempts == c.attempts)
        #expect(clock.waits == c.waits)
        #expect(result.error?.code == c.code)
        #expect(result.inDoubt == c.inDoubt)
        #expect(transport.sent.count == c.attempts)
        #expect(Set(transport.sent.map(\.deliveryID)) == ["dlv_1"], "every attempt under the delivery's own id")
        #expect(transport.sent.allSatisfy { $0.wire.joined == Array("feed".utf8) }, "the bytes the ledger vouches for")

        let stored = try #require(try ledger.delivery("dlv_1"))
        #expect(stored.status == c.status && stored.attempts == c.attempts && stored.inDoubt == c.inDoubt)
        #expect(stored.lastErrorCode == c.code)
        let outcomes = try ledger.database.prepare("SELECT outcome FROM attempts ORDER BY number").rows { try $0.text("outcome") }
        let last: String = switch c.status {
        case .delivered: "delivered"
        case .rejected: "rejected"
        default: "failed"
        }
        #expect(outcomes == Array(repeating: "retry", count: c.attempts - 1) + [last], "an exhausted attempt is not a retry")
        let disclosed = try ledger.disclosures(customerID: 2).count
        #expect(disclosed == (c.status == .delivered ? 1 : 0), "disclosures only after a 2xx")
        let totals = try ledger.totals()["p"] ?? PartnerTotals()
        #expect(totals.counter(CounterName.retries) == c.attempts - 1, "retries = attempts − 1")
        #expect(totals.counter(CounterName.deliveriesFailed) == (c.status == .failed ? 1 : 0))
        #expect(totals.counter(CounterName.deliveriesRejected) == (c.status == .rejected ? 1 : 0))
    }

    @Test("jitter comes from the injected source: the same seed gives the same waits")
    func deterministicJitter() throws {
        func waits(seed: UInt64) throws -> [Double] {
            let (ledger, delivery) = try Self.ledgerWithDelivery()
            let clock = ScriptedClock()
            let sender = Sender(transport: ScriptedTransport(Array(repeating: Self.answer(503), count: 6)),
                                policy: RetryPolicy(baseSeconds: 1, capSeconds: 120, maxAttempts: 8), ledger: ledger,
                                runID: "run_1", time: clock.source, random: SeededRandomSource(seed: seed), events: .none)
            #expect(sender.send(delivery, feed: FeedBytes(Array("feed".utf8))).delivered)
            return clock.waits
        }
        let first = try waits(seed: 7)
        #expect(first == (try waits(seed: 7)))
        #expect(first != (try waits(seed: 8)))
        let reference = SeededRandomSource(seed: 7)
        #expect(first == (1...6).map { Double(1 << ($0 - 1)) * reference.nextUnit() }, "full jitter under a doubling ceiling")
    }

    @Test("a delivery resent after a crash keeps its id and counts its attempts on from the ledger's")
    func resendCountsOn() throws {
        let (ledger, delivery) = try Self.ledgerWithDelivery()
        try ledger.beginAttempt(delivery: delivery, number: 1, run: "run_1", at: "2026-11-27T02:00:01Z")
        try ledger.markInDoubt(delivery)
        let reloaded = try #require(try ledger.delivery("dlv_1"))
        let transport = ScriptedTransport([])
        let sender = Sender(transport: transport, policy: RetryPolicy(), ledger: ledger, runID: "run_2",
                            time: ScriptedClock().source, random: Half(), events: .none)
        let result = sender.send(reloaded, feed: FeedBytes(Array("feed".utf8)))
        #expect(result.delivered && transport.sent.map(\.deliveryID) == ["dlv_1"])
        #expect(try ledger.delivery("dlv_1")?.attempts == 2)
    }
}
