import ExportCore
import Ledger

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
            // Each shard's result as its worker recorded it; one that cannot be read is an error, never skipped.
            let reports = try shards.compactMap { shard -> PartnerResult? in
                guard let text = shard.report else { return nil }
                do {
                    return try JSONCoding.decode(PartnerResult.self, from: text)
                } catch {
                    throw ExportError.ledgerDamaged("the result of run \(run)'s item for partner \(partner), shard \(shard.shard) of "
                                                    + "\(shard.shards), cannot be read (\(error)); the run is left unsettled")
                }
            }
            guard var report = PartnerResult.merged(reports) else { continue }
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

