import CustomerSource
import Delivery
import ExportCore
import FeedRendering
import Foundation
import Ledger

/// One partner's part of a run, in order:
///
/// 1. **recover** what an earlier run left pending: a delivery whose request may have reached the
///    partner is resent under its own id (never superseded, so no disclosure goes unaccounted);
///    one that never left is superseded, because this run renders today's data afresh;
/// 2. **render** every batch (select → minimise → render → batch) on a thread of its own, writing
///    each payload (0600) and recording it as a pending delivery — it never waits for the network,
///    so the read snapshot of the customer database closes as soon as the last batch is rendered;
/// 3. **deliver** the batches in order as they come; the first that is not delivered stops the
///    rendering, and the batches after it are superseded unsent;
/// 4. when every batch was delivered, earlier failed or rejected deliveries of the partner are
///    superseded by this complete feed.
public struct PartnerDelivery {
    public let plan: ExportPlan
    let source: CustomerDatabase
    let schema: XSDSchema?
    let ledger: Ledger
    let client: HTTPSClient
    let payloads: PayloadStore
    let runID: String
    let policy: RetryPolicy
    let now: @Sendable () -> Date
    let sleep: @Sendable (Double) -> Void
    let events: RunEvents

    public init(plan: ExportPlan, source: CustomerDatabase, schema: XSDSchema?, ledger: Ledger, client: HTTPSClient,
                payloads: PayloadStore, runID: String, policy: RetryPolicy, now: @escaping @Sendable () -> Date,
                sleep: @escaping @Sendable (Double) -> Void, events: RunEvents = .none) {
        self.plan = plan
        self.source = source
        self.schema = schema
        self.ledger = ledger
        self.client = client
        self.payloads = payloads
        self.runID = runID
        self.policy = policy
        self.now = now
        self.sleep = sleep
        self.events = events
    }

    var partner: Partner { plan.partner }

    var deliverer: Deliverer {
        Deliverer(client: client, ledger: ledger, payloads: payloads, policy: policy,
                  maxAttempts: partner.contract.delivery.maxAttempts, runID: runID, now: now, sleep: sleep, events: events)
    }

    public func run() -> PartnerOutcome {
        var outcome = PartnerOutcome(partner: partner.id, startedAt: Timestamps.precise(now()))
        do {
            // 1. Recover.
            for pending in try ledger.pendingDeliveries(partner: partner.id) {
                if pending.attempts > 0 {
                    try ledger.markInDoubt(pending)
                    outcome.recovered += 1
                    let result = deliverer.deliver(pending)
                    outcome.count(result, pending)
                    guard result.status == .delivered else {
                        return outcome.finish(.failed, error: "delivery \(pending.id), left in doubt by run \(pending.runID), "
                                              + "could not be resent: \(result.reason ?? result.status.rawValue)", at: now())
                    }
                } else {
                    try supersede(pending, by: nil, reason: "never sent; run \(runID) rendered today's data instead")
                }
            }
            // 2 and 3. Render every batch on a thread of its own (with its own ledger connection) while this
            // one delivers them in order as they come.
            let rendered = try renderAndDeliver(outcome: &outcome)
            if outcome.status != nil { return outcome }
            // 4. A complete feed replaces what earlier runs could not deliver.
            for old in try ledger.deliveries(statuses: [.failed, .rejected], partner: partner.id) where old.runID != runID {
                try supersede(old, by: rendered.first?.id, reason: "replaced by the complete feed of run \(runID)")
            }
            return outcome.finish(rendered.isEmpty ? .nothingToSend : .delivered, error: nil, at: now())
        } catch {
            return outcome.finish(.error, error: "\(error)", at: now())
        }
    }

    /// Renders the batches on a second thread, which writes each payload and records it as pending
    /// (one batch in memory at a time, so memory stays flat, and the customer database is read at
    /// full speed whatever the partner's pace), and delivers them here, in order, as they come. The
    /// first batch that is not delivered stops the rendering; the batches rendered after it are
    /// superseded unsent. Returns the deliveries, in order.
    func renderAndDeliver(outcome: inout PartnerOutcome) throws -> [DeliveryRecord] {
        let queue = RenderedQueue()
        let job = try ExportJob(plan: plan, source: source, schema: schema)
        let renderLedger = try Ledger(path: ledger.path)
        let context = UncheckedBox((job, renderLedger, self))
        let generated = now()
        let thread = Thread {
            let (job, ledger, delivery) = context.value
            do {
                let tally = try job.runBatches(runID: delivery.runID, generatedAt: Timestamps.rfc3339(generated), consent: true,
                                               deliveryID: { _ in Timestamps.identifier("dlv", at: generated) }) { batch in
                    guard !queue.stopped else { throw RenderedQueue.Stopped() }
                    queue.push(try delivery.record(batch, supersedes: nil, in: ledger))
                }
                queue.finish(tally: tally, error: nil)
            } catch is RenderedQueue.Stopped {
                queue.finish(tally: nil, error: nil)
            } catch {
                queue.finish(tally: nil, error: error)
            }
        }
        thread.stackSize = 8 << 20
        thread.start()

        var records: [DeliveryRecord] = []
        var failure: (DeliveryRecord, Deliverer.Result)?
        while failure == nil, let record = queue.next() {
            records.append(record)
            let result = deliverer.deliver(record, fresh: true)
            outcome.count(result, record)
            if result.status != .delivered {
                failure = (record, result)
                queue.stop()
            }
        }
        let (tally, error) = queue.waitUntilFinished()
        if let tally { outcome.tally = tally }
        if let (record, result) = failure {
            let later = try ledger.pendingDeliveries(partner: partner.id).filter { $0.runID == runID && $0.batch > record.batch }
            try stop(at: record, result, supersedingUnsent: later, outcome: &outcome)
            return records
        }
        if let error { throw error }
        return records
    }

