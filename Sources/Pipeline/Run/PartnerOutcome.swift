import ExportCore
import Ledger

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
    var actions: [PartnerResult.Action] = []
    var notes: [String] = []
    /// Evidence found on the way (a stored payload altered): the partner's part is not OK.
    var alerts: [ExportError] = []

    init(partner: Partner, startedAt: String) {
        self.partner = partner
        self.startedAt = startedAt
    }

    /// Counts one delivery's end in this run.
    mutating func count(_ result: Sender.Result, action: PartnerResult.Action.Kind, by: [String] = []) {
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
        actions.append(PartnerResult.Action(delivery: result.delivery.id, batch: result.delivery.batch, kind: action, by: by,
                                            status: result.status))
    }

    mutating func noteHeld(_ delivery: DeliveryRecord) {
        held += 1
        actions.append(PartnerResult.Action(delivery: delivery.id, batch: delivery.batch, kind: .held, by: [], status: .held))
    }

    mutating func noteSuperseded(_ delivery: DeliveryRecord, by successors: [String], action: PartnerResult.Action.Kind) {
        superseded += 1
        actions.append(PartnerResult.Action(delivery: delivery.id, batch: delivery.batch, kind: action, by: successors,
                                            status: .superseded))
    }

    /// What the part did, typed: its entry of the run's results.
    func result(finishedAt: String) -> PartnerResult {
        let contract = partner.contract
        let sentSources = Set(fieldValues.map(\.shape.from))
        var result = PartnerResult(partner: partner.id, status: status ?? .error, startedAt: startedAt)
        result.error = error
        result.feed = feed.map { PartnerResult.Feed(id: $0.id, startedBy: $0.runID, isNew: feedIsNew, complete: feedComplete,
                                                    owed: owedAfter, reason: feedReason) }
        result.eligible = tally?.eligible
        result.records = records
        result.delivered = delivered
        result.failed = failed
        result.rejectedDeliveries = rejected
        result.held = held
        result.superseded = superseded
        result.rejectedRecords = tally?.rejectedCount ?? 0
        result.rejectedByReason = tally?.rejectedByReason ?? [:]
        result.replacedCharacters = tally?.replacedCharacters ?? 0
        result.retries = retries
        result.recovered = recovered
        result.bytes = bytes
        result.gzip = contract.delivery.gzip
        result.finishedAt = finishedAt
        result.fields = fieldValues.map { PartnerResult.FieldCount(shape: $0.shape, values: $0.values,
                                                                   allowedForms: contract.allowedForms(for: $0.shape.from)?.map(\.name)) }
        result.allowedNotSent = fieldValues.isEmpty ? [] : contract.allow.filter { !sentSources.contains($0.field) }
            .map { PartnerResult.Allowed(field: $0.field, forms: $0.forms.map(\.name)) }
        result.actions = actions
        result.notes = notes
        result.alerts = alerts
        result.mode = contract.mode
        result.changes = tally.map { tally in
            PartnerResult.Changes(new: tally.changes.new, changed: tally.changes.changed, unchanged: tally.changes.unchanged,
                                  noticesDue: tally.changes.notices, noticesSent: noticesSent, unnamed: tally.changes.unnamed)
        }
        return result
    }
}
