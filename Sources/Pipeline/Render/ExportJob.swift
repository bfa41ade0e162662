import CustomerSource
import ExportCore
import FeedRendering
import Foundation
import Ledger

/// One partner's export, read top to bottom:
///
/// 1. **select** — a cursor over the customers whose consent is in force and who pass the filters,
///    in id order, reading only the columns the mapping needs (`CustomerDatabase`);
/// 2. **minimise** — each row to exactly the mapping's fields and forms (`Minimiser`);
/// 3. **render** — each record as a JSON or XML fragment (`FeedRenderer`);
/// 4. **batch** — fragments into feeds within `max_records` / `max_bytes`, validated against the
///    partner's XSD (`FeedBatcher`);
/// 5. hand each finished feed to the caller: written to disk by a dry run, delivered and recorded by a run.
///
/// Records that cannot be rendered are rejected one by one, by customer id and reason.
public final class ExportJob {
    public let plan: ExportPlan
    let source: CustomerDatabase
    let renderer: any FeedRenderer
    let schema: XSDSchema?

    public init(plan: ExportPlan, source: CustomerDatabase, schema: XSDSchema?) throws {
        self.plan = plan
        self.source = source
        self.schema = schema
        renderer = try makeRenderer(for: plan.partner)
    }

    /// Select, minimise and render every eligible customer; `body` gets each rendered record, in
    /// customer-id order.
    ///
    /// The selection is read on a thread of its own (``ChunkedReader``) and chunks of rows are
    /// minimised and rendered on every core (``ParallelRender``); this thread only consumes.
    ///
    /// - Parameters:
    ///   - consent: also read when each customer gave each consent scope (for disclosures).
    ///   - classify: read every customer and count exclusions by first reason in the same pass.
    ///   - samples: how many minimised records (decoded) to keep for a preview.
    func renderRecords(into tally: Tally, consent: Bool = false, tracking: Bool = false, range: IDRange = .all,
                       classify: Bool = false, samples: Int = 0, _ body: (RenderedRecord) throws -> Void) throws {
        let reader = try ChunkedReader(source, plan: plan, range: range, classify: classify)
        let workers = ParallelRender(reader: reader, plan: plan, consent: consent, tracking: tracking, samples: samples,
                                     workers: max(1, min(4, ProcessInfo.processInfo.activeProcessorCount)))
        workers.start()
        defer { workers.stop() }
        while let chunk = try workers.next() {
            tally.value.eligible += chunk.eligible
            tally.value.replacedCharacters += chunk.replaced
            for rejected in chunk.rejected { tally.value.reject(rejected) }
            for sample in chunk.samples where tally.value.samples.count < samples { tally.value.samples.append(sample) }
            try chunk.forEach(body)
            workers.recycle(consume chunk)
        }
        if classify {
            let (customers, excluded) = reader.classification
            tally.value.classification = EligibilityCounts(
                customers: customers, eligible: tally.value.eligible,
                excluded: zip(ExclusionReason.reasons(for: plan.partner.contract), excluded).map { (reason: $0, count: $1) })
        }
    }

    /// Runs `body` inside one read transaction of the source, so that every range rendered in it
    /// comes from one consistent snapshot.
    public func snapshot<T>(_ body: () throws -> T) throws -> T { try source.snapshot(body) }

