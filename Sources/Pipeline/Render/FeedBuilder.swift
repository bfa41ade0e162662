import CustomerSource
import ExportCore
import FeedRendering
import Foundation
import Ledger
import Synchronization

/// Select → minimise → render → batch, for one partner's ``FeedPlan``, on a thread of its own: each
/// batch's payload is stored and the delivery recorded (on this thread's own ledger connection)
/// before it is handed over, in order, through a bounded ``BatchChannel``. Rendering never waits for
/// the network beyond that channel, so the source's read snapshot closes as soon as the last batch
/// is rendered.
///
/// A batch rendered again for an owed delivery whose records did not change is not stored anew: the
/// owed delivery itself is handed over with its stored bytes, to go out under its old id.
final class FeedBuilder: Sendable {
    /// What the builder hands over.
    enum Item {
        /// A delivery to send with these bytes; `replaced` is the owed delivery it superseded.
        case send(DeliveryRecord, FeedBox, action: ReportAction, replaced: DeliveryRecord?)
        /// An owed delivery none of whose customers is eligible any more: superseded, nothing to send.
        case nothingLeft(DeliveryRecord)
        /// An owed batch of notices, replaced by the notices due now (the first of their deliveries), or
        /// by nothing when none is due any more.
        case noticesReplaced(DeliveryRecord, by: String?)
        /// The deletion guard's count (only when the builder has ``guardSettings`` and the feed renders
        /// notices): before any batch in a snapshot feed, after the record batches in a changes feed. When
        /// `tripped`, every batch of the feed is to be held, and no notice is rendered.
        case guardCount(DeletionGuard)
    }

    enum ReportAction {
        case sent
        case resentSameID
    }

    /// What the render did, once it reached the end.
    struct Summary {
        var tally = ExportTally()
        /// Owed deliveries of the partner's older feeds that this (new, now fully rendered) feed replaced.
        var supersededOlder: [DeliveryRecord] = []
        var notes: [String] = []
        /// Evidence found on the way (a stored payload altered): the run is not OK.
        var alerts: [ExportError] = []
        /// More notices were due than the deletion guard allows: none was rendered, the feed stays open.
        var guardTripped: DeletionGuard?
    }

    typealias Channel = BatchChannel<Item, Summary>

    let plan: FeedPlan
    let export: ExportPlan
    let schema: XSDSchema?
    let sourcePath: String
    let sourceModel: SourceModel
    /// The builder's thread opens its own ledger connection.
    let ledger: LedgerConnector
    let payloads: any PayloadStore
    let runID: String
    let generatedAt: Date
    let time: TimeSource
    let events: RunEvents
    /// The deletion guard: how many customers the partner holds and its `max_deletions_percent` (nil: no guard).
    let guardSettings: (holds: Int, percent: Double)?
    /// What is done once the render reached the end of the plan, on the builder's connection, given
    /// the highest batch number recorded: the owed deliveries of older feeds it replaced come back.
    /// By default the feed is marked rendered; a shard's worker marks its shard, and the feed only
    /// once every shard is rendered.
    let rendered: (@Sendable (any LedgerStore, Int) throws -> [DeliveryRecord])?
    /// Whether the guard counts before the render (an id-only pass, so that a snapshot feed's batches
    /// can leave as they are rendered) or from the render itself (a changes feed's few batches wait for it).
    var guardCountsFirst: Bool { export.partner.contract.mode == .snapshot }
    /// A few batches in memory (each at most `max_bytes`), so that rendering and sending overlap.
    let channel = Channel(capacity: 2)
    /// Records buffers of batches already sent, given back for the next batches (a batch's buffer is
    /// a megabyte or more: allocating it afresh each time costs page faults).
    private let returned = BufferPool()
    /// Batch numbers: the next to give, the highest given (taken on the builder's thread only).
    private let numbers: Mutex<(next: Int, highest: Int)>

