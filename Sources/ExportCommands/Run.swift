import ArgumentParser
import ExportConfig
import ExportCore
import Foundation
import Pipeline
import Reports

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

        @Flag(help: ArgumentHelp("Help with the run other processes share (a PostgreSQL ledger): take its items until it is done.",
                                 discussion: "The newest run in progress that still has items to do; nothing when there is none."))
        var join = false

        @Option(help: ArgumentHelp("With a PostgreSQL ledger: how long this process holds an item of a shared run without "
                                   + "renewing it (a heartbeat renews it every third). A holder that died loses its item at once "
                                   + "(the server closed its session); one that stalls, once this ran out.", valueName: "seconds"))
        var leaseSeconds = 60

        @Flag(help: "Render every batch to files under --out instead of delivering; no network, no ledger.")
        var dryRun = false

        @Option(help: ArgumentHelp("With --dry-run: the folder for the feeds (default: <state folder>/dry-run/<run id>).",
                                   valueName: "dir"))
        var out: String?

        @Flag(help: "Print the report as JSON.")
        var json = false

        @Flag(help: "Send deletion notices even when they exceed a partner's max_deletions_percent of the customers it holds.")
        var allowDeletions = false

        @Option(help: ArgumentHelp("How many work items this process runs at the same time.",
                                   discussion: "An item is a partner's feed, or one shard of it (delivery.shards); each has a thread "
                                       + "and a ledger connection of its own."))
        var parallel = 2

        func validate() throws {
            guard [all, due, join, !partners.isEmpty].filter({ $0 }).count == 1 else {
                throw ValidationError("name the partners to run, or pass --all, --due or --join (one of them)")
            }
            if out != nil && !dryRun { throw ValidationError("--out goes with --dry-run") }
            if join && dryRun { throw ValidationError("--join helps a run in progress; a dry run renders on its own (leave out --join)") }
            guard (2...3600).contains(leaseSeconds) else { throw ValidationError("--lease-seconds must be between 2 and 3600") }
            guard (1...16).contains(parallel) else { throw ValidationError("--parallel must be between 1 and 16") }
        }

        func run() throws {
            common.startLogging()
            if dryRun {
                try runDry(try common.loadConfiguration())
                return
            }
            let notifications = Notifications(common)
            try notifications.around {
                let configuration = try common.loadConfiguration()
                let request: Runner.Request = join ? .join : due ? .due : .partners(try select(configuration), trigger: .manual)
                try RunCommand.execute(request, common: common, configuration: configuration, parallel: parallel, json: json,
                                       allowDeletions: allowDeletions, leaseSeconds: leaseSeconds, notifications: notifications)
            }
        }

        private func select(_ configuration: Configuration) throws -> [Partner] {
            if all { return configuration.partners }
            return try partners.map { id in
                guard let partner = configuration.partner(id) else {
                    throw ExportError.usage("there is no partner '\(id)' in \(common.configDirectory)/partners; known: "
                                            + configuration.partners.map(\.id).joined(separator: ", "))
                }
                return partner
            }
        }

        private func runDry(_ configuration: Configuration) throws {
            var selected = due ? [] : try select(configuration)
            if due {
                // Only the partners that are due, by the ledger's record of their last runs (read-only).
                let ledger = try common.ledger.exists() ? try ReadOnlyLedger.open(common) : nil
                selected = try Runner.duePartners(configuration.partners, ledger: ledger, now: CommandContext.time.now())
            }
            for partner in selected {
                for variable in Validation.requiredVariables(partner) where common.environment[variable]?.isEmpty ?? true {
                    Terminal.warning("\(partner.id): the environment variable \(variable) is not set here; a real run needs it")
                }
            }
            // What each partner holds, to find its changes and notices (read only; none without a ledger).
            let holdings = try ReadOnlyLedger.holdings(common)
            let document = DryRunDocument(try DryRun(configuration: configuration, sourcePath: common.databasePath,
                                                     environment: common.environment, time: CommandContext.time)
                .run(selected, folder: out, stateFolder: common.stateDirectory, holdings: holdings))
            if json {
                try StandardOutput.json(document)
            } else {
                try StandardOutput.line("Dry run \(document.run): nothing was sent and nothing was recorded. Feeds are under \(document.folder)")
                try StandardOutput.line(Terminal.table(["partner", "eligible", "rendered", "rejected", "notices", "batches", "bytes", "status"],
                                                       document.partners.map { p in
                    p.status == "rendered"
                        ? [p.partner, Terminal.count(p.eligible), Terminal.count(p.records), Terminal.count(p.rejectedRecords),
                           Terminal.count(p.notices), Terminal.count(p.deliveries), Terminal.count(p.bytes), "ok"]
                        : [p.partner, "-", "-", "-", "-", "-", "-", "FAILED"]
                }))
                for p in document.partners {
                    if p.rejectedRecords > 0 {
                        try StandardOutput.line("\(p.partner): \(p.rejectedRecords) record(s) rejected: "
                                                + p.firstRejections.map { "customer \($0.customerID) (\($0.reason))" }.joined(separator: "; ")
                                                + (p.rejectedRecords > 5 ? "; 'preview \(p.partner) --json' lists them all" : ""))
                    }
                    if let error = p.error { Terminal.error("\(p.partner): [\(error.code)] \(error.message)") }
                }
            }
            if document.partners.contains(where: { $0.status != "rendered" }) { throw ExitCode(1) }
        }
    }
}

/// What `run` and `rerun` share: one call into the library, the report printed, the exit code.
enum RunCommand {
    static func execute(_ request: Runner.Request, common: CommonOptions, configuration: Configuration, parallel: Int,
                        json: Bool, allowDeletions: Bool, leaseSeconds: Int = 60, notifications: Notifications) throws {
        let progress = ProgressLine()
        var settings = common.runSettings(configuration, parallel: parallel, events: RunEventsLog.events(progress: progress))
        settings.allowDeletions = allowDeletions
        settings.leaseSeconds = leaseSeconds
        settings.worker = ProcessInfo.processInfo.environment["PARTNER_EXPORT_WORKER_NAME"].flatMap { $0.isEmpty ? nil : $0 }
        let runner = Runner(settings)
        let result: RunResult
        do {
            result = try runner.run(request)
        } catch {
            progress.finish()
            if let error = error as? ExportError, error.code.hasPrefix("audit.") {
                notifications.announce(after: nil, failure: error, common: common)
            }
            throw error
        }
        progress.finish()
        let report = RunReport(result)
        for warning in runner.warnings { Terminal.warning(warning.message) }
        if json {
            try StandardOutput.json(report)
        } else {
            try StandardOutput.write(RunReportText.render(report))
            if let checkpoint = runner.checkpoint { try StandardOutput.line("Disclosure log checkpoint: \(checkpoint)") }
            // Said to the person reading the text report (JSON-line logs stay one object per line).
            if let key = runner.missingSigningKey, report.run != nil, common.resolvedLogFormat == .text {
                Terminal.warning("the disclosure log's checkpoint was not signed: there is no signing key at \(key) "
                                 + "('partner-export audit init' makes one)")
            }
        }
        // After the report is out: a slow notification endpoint never holds it back.
        if report.run != nil { notifications.announce(after: result, failure: nil, common: common) }
        if report.run != nil && !report.succeeded { throw ExitCode(1) }
    }
}