    /// Renders the customers of `range` in batches (call it inside ``snapshot(_:)``): `number` gives
    /// the batch number of the k-th batch (1-based), `deliveryID` names it, and `handle` gets each
    /// finished feed in order.
    ///
    /// Each record is compared with what the partner holds (`holdings`, nil when it holds nothing):
    /// in `changes` mode only new and changed records go into batches. `gone` receives the customers
    /// the partner holds in `range` that the render did not produce: the candidates for deletion
    /// notices, which ``runNoticeBatches`` turns into the feed's last batches (docs/design.md,
    /// "Change feeds and deletion notices").
    public func runBatches(runID: String, generatedAt: String, consent: Bool = false, range: IDRange = .all,
                           holdings: (any HoldingsLog)? = nil,
                           number: @escaping (Int) -> Int = { $0 }, deliveryID: @escaping (Int) -> String,
                           buffers: (() -> [UInt8]?)? = nil, gone: ((GoneCustomers) -> Void)? = nil,
                           handle: (FinishedBatch) throws -> Void) throws -> ExportTally {
        let tally = Tally()
        var batcher = FeedBatcher(partner: plan.partner, renderer: renderer, schema: schema, runID: runID,
                                  generatedAt: generatedAt, number: number, deliveryID: deliveryID)
        batcher.supply = buffers
        // Without a key (a mapping built in code), nothing can be tracked: every record is sent.
        let tracks = plan.keyIndex != nil
        let tracker = ChangeTracker(holdings: tracks ? holdings : nil, partner: plan.partner.id, range: range)
        let sendsUnchanged = plan.partner.contract.mode == .snapshot || !tracks
        try renderRecords(into: tally, consent: consent, tracking: tracks, range: range) { record in
            if let rejected = batcher.tooLarge(record) {
                tally.value.reject(rejected)
                return
            }
            let verdict: ChangeTracker.Verdict? = tracks ? try tracker.classify(record) : nil
            if verdict?.kind == .unchanged && !sendsUnchanged { return }
            if verdict?.replacedKey != nil { tally.value.changes.rekeyed += 1 }
            if var batch = try batcher.add(record, kind: verdict?.kind, replacedKey: verdict?.replacedKey, tally: tally) {
                try emit(batch, tally)
                batcher.reuse(&batch)
            }
        }
        if let batch = try batcher.finish(tally: tally) { try emit(batch, tally) }
        tally.value.changes.unchanged += tracker.unchanged
        gone?(try tracker.finish())
        return tally.value

        func emit(_ batch: FinishedBatch, _ tally: Tally) throws {
            tally.value.batches += 1
            tally.value.rendered += batch.customerIDs.count
            tally.value.bytes += batch.byteCount
            tally.value.changes.new += batch.newRecords
            tally.value.changes.changed += batch.changedRecords
            for (reason, count) in batch.notices { tally.value.changes.notices[reason, default: 0] += count }
            try handle(batch)
        }
    }

    /// What the render of the whole feed would have found gone, without rendering: the customers the
    /// partner holds that are not eligible now (a merge of its holdings with the eligible ids). A
    /// completion rerun uses it, since it renders only the owed spans.
    func goneCustomers(holdings: any HoldingsLog, range: IDRange = .all) throws -> GoneCustomers {
        let tracker = ChangeTracker(holdings: holdings, partner: plan.partner.id, range: range, idsOnly: true)
        try source.forEachEligibleID(plan, range: range) { id in try tracker.skip(through: id) }
        return try tracker.finish()
    }

    /// The deletion guard's count before a render (a snapshot feed): the customers the partner holds
    /// that are not eligible now, and how many it holds that are eligible but under a key other than
    /// the one they would be sent under now (another pseudonym key, an e-mail key whose source
    /// changed: each is a deletion notice for the old key). Reads the ids and the key's column only.
    func guardScan(holdings: any HoldingsLog, range: IDRange = .all) throws -> (gone: GoneCustomers, rekeyed: Int) {
        guard let keyIndex = plan.keyIndex, let column = plan.minimiser.source(ofField: keyIndex) else {
            return (try goneCustomers(holdings: holdings, range: range), 0)
        }
        let tracker = ChangeTracker(holdings: holdings, partner: plan.partner.id, range: range)
        var rekeyed = 0
        let minimiser = plan.minimiser
        if column == "id" {
            try source.forEachEligibleID(plan, range: range) { id in
                if try tracker.skip(through: id, key: minimiser.value(ofField: keyIndex, forID: id)) { rekeyed += 1 }
            }
        } else {
            try source.forEachEligible(plan, range: range, column: column) { id, value in
                let key = value.flatMap { minimiser.value(ofField: keyIndex, from: $0, customerID: id) }
                if try tracker.skip(through: id, key: key) { rekeyed += 1 }
            }
        }
        return (try tracker.finish(), rekeyed)
    }

    /// How many customers of `range` are eligible now (ids alone are read).
    func eligibleCount(in range: IDRange) throws -> Int {
        var count = 0
        try source.forEachEligibleID(plan, range: range) { _ in count += 1 }
        return count
    }

    /// How many deletion notices `gone` makes, by reason (read in the current snapshot; keys are not needed).
    func noticesDue(_ gone: GoneCustomers, holdings: any HoldingsLog) throws -> [DeletionReason: Int] {
        try NoticeFinder(plan: plan, source: source, holdings: holdings).due(gone).counts
    }

