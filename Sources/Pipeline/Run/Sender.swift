import Delivery
import ExportCore
import Foundation
import Ledger

/// Deliver and record: sends one delivery under its id with the retry policy, over a ``Transport``.
/// Every attempt is recorded before it leaves (a crash from there on leaves the delivery in doubt,
/// never forgotten) and its outcome after; the delivery is marked delivered, with its disclosures,
/// only after a 2xx. The bytes sent are the ones the ledger's SHA-256 vouches for.
struct Sender {
    let transport: any Transport
    let policy: RetryPolicy
    /// The delivering thread's own connection.
    let ledger: any LedgerStore
    let runID: String
    let time: TimeSource
    let random: any RandomSource
    let events: RunEvents
    /// The partner's `rate_limit`: a request slot is taken before every attempt.
    var pace: Pace? = nil
    /// The newest signed checkpoint, base64, carried by every request (`Partner-Export-Checkpoint`).
    var checkpoint: String? = nil

    /// How one delivery ended in this run.
    struct Result {
        let delivery: DeliveryRecord
        /// `delivered`, `failed` or `rejected`; `pending` when the ledger itself failed mid-way.
        let status: DeliveryStatus
        let attempts: Int
        let error: ExportError?
        let inDoubt: Bool
        /// The last attempt's HTTP status and `Retry-After`, for the hints a report gives.
        var lastStatus: Int? = nil
        var retryAfter: Int? = nil

        var delivered: Bool { status == .delivered }
    }

    /// Sends `feed` (the delivery's bytes as rendered) until it is delivered or the policy stops;
    /// `contents`, what the builder just recorded the delivery changes (nil: the ledger's).
    func send(_ delivery: DeliveryRecord, feed: FeedBytes, contents: DeliveryContents? = nil) -> Result {
        var inDoubt = delivery.inDoubt
        let wire: FeedBytes
        do {
            wire = delivery.gzip ? FeedBytes(try Gzip.compress(feed)) : feed
        } catch {
            return fail(delivery, ExportError.wrapping(error), made: 0, inDoubt: inDoubt)
        }
        let upload = Upload(deliveryID: delivery.id, contentType: delivery.contentType, feed: feed, wire: wire, gzip: delivery.gzip,
                            checkpoint: checkpoint)
        var number = delivery.attempts
        var made = 0
        while true {
            do {
                try pace?.take(ledger: ledger, time: time)
            } catch {
                return Result(delivery: delivery, status: .pending, attempts: made, error: .wrapping(error), inDoubt: inDoubt)
            }
            number += 1
            made += 1
            let started = time.now()
            do {
                try ledger.beginAttempt(delivery: delivery, number: number, run: runID, at: Timestamps.rfc3339(started))
            } catch {
                return Result(delivery: delivery, status: .pending, attempts: made - 1, error: .wrapping(error), inDoubt: inDoubt)
            }
            let exchange: Exchange
            do {
                exchange = try transport.send(upload, timestamp: Int64(started.timeIntervalSince1970))
            } catch {
                // The request could not even be built: nothing left this machine.
                exchange = Exchange(status: nil, curlCode: -1, error: "\(error)", requestSent: false)
                let failure = ExportError.wrapping(error)
                return record(delivery, number: number, made: made, exchange: exchange,
                              verdict: .stop(DeliveryStop(refused: false, error: failure, inDoubt: inDoubt)), inDoubt: inDoubt)
            }
            let verdict = policy.verdict(after: exchange, attempt: made, wasInDoubt: inDoubt, random: random)
            inDoubt = inDoubt || policy.leftInDoubt(exchange)
            let result = record(delivery, number: number, made: made, exchange: exchange, verdict: verdict, inDoubt: inDoubt,
                                contents: contents)
            if case .retry(let seconds, _) = verdict, result.status == .pending, result.error == nil {
                time.sleep(seconds)
                continue
            }
            return result
        }
    }

    /// Records one attempt's end and what it did to the delivery.
    private func record(_ delivery: DeliveryRecord, number: Int, made: Int, exchange: Exchange, verdict: AttemptVerdict,
                        inDoubt: Bool, contents: DeliveryContents? = nil) -> Result {
        let outcome: AttemptOutcome
        let transition: DeliveryTransition
        var status = DeliveryStatus.pending
        var error: ExportError?
        var attemptError = exchange.error
        switch verdict {
        case .delivered:
            (outcome, transition, status) = (.delivered, .delivered, .delivered)
        case .retry(_, let reason):
            (outcome, transition) = (.retry, .stillPending)
            attemptError = reason
        case .stop(let stop):
            error = stop.error
            attemptError = stop.error.message
            if stop.refused {
                (outcome, transition, status) = (.rejected, .rejected(code: stop.error.code, message: stop.error.message), .rejected)
            } else {
                (outcome, transition, status) = (.failed, .failed(code: stop.error.code, message: stop.error.message,
                                                                  inDoubt: stop.inDoubt), .failed)
            }
        }
        let attempt = AttemptRecord(httpStatus: exchange.status, curlCode: exchange.curlCode, error: attemptError,
                                    durationMilliseconds: Int(exchange.duration * 1000), outcome: outcome,
                                    answerPrefix: exchange.answerPrefix, inDoubt: policy.leftInDoubt(exchange))
        do {
            try ledger.finishAttempt(delivery: delivery, number: number, result: attempt, transition: transition,
                                     at: Timestamps.rfc3339(time.now()), contents: contents)
        } catch {
            // The ledger failed us: stop here. The delivery stays pending (in doubt if a request went
            // out), and the next run resends it under its own id.
            return Result(delivery: delivery, status: .pending, attempts: made, error: .wrapping(error), inDoubt: inDoubt)
        }
        events.attempt(RunEvents.Attempt(run: runID, partner: delivery.partner, delivery: delivery.id, batch: delivery.batch,
                                         number: number, inThisRun: made, exchange: exchange, verdict: verdict))
        let finalDoubt = status == .rejected || status == .delivered ? false : inDoubt
        return Result(delivery: delivery, status: status, attempts: made, error: error, inDoubt: finalDoubt,
                      lastStatus: exchange.status, retryAfter: exchange.retryAfter)
    }

    /// A delivery whose bytes could not even be prepared: failed without an attempt.
    private func fail(_ delivery: DeliveryRecord, _ error: ExportError, made: Int, inDoubt: Bool) -> Result {
        try? ledger.fail(delivery, error: error)
        return Result(delivery: delivery, status: .failed, attempts: made, error: error, inDoubt: inDoubt)
    }
}

/// `rate_limit.requests_per_minute`, kept by the whole run: before each request a slot is taken in the
/// ledger (so every thread and every worker of a PostgreSQL ledger draws on one budget), waiting until
/// one is free. No `window` holds more than `perMinute` slots; the window is a minute and one second,
/// the second for a request's way to the partner, so that the partner never sees more in its minute.
struct Pace: Sendable {
    static let window: Int64 = 61_000

    let partner: String
    let perMinute: Int

    func take(ledger: any LedgerStore, time: TimeSource) throws {
        while true {
            let now = Int64((time.now().timeIntervalSince1970 * 1000).rounded(.down))
            guard let next = try ledger.takeRequestSlot(partner: partner, limit: perMinute, window: Self.window, now: now) else {
                return
            }
            time.sleep(Double(max(next - now, 10)) / 1000)
        }
    }
}
