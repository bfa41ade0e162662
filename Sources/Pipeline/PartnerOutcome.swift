import ExportCore
import Ledger
import Reports

/// What one partner's part of a run did, gathered as it happens and turned into its report at the end.
struct PartnerOutcome {
    let partner: Partner
    let startedAt: String
    var status: PartnerStatus?
    var error: ExportError?
    var feed: FeedRecord?
    var feedIsNew = false
    var feedReason: String?
    var feedComplete = false
    var owedAfter = 0
    var tally: ExportTally?
    var delivered = 0
    var failed = 0
    var rejected = 0
    var held = 0
    var superseded = 0
    var retries = 0
    var recovered = 0
    var records = 0
    var bytes = 0
    /// Deletion notices in deliveries the partner acknowledged in this run.
    var noticesSent = 0
    /// Non-null values per field, summed over acknowledged deliveries, by field shape.
    var fieldValues: [(shape: FieldShape, values: Int)] = []
    var actions: [DeliveryAction] = []
    var notes: [String] = []
    /// Evidence found on the way (a stored payload altered): the partner's part is not OK.
    var alerts: [ExportError] = []

    init(partner: Partner, startedAt: String) {
        self.partner = partner
        self.startedAt = startedAt
    }

    /// Counts one delivery's end in this run.
    mutating func count(_ result: Sender.Result, action: DeliveryAction.Kind, by: [String] = []) {
        retries += max(0, result.attempts - 1)
        switch result.status {
        case .delivered:
            delivered += 1
            records += result.delivery.recordCount
            noticesSent += result.delivery.noticeCount
            bytes += result.delivery.bytes
            for (i, shape) in result.delivery.shape.enumerated() {
                let values = i < result.delivery.fieldCounts.count ? result.delivery.fieldCounts[i] : 0
                if let k = fieldValues.firstIndex(where: { $0.shape == shape }) {
                    fieldValues[k].values += values
                } else {
                    fieldValues.append((shape, values))
                }
            }
        case .rejected: rejected += 1
        default: failed += 1
        }
        actions.append(DeliveryAction(delivery: result.delivery.id, batch: result.delivery.batch, action: action, by: by,
                                      status: result.status.rawValue))
    }

    mutating func noteHeld(_ delivery: DeliveryRecord) {
        held += 1
        actions.append(DeliveryAction(delivery: delivery.id, batch: delivery.batch, action: .held, status: DeliveryStatus.held.rawValue))
    }

    mutating func noteSuperseded(_ delivery: DeliveryRecord, by successors: [String], action: DeliveryAction.Kind) {
        superseded += 1
        actions.append(DeliveryAction(delivery: delivery.id, batch: delivery.batch, action: action, by: successors,
                                      status: DeliveryStatus.superseded.rawValue))
    }

    /// The partner's entry of the run report.
    func report(finishedAt: String) -> PartnerReport {
        let contract = partner.contract
        let sentSources = Set(fieldValues.map(\.shape.from))
        let status = status ?? .error
        var report = PartnerReport(
            partner: partner.id, status: status.rawValue, error: error.map(ErrorReport.init),
            feed: feed.map { FeedReport(id: $0.id, startedBy: $0.runID, new: feedIsNew, complete: feedComplete, owed: owedAfter,
                                        reason: feedReason) },
            eligible: tally?.eligible, records: records, deliveries: delivered + failed + rejected, delivered: delivered,
            failed: failed, deliveriesRejected: rejected, held: held, superseded: superseded,
            rejectedRecords: tally?.rejectedCount ?? 0, rejectedByReason: tally?.rejectedByReason ?? [:],
            replacedCharacters: tally?.replacedCharacters ?? 0, retries: retries, recovered: recovered, bytes: bytes,
            gzip: contract.delivery.gzip, startedAt: startedAt, finishedAt: finishedAt,
            durationSeconds: Timestamps.seconds(from: startedAt, to: finishedAt),
            fields: fieldValues.map { line in
                FieldReport(name: line.shape.name, from: line.shape.from, form: line.shape.form, values: line.values,
                            allowedForms: contract.allowedForms(for: line.shape.from)?.map(\.name))
            },
            allowedNotSent: fieldValues.isEmpty ? [] : contract.allow.filter { !sentSources.contains($0.field) }
                .map { AllowedReport(field: $0.field, allowedForms: $0.forms.map(\.name)) },
            actions: actions, notes: notes, mode: contract.mode.rawValue,
            changes: tally.map { tally in
                ChangesReport(new: tally.changes.new, changed: tally.changes.changed, unchanged: tally.changes.unchanged,
                              noticesDue: Dictionary(uniqueKeysWithValues: tally.changes.notices.map { ($0.key.rawValue, $0.value) }),
                              noticesSent: noticesSent, unnamed: tally.changes.unnamed)
            })
        report.alerts = alerts.map(ErrorReport.init)
        return report
    }
}
