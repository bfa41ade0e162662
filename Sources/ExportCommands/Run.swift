import ArgumentParser
import ExportConfig
import ExportCore
import Foundation
import Pipeline

extension PartnerExportCommand {
    /// `run`: the batch job.
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The batch job: select, minimise, render and deliver each partner's feed, and record every disclosure.",
            discussion: "With --dry-run, every batch is rendered to files instead (mode 0600) and nothing is sent or recorded.")

        @OptionGroup var common: CommonOptions

        @Argument(help: "Partner ids to run.")
        var partners: [String] = []

        @Flag(help: "Run every partner.")
        var all = false

        @Flag(help: "Run every partner whose schedule (cron, UTC) has come due since its last completed run, and nothing else.")
        var due = false

        @Flag(help: "Render every batch to files under --out instead of delivering; no network, no ledger.")
        var dryRun = false

        @Option(help: ArgumentHelp("With --dry-run: the folder for the feeds (default: <state folder>/dry-run/<run id>).",
                                   valueName: "dir"))
        var out: String?

        @Flag(help: "Print the summary as JSON.")
        var json = false

        @Option(help: "How many partners to deliver at the same time.")
        var parallel = 2

        func validate() throws {
            guard [all, due, !partners.isEmpty].filter({ $0 }).count == 1 else {
                throw ValidationError("name the partners to run, or pass --all or --due (one of them)")
            }
            if out != nil && !dryRun { throw ValidationError("--out goes with --dry-run") }
            guard (1...16).contains(parallel) else { throw ValidationError("--parallel must be between 1 and 16") }
        }

        func run() throws {
            common.startLogging()
            let configuration = try common.loadConfiguration()
            if due && !dryRun {
                try deliverDue(configuration)
                return
            }
            let selected = try select(configuration)
            if dryRun {
                try runDry(selected, configuration: configuration)
            } else {
                try deliver(selected, configuration: configuration)
            }
        }

        /// `--due`: under the lock, the partners whose schedule fired since their last completed run.
        private func deliverDue(_ configuration: Configuration) throws {
            let coordinator = try RunCoordinator(common: common, configuration: configuration)
            let now = Clock.now()
            let dueNow = try configuration.partners.filter { partner in
                guard let text = partner.contract.schedule, let schedule = try? CronSchedule(parsing: text) else { return false }
                let last = try coordinator.ledger.lastCompletedRun(partner: partner.id).flatMap(Clock.parse)
                return schedule.isDue(lastCompleted: last.map { Int64($0.timeIntervalSince1970) }, now: Int64(now.timeIntervalSince1970))
            }
            guard !dueNow.isEmpty else {
                if !json { print("No partner is due at \(Clock.rfc3339(now)).") } else { print(JSONValue.object([("run", .null), ("partners", .array([]))]).rendered(), terminator: "") }
                return
            }
            try deliver(dueNow, configuration: configuration, coordinator: coordinator, trigger: "scheduled")
        }

        /// The real run: every selected partner rendered, delivered over HTTPS and recorded.
        private func deliver(_ partners: [Partner], configuration: Configuration, coordinator existing: RunCoordinator? = nil,
                             trigger: String = "manual") throws {
            let coordinator = try existing ?? RunCoordinator(common: common, configuration: configuration)
            let prepared = try partners.map { try coordinator.prepare($0) }
            let now = Clock.now()
            let runID = Timestamps.identifier("run", at: now, randomBytes: 3)
            try coordinator.ledger.startRun(id: runID, trigger: trigger, partners: partners.map(\.id), at: Timestamps.precise(now))
            let payloads = coordinator.payloads
            let policy = coordinator.policy
            let progress = Progress()
            let events = RunCoordinator.events(run: runID, progress: progress)
            let outcomes = coordinator.forEachPartner(prepared, parallel: parallel) { prepared, source, ledger in
                PartnerDelivery(plan: prepared.plan, source: source, schema: prepared.schema, ledger: ledger, client: prepared.client,
                                payloads: payloads, runID: runID, policy: policy, now: { Clock.now() },
                                sleep: { Thread.sleep(forTimeInterval: $0) }, events: events).run()
            }
            progress.finish()
            let succeeded = try coordinator.finish(run: runID, outcomes: outcomes)
            common.writeMetrics(coordinator.ledger, configuration: configuration)
            try RunReport(ledger: coordinator.ledger, run: runID).print(json: json)
            if !succeeded { throw ExitCode(1) }
        }

        private func select(_ configuration: Configuration) throws -> [Partner] {
            if all { return configuration.partners }
            if due { return configuration.partners.filter { $0.contract.schedule != nil } }
            return try partners.map { id in
                guard let partner = configuration.partner(id) else {
                    throw CommandFailure("there is no partner '\(id)' in \(common.configDirectory)/partners; known: "
                                         + configuration.partners.map(\.id).joined(separator: ", "), exitCode: 2)
                }
                return partner
            }
        }

        private func runDry(_ partners: [Partner], configuration: Configuration) throws {
            let now = Clock.now()
            let runID = Timestamps.identifier("dry", at: now, randomBytes: 3)
            let folder = out ?? (common.stateDirectory as NSString).appendingPathComponent("dry-run/\(runID)")
            let plans = try partners.map { try makePlan($0) }
            let source = try openSource(common.databasePath)
            var results: [(Partner, String, Result<ExportTally, Error>)] = []
            for plan in plans {
                let partnerFolder = (folder as NSString).appendingPathComponent(plan.partner.id)
                let result = Result {
                    let job = try ExportJob(plan: plan, source: source, schema: try SchemaCheck.load(plan.partner, in: configuration))
                    return try DryRun(job: job, folder: partnerFolder).run(runID: runID, generatedAt: Clock.rfc3339(now))
                }
                results.append((plan.partner, partnerFolder, result))
            }
            if json {
                print(JSONValue.object([
                    ("run", .string(runID)), ("dry_run", .bool(true)), ("folder", .string(folder)),
                    ("partners", .array(results.map { partner, partnerFolder, result in
                        switch result {
                        case .success(let tally):
                            return .object([("partner", .string(partner.id)), ("status", .string("rendered")),
                                            ("deliveries", .int(tally.batches)), ("records", .int(tally.rendered)),
                                            ("eligible", .int(tally.eligible)), ("rejected", .int(tally.rejectedCount)),
                                            ("bytes", .int(tally.bytes)), ("folder", .string(partnerFolder))])
                        case .failure(let error):
                            return .object([("partner", .string(partner.id)), ("status", .string("failed")),
                                            ("error", .string("\(error)"))])
                        }
                    })),
                ]).rendered(), terminator: "")
            } else {
                print("Dry run \(runID): nothing was sent and nothing was recorded. Feeds are under \(folder)")
                print(Terminal.table(["partner", "format", "eligible", "rendered", "rejected", "batches", "bytes", "status"],
                                     results.map { partner, _, result in
                    switch result {
                    case .success(let tally):
                        return [partner.id, partner.contract.format.rawValue, Terminal.count(tally.eligible),
                                Terminal.count(tally.rendered), Terminal.count(tally.rejectedCount), Terminal.count(tally.batches),
                                Terminal.count(tally.bytes), "ok"]
                    case .failure:
                        return [partner.id, partner.contract.format.rawValue, "-", "-", "-", "-", "-", "FAILED"]
                    }
                }))
                for (partner, _, result) in results {
                    if case .success(let tally) = result, tally.rejectedCount > 0 {
                        print("\(partner.id): \(tally.rejectedCount) record(s) rejected: "
                              + tally.rejected.prefix(5).map { "customer \($0.customerID) (\($0.reason))" }.joined(separator: "; ")
                              + (tally.rejectedCount > 5 ? "; 'preview \(partner.id) --json' lists them all" : ""))
                    }
                    if case .failure(let error) = result { Terminal.error("\(partner.id): \(error)") }
                }
            }
            if results.contains(where: { if case .failure = $0.2 { true } else { false } }) { throw ExitCode(1) }
        }
    }
}
