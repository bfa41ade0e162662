import ExportCore
import Ledger
import Pipeline
import Reports

/// The `--json` shapes (Reports) built from the pipeline's typed results, at the edge: the one place a
/// run's result becomes the report scripts read and `RunReportText` prints.
extension RunReport {
    init(_ result: RunResult) {
        self.init(run: result.run, trigger: result.trigger.rawValue, status: result.status?.rawValue ?? "nothing-to-do",
                  startedAt: result.startedAt, finishedAt: result.finishedAt,
                  durationSeconds: Timestamps.seconds(from: result.startedAt, to: result.finishedAt),
                  partners: result.partners.map(PartnerReport.init), incompleteElsewhere: result.incompleteElsewhere,
                  message: result.message)
        noticesDueElsewhere = result.noticesDueElsewhere
        if !result.work.isEmpty {
            // A run that ended without an item ending (its workers died): the item is not running any more.
            let ended = result.status != .running
            work = result.work.map { item in
                WorkItemReport(partner: item.partner, shard: item.shard, shards: item.shards, ids: item.range.description,
                               status: ended && (item.status == .running || item.status == .pending) ? "interrupted" : item.status.rawValue,
                               worker: item.holder, earlierWorkers: item.earlierHolders, takeovers: item.takeovers)
            }
        }
    }
}

extension PartnerReport {
    init(_ result: PartnerResult) {
        self.init(partner: result.partner, status: result.status.rawValue, error: result.error.map(ErrorReport.init),
                  feed: result.feed.map { FeedReport(id: $0.id, startedBy: $0.startedBy, new: $0.isNew, complete: $0.complete,
                                                     owed: $0.owed, reason: $0.reason) },
                  eligible: result.eligible, records: result.records, deliveries: result.deliveries, delivered: result.delivered,
                  failed: result.failed, deliveriesRejected: result.rejectedDeliveries, held: result.held, superseded: result.superseded,
                  rejectedRecords: result.rejectedRecords, rejectedByReason: result.rejectedByReason,
                  replacedCharacters: result.replacedCharacters, retries: result.retries, recovered: result.recovered, bytes: result.bytes,
                  gzip: result.gzip, startedAt: result.startedAt, finishedAt: result.finishedAt,
                  durationSeconds: Timestamps.seconds(from: result.startedAt, to: result.finishedAt),
                  fields: result.fields.map { FieldReport(name: $0.shape.name, from: $0.shape.from, form: $0.shape.form, values: $0.values,
                                                          allowedForms: $0.allowedForms) },
                  allowedNotSent: result.allowedNotSent.map { AllowedReport(field: $0.field, allowedForms: $0.forms) },
                  actions: result.actions.map { action in
                      DeliveryAction(delivery: action.delivery, batch: action.batch,
                                     action: action.kind, by: action.by,
                                     status: action.status.rawValue)
                  },
                  completedBy: result.completedBy, notes: result.notes, mode: result.mode?.rawValue,
                  changes: result.changes.map { changes in
                      ChangesReport(new: changes.new, changed: changes.changed, unchanged: changes.unchanged,
                                    noticesDue: Dictionary(uniqueKeysWithValues: changes.noticesDue.map { ($0.key.rawValue, $0.value) }),
                                    noticesSent: changes.noticesSent, unnamed: changes.unnamed)
                  })
        alerts = result.alerts.map(ErrorReport.init)
    }
}

extension DryRunDocument {
    init(_ result: DryRunResult) {
        self.init(run: result.run, folder: result.folder, partners: result.partners.map { part in
            guard let tally = part.tally else {
                return DryRunDocument.Partner(partner: part.partner, status: "failed", deliveries: 0, records: 0, eligible: 0,
                                              rejectedRecords: 0, bytes: 0, folder: part.folder, error: part.error.map(ErrorReport.init),
                                              rejected: [])
            }
            var entry = DryRunDocument.Partner(partner: part.partner, status: "rendered", deliveries: tally.batches, records: tally.rendered,
                                               eligible: tally.eligible, rejectedRecords: tally.rejectedCount, bytes: tally.bytes,
                                               folder: part.folder, error: nil, rejected: tally.rejected)
            entry.notices = tally.changes.noticeCount
            entry.noticesByReason = Dictionary(uniqueKeysWithValues: tally.changes.notices.map { ($0.key.rawValue, $0.value) })
            return entry
        })
    }
}

extension DeliveryEntry {
    init(_ d: DeliveryRecord, showAnswer: Bool = false) {
        self.init(id: d.id, run: d.runID, feed: d.feed, partner: d.partner, batch: d.batch, status: d.status.rawValue, attempts: d.attempts,
                  recordCount: d.recordCount, bytes: d.bytes, sha256: d.sha256, lastHTTPStatus: d.lastHTTPStatus, lastError: d.lastError,
                  lastErrorCode: d.lastErrorCode, createdAt: d.createdAt, deliveredAt: d.status == .delivered ? d.deliveredAt : nil,
                  supersededBy: d.supersededBy, supersedes: d.supersedes, inDoubt: d.inDoubt,
                  answerPrefix: showAnswer ? String(decoding: d.answerPrefix, as: UTF8.self) : nil)
    }
}

extension DisclosureEntry {
    init(_ d: DisclosureRecord) {
        let deletion = d.kind == .deletion
        self.init(kind: d.kind.rawValue, partner: d.partner, delivery: d.deliveryID, fields: d.fields, disclosedAt: d.disclosedAt,
                  consentScope: deletion ? nil : d.consentScope, consentGrantedAt: deletion ? nil : d.consentGrantedAt, purpose: d.purpose,
                  reason: d.reason?.rawValue, confirmed: d.confirmed, logIndex: d.logIndex)
    }
}

extension RunEntry {
    init(_ run: RunRecord, partners: [PartnerRunRecord]) {
        self.init(run: run.id, trigger: run.trigger.rawValue, status: run.status.rawValue, startedAt: run.startedAt,
                  finishedAt: run.finishedAt, partners: run.partners,
                  results: partners.map { RunEntry.PartnerResult(partner: $0.partner, status: $0.status.rawValue, feedComplete: $0.feedComplete) })
    }
}
