import ExportCore
import Ledger
import Reports

/// Reading runs back: a run's report as it was stored when the run ended, with the later runs that
/// completed its feeds listed under it (never merged into its figures).
public enum RunReports {
    public static func load(_ run: String, from ledger: any LedgerStore) throws -> RunReport {
        guard let record = try ledger.run(run) else {
            throw ExportError.usage("there is no run \(run) in \(ledger.location) (see 'partner-export runs')")
        }
        // In the order the run was asked for its partners.
        let order = Dictionary(record.partners.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let rows = try ledger.partnerRuns(run: run).sorted { (order[$0.partner] ?? .max, $0.partner) < (order[$1.partner] ?? .max, $1.partner) }
        var partners: [PartnerReport] = []
        for row in rows {
            var report = decode(row)
            try addLater(&report, run: run, ledger: ledger)
            partners.append(report)
        }
        // A run that died (or is still going) has no entry for the partners it did not finish: what the
        // ledger holds of their part says what they ended with.
        let reported = Set(rows.map(\.partner))
        let started = try ledger.feeds(startedBy: run)
        for partner in record.partners where !reported.contains(partner) {
            var report = try unfinished(partner, run: record, feed: started.first { $0.partner == partner }, ledger: ledger)
            try addLater(&report, run: run, ledger: ledger)
            partners.append(report)
        }
        var report = RunReport(run: record.id, trigger: record.trigger.rawValue, status: record.status.rawValue,
                               startedAt: record.startedAt, finishedAt: record.finishedAt,
                               durationSeconds: Timestamps.seconds(from: record.startedAt, to: record.finishedAt), partners: partners)
        let items = try ledger.workItems(run: run)
        if !items.isEmpty {
            // A run that ended without an item ending (its workers died): the item is not running any more.
            let ended = record.status != .running
            report.work = items.map { item in
                WorkItemReport(partner: item.partner, shard: item.shard, shards: item.shards, ids: item.range.description,
                               status: ended && (item.status == .running || item.status == .pending) ? "interrupted" : item.status.rawValue,
                               worker: item.holder, earlierWorkers: item.earlierHolders, takeovers: item.takeovers)
            }
        }
        return report
    }

    /// What later runs did to the partner's feed of this run: completed it, or replaced it.
    static func addLater(_ report: inout PartnerReport, run: String, ledger: any LedgerStore) throws {
        guard let id = report.feed?.id, let feed = try ledger.feed(id), !(report.feed?.complete ?? true) else { return }
        if let by = feed.completedBy, by != run, !report.completedBy.contains(by) { report.completedBy.append(by) }
        if let newer = feed.supersededBy {
            // Replaced by a newer feed (a rerun that rendered everything again): completed when that one is.
            let replacement = try ledger.feed(newer)
            report.notes.append("its feed was replaced by the newer feed \(newer)"
                                + (replacement?.completedBy.map { ", which run \($0) completed" } ?? ""))
            if let by = replacement?.completedBy, by != run, !report.completedBy.contains(by) { report.completedBy.append(by) }
        }
    }

    /// A partner's part the run never finished (the process died, or it is still at it): its deliveries
    /// in this run, by status, and its feed as the ledger holds it.
    static func unfinished(_ partner: String, run: RunRecord, feed: FeedRecord?, ledger: any LedgerStore) throws -> PartnerReport {
        let deliveries = try ledger.deliveries(DeliveryQuery(partner: partner, run: run.id))
        // Acknowledged by this run's own attempts (a later run may have resent and delivered the rest).
        let acknowledged = try ledger.acknowledged(inRun: run.id)
        let delivered = deliveries.filter { acknowledged.contains($0.id) }
        let owed = deliveries.filter { d in !delivered.contains { $0.id == d.id } && d.status != .superseded }
        let status = run.status == .running ? "running" : "interrupted"
        var report = PartnerReport(
            partner: partner, status: status,
            feed: feed.map { FeedReport(id: $0.id, startedBy: $0.runID, new: true, complete: $0.completedBy == run.id, owed: owed.count) },
            records: delivered.reduce(0) { $0 + $1.recordCount }, deliveries: deliveries.count, delivered: delivered.count,
            held: deliveries.filter { $0.status == .held }.count, superseded: deliveries.filter { $0.status == .superseded }.count,
            bytes: delivered.reduce(0) { $0 + $1.bytes }, startedAt: run.startedAt)
        report.notes.append(run.status == .running
            ? "still at work: its part has not ended"
            : "the run stopped before this partner's part ended: \(delivered.count) of its \(deliveries.count) deliveries were "
                + "acknowledged then" + (owed.isEmpty ? "" : ", \(owed.count) left owed"))
        return report
    }

    /// The stored report, or (for a row an earlier version wrote) what its columns say.
    static func decode(_ row: PartnerRunRecord) -> PartnerReport {
        if let text = row.report, let report = try? JSONCoding.decode(PartnerReport.self, from: text) { return report }
        return PartnerReport(partner: row.partner, status: row.status.rawValue,
                             error: row.error.map { ErrorReport(code: row.errorCode ?? "unknown", fate: "unknown", message: $0) },
                             feed: row.feed.map { FeedReport(id: $0, startedBy: "", new: true, complete: row.feedComplete, owed: 0) },
                             eligible: row.eligible, records: row.records, deliveries: row.deliveries,
                             rejectedRecords: row.rejected, bytes: row.bytes, startedAt: row.startedAt, finishedAt: row.finishedAt,
                             durationSeconds: Timestamps.seconds(from: row.startedAt, to: row.finishedAt),
                             notes: ["reported by an earlier version: per-delivery figures were not kept"])
    }
}
