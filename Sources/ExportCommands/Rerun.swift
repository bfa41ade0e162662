import ArgumentParser
import ExportConfig
import ExportCore
import Foundation
import Ledger
import Pipeline

extension PartnerExportCommand {
    /// `rerun`: operators' rerun of failed deliveries, under today's consent and contract.
    struct Rerun: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send failed or rejected deliveries again, re-applying today's consent and contract.",
            discussion: """
                Each delivery's customers are selected and rendered again. The same records go out as the same bytes \
                under the same delivery id; changed records (a customer withdrew, the contract narrowed) go out as a new \
                delivery that supersedes the old one; when no customer remains, nothing is sent.
                """)

        @OptionGroup var common: CommonOptions

        @Argument(help: "Delivery ids (from 'partner-export deliveries --failed').")
        var deliveries: [String] = []

        @Flag(help: "Every failed or rejected delivery.")
        var failed = false

        @Option(help: "With --failed: only this partner's.")
        var partner: String?

        @Flag(help: "Print the summary as JSON.")
        var json = false

        func validate() throws {
            guard failed != !deliveries.isEmpty else { throw ValidationError("name delivery ids, or pass --failed (not both)") }
            if partner != nil && !failed { throw ValidationError("--partner goes with --failed") }
        }

        func run() throws {
            common.startLogging()
            let configuration = try common.loadConfiguration()
            let coordinator = try RunCoordinator(common: common, configuration: configuration)
            let ledger = coordinator.ledger
            var targets: [DeliveryRecord] = []
            if failed {
                targets = try ledger.deliveries(statuses: [.failed, .rejected], partner: partner).reversed()
            } else {
                for id in deliveries {
                    guard let record = try ledger.delivery(id) else {
                        throw CommandFailure("there is no delivery \(id) in \(common.statePath)", exitCode: 2)
                    }
                    switch record.status {
                    case .failed, .rejected: targets.append(record)
                    case .delivered: throw CommandFailure("delivery \(id) was delivered at \(record.deliveredAt ?? "?"); nothing to rerun", exitCode: 2)
                    case .superseded:
                        throw CommandFailure("delivery \(id) was superseded\(record.supersededBy.map { " by \($0)" } ?? ""); rerun that one "
                                             + "if it failed", exitCode: 2)
                    case .pending:
                        throw CommandFailure("delivery \(id) is pending: the next 'run' of \(record.partner) finishes it", exitCode: 2)
                    }
                }
            }
            if targets.isEmpty {
                print("No failed or rejected deliveries to rerun.")
                return
            }
            var prepared: [String: RunCoordinator.Prepared] = [:]
            for id in Set(targets.map(\.partner)).sorted() {
                guard let partner = configuration.partner(id) else {
                    throw CommandFailure("partner \(id) is no longer configured, so its deliveries cannot be rerun under a "
                                         + "contract; nothing was sent", exitCode: 2)
                }
                prepared[id] = try coordinator.prepare(partner)
            }
            let now = Clock.now()
            let runID = Timestamps.identifier("run", at: now, randomBytes: 3)
            try ledger.startRun(id: runID, trigger: "rerun", partners: Array(prepared.keys).sorted(), at: Timestamps.precise(now))
            let payloads = coordinator.payloads
            let policy = coordinator.policy
            let progress = Progress()
            let events = RunCoordinator.events(run: runID, progress: progress)
            // One partner's deliveries in order, partners side by side.
            let byPartner = Dictionary(grouping: targets, by: \.partner)
            let groups = prepared.keys.sorted().compactMap { id in prepared[id].map { ($0, byPartner[id] ?? []) } }
            let list = groups.map(\.0)
            let work = Dictionary(uniqueKeysWithValues: groups.map { ($0.0.plan.partner.id, $0.1) })
            let outcomes = coordinator.forEachPartner(list, parallel: 2) { prepared, source, ledger in
                var merged: PartnerOutcome?
                for old in work[prepared.plan.partner.id] ?? [] {
                    let outcome = PartnerDelivery(plan: prepared.plan, source: source, schema: prepared.schema, ledger: ledger,
                                                  client: prepared.client, payloads: payloads, runID: runID, policy: policy,
                                                  now: { Clock.now() }, sleep: { Thread.sleep(forTimeInterval: $0) },
                                                  events: events).rerun(old)
                    merged = merged.map { $0.merging(outcome) } ?? outcome
                    if !outcome.succeeded { break }  // batches in order: stop at the first that does not go through
                }
                return merged ?? PartnerOutcome(partner: prepared.plan.partner.id, startedAt: Clock.rfc3339(Clock.now()))
            }
            progress.finish()
            let succeeded = try coordinator.finish(run: runID, outcomes: outcomes)
            common.writeMetrics(coordinator.ledger, configuration: configuration)
            try RunReport(ledger: coordinator.ledger, run: runID).print(json: json)
            if !succeeded { throw ExitCode(1) }
        }
    }
}