    init(plan: FeedPlan, export: ExportPlan, schema: XSDSchema?, sourcePath: String, sourceModel: SourceModel, ledger: any LedgerStore,
         payloads: any PayloadStore, runID: String, generatedAt: Date, time: TimeSource, events: RunEvents,
         guardSettings: (holds: Int, percent: Double)? = nil,
         rendered: (@Sendable (any LedgerStore, Int) throws -> [DeliveryRecord])? = nil) {
        self.guardSettings = guardSettings
        self.plan = plan
        self.export = export
        self.schema = schema
        self.sourcePath = sourcePath
        self.sourceModel = sourceModel
        self.ledger = ledger.connector
        self.rendered = rendered
        self.payloads = payloads
        self.runID = runID
        self.generatedAt = generatedAt
        self.time = time
        self.events = events
        numbers = Mutex((plan.nextNumber, 0))
    }

    /// Starts rendering; the batches arrive through ``channel``.
    func start() -> Channel {
        let thread = Thread { [self] in
            channel.finish(Result { try build() })
        }
        thread.stackSize = 8 << 20
        thread.start()
        return channel
    }

    private func build() throws -> Summary {
        // This thread's own connections: the ledger's and the source's.
        let ledger = try self.ledger.connect()
        let source = try CustomerDatabase(path: sourcePath, model: sourceModel)
        let job = try ExportJob(plan: export, source: source, schema: schema)
        var summary = Summary()
        try job.snapshot {
            // The guard, in the same snapshot as the render: who the partner holds that is not eligible now,
            // and who it holds under a key that would change.
            var counted: (held: GoneCustomers, count: DeletionGuard)?
            func decide(_ held: GoneCustomers, rekeyed: Int, _ settings: (holds: Int, percent: Double)) throws {
                let count = DeletionGuard(holds: settings.holds, percent: settings.percent,
                                          gone: try job.noticesDue(held, holdings: ledger), rekeyed: rekeyed)
                counted = (held, count)
                try channel.send(.guardCount(count))
            }
            if let guardSettings, plan.rendersNotices, guardCountsFirst {
                let scan = try job.guardScan(holdings: ledger, range: plan.coverage)
                try decide(scan.gone, rekeyed: scan.rekeyed, guardSettings)
            }
            if let range = plan.countsBefore { summary.tally.eligible += try job.eligibleCount(in: range) }
            var gone: GoneCustomers?
            for segment in plan.segments {
                summary.tally.add(try render(segment, job: job, ledger: ledger, notes: &summary.notes, alerts: &summary.alerts) { gone = $0 })
            }
            if plan.rendersNotices {
                // A render of the plan's whole coverage saw every customer in it; otherwise (a completion, a
                // shard taken over) the partner's holdings are merged with who is eligible now.
                let held = try counted?.held ?? gone ?? job.goneCustomers(holdings: ledger, range: plan.coverage)
                if counted == nil, let guardSettings { try decide(held, rekeyed: summary.tally.changes.rekeyed, guardSettings) }
                if let count = counted?.count, count.tripped {
                    // Counted, never rendered: an emptied consents table must not write millions of notices
                    // (those for changed keys went into the records' batches, and are counted there).
                    for (reason, n) in count.gone { summary.tally.changes.notices[reason, default: 0] += n }
                    summary.guardTripped = count
                } else {
                    try renderNotices(held, job: job, ledger: ledger, tally: &summary.tally)
                }
            }
        }
        // A feed whose notices the guard withheld is not rendered to its end: completing it renders them.
        if summary.guardTripped != nil { return summary }
        let batches = max(numbers.withLock { $0.highest }, plan.nextNumber - plan.stride)
        if let rendered {
            summary.supersededOlder = try rendered(ledger, batches)
        } else {
            summary.supersededOlder = try ledger.finishRender(feed: plan.feed.id, batches: batches, at: Timestamps.rfc3339(time.now()))
        }
        for delivery in summary.supersededOlder { payloads.discard(delivery) }
        return summary
    }

