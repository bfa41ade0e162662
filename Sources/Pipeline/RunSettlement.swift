import ExportCore
import Ledger
import Reports

/// The end of a run: once every item of it ended, each partner's report is its shards' summed (and
/// what a worker that died delivered before it did), its feed settled, and the run finished.
extension Runner {
    /// Once every item of `run` is done: each partner's report (its shards' summed, its feed settled)
    /// and the run's end. Every process may do it; what it writes is the same, and the run ends once.
    func settle(_ run: String, queue: any WorkQueue, ledger: any LedgerStore) throws {
        let all = try queue.items(run: run, on: ledger)
        guard !all.isEmpty, all.allSatisfy({ $0.status == .done || $0.status == .failed }) else { return }
        let now = Timestamps.rfc3339(settings.time.now())
        var succeeded = true
        var partners: [String] = []
        for item in all where !partners.contains(item.partner) { partners.append(item.partner) }
        for partner in partners {
            let shards = all.filter { $0.partner == partner }
            let reports = shards.compactMap { $0.report.flatMap { try? JSONCoding.decode(PartnerReport.self, from: $0) } }
            guard var report = PartnerReport.merged(reports) else { continue }
            // What a worker that died delivered before it did: in the ledger, in no shard's report.
            let reported = Set(reports.flatMap(\.actions).map(\.delivery))
            let contract = settings.configuration.partner(partner)?.contract
            for delivery in try ledger.deliveries(DeliveryQuery(partner: partner, run: run))
                where delivery.status == .delivered && !reported.contains(delivery.id) {
                report.add(delivered: delivery, allowedForms: { contract?.allowedForms(for: $0)?.map(\.name) })
            }
            report.actions.sort { $0.batch < $1.batch }
            if let feed = report.feed?.id {
                report.feed?.complete = try ledger.settleFeed(feed, by: run, at: now)
            }
            report.feed?.owed = try ledger.owed(partner: partner).count
            if (report.feed?.owed ?? 0) > 0 { report.feed?.complete = false }
            if shards.count > 1 || shards.contains(where: { $0.takeovers > 0 }) {
                let earlier = Array(Set(shards.flatMap(\.earlierHolders))).sorted()
                report.notes.append("done by " + Array(Set(shards.compactMap(\.holder))).sorted().joined(separator: ", ")
                                    + (earlier.isEmpty ? "" : " (taken over from \(earlier.joined(separator: ", ")))")
                                    + " in \(shards.count) shard(s)")
            }
            succeeded = succeeded && report.succeeded
            try Self.record(report, run: run, ledger: ledger)
        }
        try ledger.finishRun(id: run, status: succeeded ? .succeeded : .failed, at: Timestamps.precise(settings.time.now()))
    }
}

extension PartnerReport {
    /// Counts a delivery the partner acknowledged in this run that no shard's report holds (its
    /// worker died after the acknowledgement, before it reported).
    mutating func add(delivered delivery: DeliveryRecord, allowedForms: (String) -> [String]?) {
        delivered += 1
        deliveries += 1
        records += delivery.recordCount
        bytes += delivery.bytes
        changes?.noticesSent += delivery.noticeCount
        for (i, shape) in delivery.shape.enumerated() {
            addValues(of: FieldReport(name: shape.name, from: shape.from, form: shape.form,
                                      values: i < delivery.fieldCounts.count ? delivery.fieldCounts[i] : 0,
                                      allowedForms: allowedForms(shape.from)))
        }
        actions.append(DeliveryAction(delivery: delivery.id, batch: delivery.batch, action: .sent,
                                      status: DeliveryStatus.delivered.rawValue))
    }

    /// Adds `field`'s values to the line of the same field (name, source and form), or adds the line.
    mutating func addValues(of field: FieldReport) {
        if let k = fields.firstIndex(where: { $0.name == field.name && $0.from == field.from && $0.form == field.form }) {
            fields[k].values += field.values
        } else {
            fields.append(field)
        }
    }

    /// One partner's report from its shards' (each done by one worker): counts summed, the worst
    /// status (and its error), the first start and the last end; nil for no reports.
    static func merged(_ shards: [PartnerReport]) -> PartnerReport? {
        guard var merged = shards.first else { return nil }
        guard shards.count > 1 else { return merged }
        let order: [PartnerStatus] = [.error, .held, .rejected, .failed, .delivered, .nothingToSend]
        func rank(_ report: PartnerReport) -> Int { order.firstIndex { $0.rawValue == report.status } ?? 0 }
        let worst = shards.min { rank($0) < rank($1) } ?? merged
        merged.status = worst.status
        merged.error = worst.error ?? shards.compactMap(\.error).first
        for shard in shards.dropFirst() {
            if let eligible = shard.eligible { merged.eligible = (merged.eligible ?? 0) + eligible }
            merged.records += shard.records
            merged.deliveries += shard.deliveries
            merged.delivered += shard.delivered
            merged.failed += shard.failed
            merged.deliveriesRejected += shard.deliveriesRejected
            merged.held += shard.held
            merged.superseded += shard.superseded
            merged.rejectedRecords += shard.rejectedRecords
            merged.rejectedByReason.merge(shard.rejectedByReason, uniquingKeysWith: +)
            merged.replacedCharacters += shard.replacedCharacters
            merged.retries += shard.retries
            merged.recovered += shard.recovered
            merged.bytes += shard.bytes
            merged.startedAt = min(merged.startedAt, shard.startedAt)
            if let end = shard.finishedAt { merged.finishedAt = max(merged.finishedAt ?? end, end) }
            for field in shard.fields { merged.addValues(of: field) }
            merged.actions += shard.actions
            merged.notes += shard.notes.filter { !merged.notes.contains($0) }
            merged.alerts += shard.alerts
            if let changes = shard.changes {
                if var sum = merged.changes {
                    sum.new += changes.new
                    sum.changed += changes.changed
                    sum.unchanged += changes.unchanged
                    sum.noticesDue.merge(changes.noticesDue, uniquingKeysWith: +)
                    sum.noticesSent += changes.noticesSent
                    sum.unnamed += changes.unnamed
                    merged.changes = sum
                } else {
                    merged.changes = changes
                }
            }
        }
        // What the contract allows that no shard sent.
        let sent = Set(merged.fields.map(\.from))
        var listed: Set<String> = []
        merged.allowedNotSent = shards.flatMap(\.allowedNotSent).filter { !sent.contains($0.field) && listed.insert($0.field).inserted }
        merged.actions.sort { $0.batch < $1.batch }
        merged.durationSeconds = Timestamps.seconds(from: merged.startedAt, to: merged.finishedAt)
        return merged
    }
}