    /// The deletion notices due for `gone` (their reasons read in the current snapshot), in batches of
    /// their own after the records.
    func runNoticeBatches(runID: String, generatedAt: String, gone: GoneCustomers, holdings: any HoldingsLog,
                          number: @escaping (Int) -> Int, deliveryID: @escaping (Int) -> String,
                          handle: (FinishedBatch) throws -> Void) throws -> NoticeOutcome {
        let finder = NoticeFinder(plan: plan, source: source, holdings: holdings)
        let due = try finder.due(gone)
        var outcome = NoticeOutcome(counts: due.counts)
        let tally = Tally()
        var batcher = FeedBatcher(partner: plan.partner, renderer: renderer, schema: schema, runID: runID,
                                  generatedAt: generatedAt, number: number, deliveryID: deliveryID)
        outcome.unnamed = try finder.forEachNotice(due) { notice in
            if let batch = try batcher.add(notice, tally: tally) { try emitNotices(batch) }
        }
        if let batch = try batcher.finish(tally: tally) { try emitNotices(batch) }
        return outcome

        func emitNotices(_ batch: FinishedBatch) throws {
            outcome.batches += 1
            outcome.bytes += batch.byteCount
            try handle(batch)
        }
    }
}

/// What ``ExportJob/runNoticeBatches`` did.
struct NoticeOutcome {
    /// Notices due, by reason.
    var counts: [DeletionReason: Int]
    var unnamed = 0
    var batches = 0
    var bytes = 0

    var count: Int { counts.values.reduce(0, +) }
}

/// A rendered record on its way into a batch.
struct RenderedRecord {
    let customerID: Int64
    /// Valid during the call that receives the record only.
    let fragment: UnsafeRawBufferPointer
    /// The record's consent grants in the manifest's wire form (empty unless asked for); valid
    /// during the call only.
    let grants: UnsafeRawBufferPointer
    /// Bit i set: field i carries a value (not null). Mappings have at most 64 fields.
    let presence: UInt64
    /// With change tracking: 16 bytes of the SHA-256 of `fragment`, and the key field's value (valid
    /// during the call only; empty otherwise).
    var digest: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    var key: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
}

/// The running tally, shared by the stages of one export (a reference, so that closures can add to it).
final class Tally {
    var value = ExportTally()
}

/// What one partner's export did, for summaries and reports. Customer values never appear here.
public struct ExportTally: Sendable {
    /// Customers selected by consent and filters.
    public var eligible = 0
    /// Records in feeds.
    public var rendered = 0
    public var batches = 0
    public var bytes = 0
    /// Characters that became U+FFFD (invalid UTF-8, characters XML 1.0 cannot carry).
    public var replacedCharacters = 0
    /// Rejected records, by customer id; at most ``rejectedListLimit`` are kept, all are counted.
    public private(set) var rejected: [RejectedRecord] = []
    public private(set) var rejectedByReason: [String: Int] = [:]
    public private(set) var rejectedCount = 0

    /// With a classifying pass (preview): customers, eligible and excluded by first reason.
    public var classification: EligibilityCounts?
    /// The first minimised records, decoded (preview samples).
    public var samples: [[SampleValue]] = []
    /// New, changed and unchanged records against what the partner holds, and the notices found.
    public var changes = ChangeCounts()

    /// Bounds memory on a source where every record is malformed.
    public static let rejectedListLimit = 100_000

    public init() {}

    /// Adds another tally (a further id range of the same partner's run).
    public mutating func add(_ other: ExportTally) {
        eligible += other.eligible
        rendered += other.rendered
        batches += other.batches
        bytes += other.bytes
        replacedCharacters += other.replacedCharacters
        changes.add(other.changes)
        rejectedCount += other.rejectedCount
        for (code, count) in other.rejectedByReason { rejectedByReason[code, default: 0] += count }
        rejected += other.rejected.prefix(max(0, Self.rejectedListLimit - rejected.count))
    }

    mutating func reject(_ record: RejectedRecord) {
        rejectedCount += 1
        rejectedByReason[record.reason.code, default: 0] += 1
        if rejected.count < Self.rejectedListLimit { rejected.append(record) }
    }
}
