import Delivery
import ExportCore
import Foundation
import Ledger

/// Deliver and record: sends one delivery with the retry policy, recording every attempt before it
/// leaves and its outcome after. Marked delivered, with its disclosures, only after a 2xx.
struct Deliverer {
    let client: HTTPSClient
    let ledger: Ledger
    let payloads: PayloadStore
    let policy: RetryPolicy
    let maxAttempts: Int
    let runID: String
    let now: @Sendable () -> Date
    let sleep: @Sendable (Double) -> Void
    let events: RunEvents

    /// How one delivery ended in this run.
    struct Result {
        let status: DeliveryStatus
        let attempts: Int
        let reason: String?
    }

    /// - Parameter fresh: the payload was written by this run a moment ago (and synced), so it is not
    ///   read back to check its SHA-256; a payload reused from disk (a resend, a rerun) always is.
    func deliver(_ delivery: DeliveryRecord, fresh: Bool = false) -> Result {
        let payload: String
        let body: String
        do {
            payload = fresh ? payloads.absolute(delivery.payloadPath) : try payloads.verified(delivery)
            body = try payloads.body(for: delivery, payload: payload)
        } catch {
            try? ledger.markFailed(delivery, error: "\(error)")
            return Result(status: .failed, attempts: 0, reason: "\(error)")
        }
        let upload = Upload(deliveryID: delivery.id, payloadPath: payload, bodyPath: body, contentType: delivery.contentType,
                            gzip: delivery.gzip)
        var attempt = delivery.attempts
        var made = 0
        while true {
            attempt += 1
            made += 1
            let started = now()
            do {
                try ledger.beginAttempt(delivery: delivery, number: attempt, run: runID, at: Timestamps.rfc3339(started))
                let exchange = try client.send(upload, timestamp: Int64(started.timeIntervalSince1970))
                let decision = policy.decide(status: exchange.status, curlCode: exchange.curlCode, retryAfter: exchange.retryAfter)
                let inDoubt = exchange.status == nil && exchange.requestSent
                var status = DeliveryStatus.pending
                var outcome = "retry"
                var reason: String?
                var wait: Double?
                switch decision {
                case .delivered:
                    (status, outcome) = (.delivered, "delivered")
                case .rejected(let why):
                    (status, outcome, reason) = (.rejected, "rejected", why)
                case .failed(let why):
                    (status, outcome, reason) = (.failed, "failed", why)
                case .retry(let why, let after):
                    reason = why + (exchange.error.map { ": \($0)" } ?? "")
                    if made >= maxAttempts {
                        status = .failed
                        reason = "gave up after \(made) attempt\(made == 1 ? "" : "s") in this run; last: \(reason ?? why)"
                    } else {
                        wait = policy.delay(afterAttempt: made, retryAfter: after, random: { Double.random(in: 0..<1) })
                    }
                }
                if outcome == "failed" || outcome == "rejected", reason != nil, let error = exchange.error, !(reason ?? "").contains(error) {
                    reason = (reason ?? "") + ": \(error)"
                }
                let result = AttemptResult(
                    httpStatus: exchange.status, curlCode: exchange.curlCode, error: exchange.error ?? reason,
                    durationMilliseconds: Int(exchange.duration * 1000), outcome: outcome, answerPrefix: exchange.answerPrefix,
                    inDoubt: inDoubt)
                try ledger.finishAttempt(delivery: delivery, number: attempt, result: result, status: status, error: reason,
                                         at: Timestamps.rfc3339(now()))
                events.attempt(delivery, attempt, exchange, decision)
                if status != .pending { return Result(status: status, attempts: made, reason: reason) }
                if let wait {
                    events.waiting(delivery, wait)
                    sleep(wait)
                }
            } catch {
                // The ledger or the payload failed us: stop here; the delivery stays pending (in doubt if a request
                // went out), and the next run resends it under its own id.
                return Result(status: .pending, attempts: made, reason: "\(error)")
            }
        }
    }
}

/// What a run tells whoever watches it (progress on a terminal, logs). Never customer values.
public struct RunEvents: Sendable {
    public var attempt: @Sendable (DeliveryRecord, Int, Exchange, DeliveryDecision) -> Void
    public var waiting: @Sendable (DeliveryRecord, Double) -> Void
    public var batchRendered: @Sendable (String, Int, Int) -> Void

    public init(attempt: @escaping @Sendable (DeliveryRecord, Int, Exchange, DeliveryDecision) -> Void = { _, _, _, _ in },
                waiting: @escaping @Sendable (DeliveryRecord, Double) -> Void = { _, _ in },
                batchRendered: @escaping @Sendable (String, Int, Int) -> Void = { _, _, _ in }) {
        self.attempt = attempt
        self.waiting = waiting
        self.batchRendered = batchRendered
    }

    public static let none = RunEvents()
}
