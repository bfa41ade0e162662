import ExportCore
import Ledger

/// Reading runs back: a run's results as they were recorded when each part ended, with the later runs
/// that completed its feeds listed under them (never merged into its figures).
public enum RunReports {
    public static func load(_ run: String, from ledger: any LedgerStore) throws -> RunResult {
        guard let record = try ledger.run(run) else {
            throw ExportError.usage("there is no run \(run) in \(ledger.location) (see 'partner-export runs')")
        }
        // In the order the run was asked for its partners.
        let order = Dictionary(record.partners.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let rows = try ledger.partnerRuns(run: run).sorted { (order[$0.partner] ?? .max, $0.partner) < (order[$1.partner] ?? .max, $1.partner) }
        var partners: [PartnerResult] = []
        for row in rows {
            var report = try decode(row, run: run)
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
        var result = RunResult(run: record.id, trigger: record.trigger, status: record.status, startedAt: record.startedAt,
                               finishedAt: record.finishedAt, partners: partners)
        result.work = try ledger.workItems(run: run)
        return result
    }

    /// What later runs did to the partner's feed of this run: completed it, or replaced it.
    static func addLater(_ report: inout PartnerResult, run: String, ledger: any LedgerStore) throws {
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
    static func unfinished(_ partner: String, run: RunRecord, feed: FeedRecord?, ledger: any LedgerStore) throws -> PartnerResult {
        let deliveries = try ledger.deliveries(DeliveryQuery(partner: partner, run: run.id))
        // Acknowledged by this run's own attempts (a later run may have resent and delivered the rest).
        let acknowledged = try ledger.acknowledged(inRun: run.id)
        let delivered = deliveries.filter { acknowledged.contains($0.id) }
        let owed = deliveries.filter { d in !delivered.contains { $0.id == d.id } && d.status != .superseded }
        var result = PartnerResult(partner: partner, status: run.status == .running ? .running : .interrupted, startedAt: run.startedAt)
        result.feed = feed.map { PartnerResult.Feed(id: $0.id, startedBy: $0.runID, isNew: true, complete: $0.completedBy == run.id,
                                                    owed: owed.count) }
        result.records = delivered.reduce(0) { $0 + $1.recordCount }
        result.delivered = delivered.count
        result.held = deliveries.filter { $0.status == .held }.count
        result.superseded = deliveries.filter { $0.status == .superseded }.count
        result.bytes = delivered.reduce(0) { $0 + $1.bytes }
        result.notes.append(run.status == .running
            ? "still at work: its part has not ended"
            : "the run stopped before this partner's part ended: \(delivered.count) of its \(deliveries.count) deliveries were "
                + "acknowledged then" + (owed.isEmpty ? "" : ", \(owed.count) left owed"))
        return result
    }

    /// The stored result, or (for a row an earlier version wrote without one) what its columns say.
    static func decode(_ row: PartnerRunRecord, run: String) throws -> PartnerResult {
        if let text = row.report {
            do {
                return try JSONCoding.decode(PartnerResult.self, from: text)
            } catch {
                throw ExportError.ledgerDamaged("the recorded result of partner \(row.partner) in run \(run) cannot be read (\(error))")
            }
        }
        var result = PartnerResult(partner: row.partner, status: row.status, startedAt: row.startedAt)
        result.error = row.error.map { ExportError(code: row.errorCode ?? "internal", message: $0) }
        result.feed = row.feed.map { PartnerResult.Feed(id: $0, startedBy: "", isNew: true, complete: row.feedComplete, owed: 0) }
        result.eligible = row.eligible
        result.records = row.records
        result.delivered = row.deliveries
        result.rejectedRecords = row.rejected
        result.bytes = row.bytes
        result.finishedAt = row.finishedAt
        result.notes = ["reported by an earlier version: per-delivery figures were not kept"]
        return result
    }
}