    /// The feed's last batches: the deletion notices due now, replacing the owed notice batches of the
    /// feed (the guard, if any, was decided before the render).
    private func renderNotices(_ gone: GoneCustomers, job: ExportJob, ledger: any LedgerStore, tally: inout ExportTally) throws {
        var first: String?
        let outcome = try job.runNoticeBatches(
            runID: runID, generatedAt: Timestamps.rfc3339(generatedAt), gone: gone, holdings: ledger,
            number: { [self] _ in
                takeNumber()
            },
            deliveryID: { _ in Timestamps.identifier("dlv", at: self.generatedAt) }
        ) { batch in
            first = first ?? batch.envelope.delivery
            try send(batch, replacing: nil, ledger: ledger)
        }
        for (reason, count) in outcome.counts { tally.changes.notices[reason, default: 0] += count }
        tally.changes.unnamed += outcome.unnamed
        tally.batches += outcome.batches
        tally.bytes += outcome.bytes
        for owed in plan.owedNotices {
            let reason = first.map { "notices rendered again by \(runID) (\($0) and after)" } ?? "rerun by \(runID): no notice is due any more"
            if try ledger.supersede(owed, by: first, reason: reason, at: Timestamps.rfc3339(time.now())) { payloads.discard(owed) }
            try channel.send(.noticesReplaced(owed, by: first))
        }
    }

    /// Renders one segment; hands over each batch (or the owed delivery itself when unchanged).
    private func render(_ segment: FeedPlan.Segment, job: ExportJob, ledger: any LedgerStore, notes: inout [String],
                        alerts: inout [ExportError], gone: @escaping (GoneCustomers) -> Void) throws -> ExportTally {
        var produced = 0
        var owedRecords: [UInt8]?
        var keepEvidence = false
        if let owed = segment.owed {
            do {
                let stored = try payloads.load(owed)
                // Its records and notices: a batch goes out again as the same bytes only when both are the same.
                owedRecords = Array(stored.joined[owed.recordsRange.lowerBound...])
            } catch let error as ExportError {
                if error.code == "payload.mismatch" {
                    // Never sent; kept as evidence, and said loudly: a stored payload does not change by itself.
                    keepEvidence = true
                    try ledger.markAltered(owed, error: error)
                    try ledger.add(1, to: CounterName.errors(error.code), partner: owed.partner)
                    events.problem(runID, owed.partner, owed.id, error)
                    alerts.append(error.located("delivery \(owed.id)"))
                    notes.append("ALERT [payload.mismatch] delivery \(owed.id): \(error.message); the altered file was not "
                                 + "sent and is kept as evidence; the batch was rendered again from the source")
                } else {
                    notes.append("delivery \(owed.id): \(error.message); its batch was rendered afresh")
                }
            }
        }
        let tally = try job.runBatches(
            runID: runID, generatedAt: Timestamps.rfc3339(generatedAt), consent: true, range: segment.range, holdings: ledger,
            number: { [self] k in
                k == 1 ? segment.number.map(given) ?? takeNumber() : takeNumber()
            },
            deliveryID: { _ in Timestamps.identifier("dlv", at: self.generatedAt) },
            buffers: { [returned] in returned.take() },
            gone: segment.range == plan.coverage ? gone : nil
        ) { batch in
            produced += 1
            if produced == 1, let owed = segment.owed, let owedRecords, owedRecords == batch.recordsAndNotices {
                try channel.send(.send(owed, FeedBox(try payloads.load(owed)), action: .resentSameID, replaced: nil))
                return
            }
            let replaced = produced == 1 ? segment.owed : nil
            try send(batch, replacing: replaced, ledger: ledger)
            if let replaced, !keepEvidence { payloads.discard(replaced) }
        }
        if produced == 0, let owed = segment.owed {
            let reason = "rerun by \(runID): none of its customers is eligible any more"
            if try ledger.supersede(owed, by: nil, reason: reason, at: Timestamps.rfc3339(time.now())), !keepEvidence {
                payloads.discard(owed)
            }
            try channel.send(.nothingLeft(owed))
        }
        return tally
    }

