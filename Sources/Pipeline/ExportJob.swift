import CustomerSource
import ExportCore
import FeedRendering

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
    var renderer: any FeedRenderer
    let schema: XSDSchema?

    public init(plan: ExportPlan, source: CustomerDatabase, schema: XSDSchema?) throws {
        self.plan = plan
        self.source = source
        self.schema = schema
        renderer = try makeRenderer(for: plan.partner)
    }

    /// Select, minimise and render every eligible customer; `body` gets each rendered record.
    ///
    /// - Parameter consent: also read when each customer gave each consent scope (for disclosures).
    /// - Parameter inspect: sees each minimised record before it is rendered (preview samples).
    func renderRecords(into tally: Tally, consent: Bool = false, onlyIDs: [Int64]? = nil,
                       inspect: ((RecordBuffer) -> Void)? = nil, _ body: (RenderedRecord) throws -> Void) throws {
        let cursor = try source.eligibleCustomers(plan, onlyIDs: onlyIDs)
        var record = RecordBuffer()
        var fragment: [UInt8] = []
        let scopes = plan.partner.contract.consent.count
        while let row = try cursor.next() {
            tally.value.eligible += 1
            if let reason = plan.minimiser.minimise(row, into: &record) {
                tally.value.reject(RejectedRecord(customerID: row.customerID, reason: reason))
                continue
            }
            inspect?(record)
            fragment.removeAll(keepingCapacity: true)
            let replaced = try renderer.appendRecord(record, to: &fragment)
            tally.value.replacedCharacters += record.replacedCharacters + replaced
            let grants = consent ? (0..<scopes).map { row.consentGrantedAt($0) } : []
            var presence: UInt64 = 0
            for (i, value) in record.values.enumerated() where value != .null { presence |= 1 << UInt64(i) }
            try body(RenderedRecord(customerID: row.customerID, fragment: fragment, consentGrantedAt: grants, presence: presence))
        }
    }

    /// Runs the whole export in batches; `deliveryID` names each batch when it starts, and `handle`
    /// gets each finished feed in order.
    public func runBatches(runID: String, generatedAt: String, consent: Bool = false, onlyIDs: [Int64]? = nil,
                           deliveryID: @escaping (Int) -> String,
                           handle: (FinishedBatch) throws -> Void) throws -> ExportTally {
        let tally = Tally()
        var batcher = FeedBatcher(partner: plan.partner, renderer: renderer, schema: schema, runID: runID,
                                  generatedAt: generatedAt, deliveryID: deliveryID)
        try source.snapshot {
            try renderRecords(into: tally, consent: consent, onlyIDs: onlyIDs) { record in
                if let rejected = batcher.tooLarge(record) {
                    tally.value.reject(rejected)
                    return
                }
                if let batch = try batcher.add(record, tally: tally) { try emit(batch) }
            }
        }
        if let batch = try batcher.finish(tally: tally) { try emit(batch) }
        return tally.value

        func emit(_ batch: FinishedBatch) throws {
            tally.value.batches += 1
            tally.value.rendered += batch.customerIDs.count
            tally.value.bytes += batch.payload.count
            try handle(batch)
        }
    }
}

/// A rendered record on its way into a batch.
struct RenderedRecord {
    let customerID: Int64
    let fragment: [UInt8]
    let consentGrantedAt: [String]
    /// Bit i set: field i carries a value (not null). Mappings have at most 64 fields.
    let presence: UInt64
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

    /// Bounds memory on a source where every record is malformed.
    public static let rejectedListLimit = 100_000

    public init() {}

    mutating func reject(_ record: RejectedRecord) {
        rejectedCount += 1
        rejectedByReason[record.reason.code, default: 0] += 1
        if rejected.count < Self.rejectedListLimit { rejected.append(record) }
    }
}