    /// Writes a batch's payload and records it as a pending delivery.
    func record(_ batch: FinishedBatch, supersedes: String?, in ledger: Ledger? = nil) throws -> DeliveryRecord {
        let ledger = ledger ?? self.ledger
        let contract = partner.contract
        let (path, sha256) = try payloads.write(batch, partner: partner.id, fileExtension: contract.format.fileExtension)
        let record = try ledger.createDelivery(NewDelivery(
            id: batch.envelope.delivery, runID: runID, partner: partner.id, batch: batch.number, bytes: batch.byteCount,
            sha256: sha256, recordsRange: batch.recordsRange, payloadPath: path, contentType: contract.format.contentType,
            gzip: contract.delivery.gzip, createdAt: Timestamps.rfc3339(now()), fields: partner.mapping.fields.map(\.name),
            purpose: contract.purpose, consentScopes: contract.consent,
            manifest: Manifest.encoded(customerIDs: batch.customerIDs, scopes: contract.consent.count, grantStream: batch.grants),
            recordCount: batch.customerIDs.count, supersedes: supersedes,
            shape: partner.mapping.fields.map { FieldShape(name: $0.name, from: $0.from, form: $0.form.name) },
            fieldCounts: batch.fieldCounts))
        events.batchRendered(partner.id, batch.number, batch.customerIDs.count)
        return record
    }

    /// An operator's rerun of a failed or rejected delivery, under today's consent and contract:
    /// the delivery's customers are selected and rendered again. The same records go out as the very
    /// same bytes under the same id; changed records (a customer withdrew, the contract narrowed) go
    /// out as new deliveries that supersede the old one; if no customer remains, nothing is sent.
    public func rerun(_ old: DeliveryRecord) -> PartnerOutcome {
        var outcome = PartnerOutcome(partner: partner.id, startedAt: Timestamps.precise(now()))
        do {
            let manifest = try ledger.manifest(of: old)
            let job = try ExportJob(plan: plan, source: source, schema: schema)
            let generated = now()
            var batches: [FinishedBatch] = []  // bounded by the old delivery's size
            outcome.tally = try job.runBatches(runID: runID, generatedAt: Timestamps.rfc3339(generated), consent: true,
                                               onlyIDs: manifest.customerIDs,
                                               deliveryID: { _ in Timestamps.identifier("dlv", at: generated) }) { batches.append($0) }
            if batches.isEmpty {
                try supersede(old, by: nil, reason: "rerun by \(runID): none of its customers is eligible any more")
                outcome.rerunAction = .nothingLeft
                return outcome.finish(.nothingToSend, error: nil, at: now())
            }
            if batches.count == 1, let sent = try? payloads.records(of: old), sent == batches[0].records {
                outcome.rerunAction = .resentSameID(old.id)
                let result = deliverer.deliver(old)
                outcome.count(result, old)
                guard result.status == .delivered else {
                    return outcome.finish(result.status == .rejected ? .rejected : .failed,
                                          error: "delivery \(old.id) \(result.status.rawValue): \(result.reason ?? "")", at: now())
                }
                return outcome.finish(.delivered, error: nil, at: now())
            }
            let records = try batches.map { try record($0, supersedes: old.id) }
            try supersede(old, by: records.first?.id, reason: "rerun by \(runID): today's consent and contract changed its records")
            outcome.rerunAction = .superseded(by: records.map(\.id))
            try deliver(records, outcome: &outcome)
            if outcome.status != nil { return outcome }
            return outcome.finish(.delivered, error: nil, at: now())
        } catch {
            return outcome.finish(.error, error: "\(error)", at: now())
        }
    }

    /// Delivers `records` in order; on the first that is not delivered, supersedes the rest unsent.
    func deliver(_ records: [DeliveryRecord], outcome: inout PartnerOutcome) throws {
        for (index, record) in records.enumerated() {
            let result = deliverer.deliver(record)
            outcome.count(result, record)
            guard result.status == .delivered else {
                try stop(at: record, result, supersedingUnsent: Array(records[(index + 1)...]), outcome: &outcome)
                return
            }
        }
    }

