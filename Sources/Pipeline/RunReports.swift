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
        let rows = try ledger.partnerRuns(run: run)
        var partners: [PartnerReport] = []
        for row in rows {
            var report = decode(row)
            if let id = report.feed?.id, let feed = try ledger.feed(id), !(report.feed?.complete ?? true) {
                if let by = feed.completedBy, by != run { report.completedBy = [by] }
                if let newer = feed.supersededBy { report.notes.append("its feed was replaced by the newer feed \(newer)") }
            }
            partners.append(report)
        }
        var report = RunReport(run: record.id, trigger: record.trigger.rawValue, status: record.status.rawValue,
                               startedAt: record.startedAt, finishedAt: record.finishedAt,
                               durationSeconds: Timestamps.seconds(from: record.startedAt, to: record.finishedAt), partners: partners)
        let items = try ledger.workItems(run: run)
        if !items.isEmpty {
            report.work = items.map { item in
                WorkItemReport(partner: item.partner, shard: item.shard, shards: item.shards, ids: item.range.description,
                               status: item.status.rawValue, worker: item.holder, earlierWorkers: item.earlierHolders,
                               takeovers: item.takeovers)
            }
        }
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