    /// Stores the batch's payload, records it pending (superseding `replaced` in the same transaction)
    /// and hands it over.
    private func send(_ batch: FinishedBatch, replacing replaced: DeliveryRecord?, ledger: any LedgerStore) throws {
        let contract = export.partner.contract
        let path = try payloads.store(batch.feed, partner: export.partner.id, delivery: batch.envelope.delivery,
                                      fileExtension: contract.format.fileExtension)
        let new = NewDelivery(
            id: batch.envelope.delivery, runID: runID, feed: plan.feed.id, partner: export.partner.id, batch: batch.number,
            bytes: batch.byteCount, sha256: batch.feed.sha256, recordsRange: batch.recordsRange, payloadPath: path,
            contentType: contract.format.contentType, gzip: contract.delivery.gzip, createdAt: Timestamps.rfc3339(time.now()),
            fields: export.partner.mapping.fields.map(\.name), purpose: contract.purpose, consentScopes: contract.consent,
            manifest: Manifest.encoded(customerIDs: batch.customerIDs, scopes: contract.consent.count, grantStream: batch.grants),
            recordCount: batch.customerIDs.count, lastCustomer: batch.lastID,
            shape: export.partner.mapping.fields.map { FieldShape(name: $0.name, from: $0.from, form: $0.form.name) },
            fieldCounts: batch.fieldCounts, changes: batch.changes, noticeCount: batch.noticeCount,
            keyField: export.partner.mapping.key)
        let delivery = try ledger.createDelivery(new, superseding: replaced, at: Timestamps.rfc3339(time.now()))
        events.batchRendered(runID, export.partner.id, batch.number, batch.customerIDs.count)
        try channel.send(.send(delivery, FeedBox(batch.feed, contents: DeliveryContents(manifest: new.manifest, changes: new.changes)),
                               action: .sent, replaced: replaced))
    }

    /// Gives a sent batch's bytes back, so that its records buffer (by now held by nobody else)
    /// serves a later batch.
    func giveBack(_ box: FeedBox) {
        guard var parts = box.take()?.takeParts(), parts.count == 3 else { return }
        returned.give(parts.remove(at: 1))
    }

    /// The next batch number of this builder's.
    private func takeNumber() -> Int {
        numbers.withLock { numbers in
            defer { numbers.next += plan.stride }
            return given(numbers.next, &numbers)
        }
    }

    /// `number` (an owed batch's own), given out.
    private func given(_ number: Int) -> Int {
        numbers.withLock { given(number, &$0) }
    }

    private func given(_ number: Int, _ numbers: inout (next: Int, highest: Int)) -> Int {
        numbers.highest = max(numbers.highest, number)
        return number
    }
}

/// A batch's bytes on their way from the builder to the sender: a reference, so that copies of a
/// channel item share the bytes instead of holding the buffers themselves, and the sender can hand
/// them back whole once sent.
final class FeedBox: Sendable {
    private let feed: Mutex<FeedBytes?>
    /// What the delivery changes once acknowledged, as just recorded (nil: a stored batch, read from the ledger).
    let contents: DeliveryContents?

    init(_ feed: FeedBytes, contents: DeliveryContents? = nil) {
        self.feed = Mutex(feed)
        self.contents = contents
    }

    /// The bytes, still in the box.
    var bytes: FeedBytes { feed.withLock { $0 ?? FeedBytes(parts: []) } }

    /// The bytes, out of the box.
    func take() -> FeedBytes? { feed.withLock { $0.take() } }
}

/// A few spare byte buffers shared between two threads.
final class BufferPool: Sendable {
    private let buffers = Mutex<[[UInt8]]>([])

    func give(_ buffer: consuming [UInt8]) {
        var buffer = buffer
        buffer.removeAll(keepingCapacity: true)
        guard buffer.capacity > 0 else { return }
        buffers.withLock { buffers in
            if buffers.count < 1 { buffers.append(buffer) }
        }
    }

    func take() -> [UInt8]? { buffers.withLock { $0.popLast() } }
}