    /// Supersedes `old`; unless a request of it may have reached the partner, its payload goes at
    /// once (personal data at rest that nothing will send or read again). A crash between the two
    /// leaves a stray file, which `prune` removes.
    private func supersede(_ old: DeliveryRecord, by successor: String?, reason: String) throws {
        if try ledger.markSuperseded(old, by: successor, reason: reason, at: Timestamps.rfc3339(now())) {
            payloads.discard(old)
        }
    }

    /// The partner stops at the first delivery that did not go through: the batches after it are
    /// superseded unsent (they would be a partial, out-of-order feed) and the outcome says why.
    private func stop(at record: DeliveryRecord, _ result: Deliverer.Result, supersedingUnsent later: [DeliveryRecord],
                      outcome: inout PartnerOutcome) throws {
        for unsent in later {
            try supersede(unsent, by: nil, reason: "not sent: batch \(record.batch) (\(record.id)) was not delivered")
        }
        outcome = outcome.finish(result.status == .rejected ? .rejected : .failed,
                                 error: "delivery \(record.id) (batch \(record.batch)) \(result.status.rawValue): " + (result.reason ?? ""),
                                 at: now())
    }
}

/// How one partner's part of a run ended.
public struct PartnerOutcome: Sendable {
    public enum Status: String, Sendable {
        case delivered
        case nothingToSend = "nothing-to-send"
        case failed
        case rejected
        case error
    }

    public let partner: String
    public var status: Status?
    public var tally = ExportTally()
    public var delivered = 0
    public var failed = 0
    public var rejected = 0
    /// Attempts beyond the first, across deliveries.
    public var retries = 0
    /// Deliveries left in doubt by an earlier run and resent now.
    public var recovered = 0
    public var deliveredBytes = 0
    public var error: String?
    /// For a rerun: what was done with the old delivery.
    public var rerunAction: RerunAction?
    public let startedAt: String
    public var finishedAt: String?

    public init(partner: String, startedAt: String) {
        self.partner = partner
        self.startedAt = startedAt
    }

    mutating func count(_ result: Deliverer.Result, _ record: DeliveryRecord) {
        retries += max(0, result.attempts - 1)
        switch result.status {
        case .delivered:
            delivered += 1
            deliveredBytes += record.bytes
        case .rejected: rejected += 1
        default: failed += 1
        }
    }

    func finish(_ status: Status, error: String?, at date: Date) -> PartnerOutcome {
        var copy = self
        copy.status = status
        copy.error = error
        copy.finishedAt = Timestamps.precise(date)
        return copy
    }

    public enum RerunAction: Sendable, Equatable {
        /// The same records: the stored bytes resent under the same id.
        case resentSameID(String)
        /// Changed records: new deliveries, superseding the old one.
        case superseded(by: [String])
        /// No customer of it remains eligible: superseded, nothing sent.
        case nothingLeft
    }

    /// Two reruns of one partner's deliveries, added up (the later status wins).
    public func merging(_ other: PartnerOutcome) -> PartnerOutcome {
        var merged = other
        merged.tally.eligible += tally.eligible
        merged.tally.rendered += tally.rendered
        merged.tally.batches += tally.batches
        merged.tally.bytes += tally.bytes
        merged.delivered += delivered
        merged.failed += failed
        merged.rejected += rejected
        merged.retries += retries
        merged.deliveredBytes += deliveredBytes
        merged.recovered += recovered
        return merged
    }

    /// Whether the partner's part of the run succeeded.
    public var succeeded: Bool { status == .delivered || status == .nothingToSend }
}

/// Rendered deliveries on their way from the rendering thread to the delivering one, in order.
final class RenderedQueue: @unchecked Sendable {
    struct Stopped: Error {}

    private let condition = NSCondition()
    private var items: [DeliveryRecord] = []
    private var finished = false
    private var tally: ExportTally?
    private var error: Error?
    private var stopFlag = false

    var stopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopFlag
    }

    func push(_ record: DeliveryRecord) {
        condition.lock()
        items.append(record)
        condition.broadcast()
        condition.unlock()
    }

    /// The next rendered delivery, or nil once rendering has finished and all were taken.
    func next() -> DeliveryRecord? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !finished { condition.wait() }
        return items.isEmpty ? nil : items.removeFirst()
    }

    func stop() {
        condition.lock()
        stopFlag = true
        condition.unlock()
    }

    func finish(tally: ExportTally?, error: Error?) {
        condition.lock()
        self.tally = tally
        self.error = error
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilFinished() -> (ExportTally?, Error?) {
        condition.lock()
        defer { condition.unlock() }
        while !finished { condition.wait() }
        return (tally, error)
    }
}
