import ArgumentParser
import ExportCore
import Foundation
import Ledger
import Pipeline
import Reports

extension PartnerExportCommand {
    /// `runs`: the runs the ledger holds, and one run's report again.
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List runs, newest first; 'runs show RUN' prints one run's report again.",
            subcommands: [List.self, Show.self], defaultSubcommand: List.self)

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List runs, newest first.")

            @OptionGroup var common: CommonOptions

            @Option(help: "At most this many (default: 50 in the table, every one with --json).")
            var limit: Int?

            @Flag(help: "Print JSON.")
            var json = false

            func validate() throws {
                if let limit, limit < 1 { throw ValidationError("--limit must be 1 or more (leave it out for every row with --json)") }
            }

            func run() throws {
                common.startLogging()
                let ledger = try ReadOnlyLedger.open(common)
                let listing = ListingLimit(explicit: limit, tableDefault: 50)
                let total = try ledger.runCount()
                // A run still marked running whose process is gone was interrupted (the next run records it so).
                let alive = common.ledger.holderAlive()
                let entries = try ledger.runs(limit: listing.rows(json: json)).map { run -> RunEntry in
                    var entry = RunEntry(run, partners: try ledger.partnerRuns(run: run.id))
                    if run.status == .running && !alive { entry.status = RunStatus.interrupted.rawValue }
                    return entry
                }
                if json {
                    try StandardOutput.json(entries)
                    return
                }
                // What runs skip, whatever the runs below say.
                let now = Timestamps.rfc3339(CommandContext.time.now())
                for control in try ledger.partnerControls() {
                    if let sentence = control.pauseSentence {
                        try StandardOutput.line("PAUSED: \(control.partner) \(sentence) ('partner-export resume \(control.partner)')")
                    } else if control.waiting(at: now), let until = control.waitUntil {
                        try StandardOutput.line("WAITING: \(control.partner): the partner asked us to wait until \(until) "
                                                + "(\(control.waitReason ?? "Retry-After")); runs skip it until then")
                    }
                }
                if entries.isEmpty {
                    try StandardOutput.line("No runs yet.")
                    return
                }
                try StandardOutput.line(Terminal.table(["run", "trigger", "started", "finished", "status", "partners (feed)"],
                                                       entries.map { run in
                    [run.run, run.trigger, run.startedAt, run.finishedAt ?? "-", run.status,
                     run.results.isEmpty ? run.partners.joined(separator: ", ")
                         : run.results.map { "\($0.partner) \($0.status)" + ($0.feedComplete ? "" : " (INCOMPLETE)") }
                             .joined(separator: ", ")]
                }, dropOrder: [0, 4, 5, 2, 1, 3]))
                if let note = listing.note(shown: entries.count, total: total, noun: "runs", seeAll: "runs") {
                    try StandardOutput.line(note)
                }
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print one run's report again, as it was when the run ended.")

            @OptionGroup var common: CommonOptions

            @Argument(help: "The run id (from 'partner-export runs').")
            var runID: String

            @Flag(help: "Print JSON.")
            var json = false

            func validate() throws {
                guard !runID.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw ValidationError("a run id is needed: 'partner-export runs' lists them (e.g. runs show run_20261130T020000Z_1a2b3c)")
                }
            }

            func run() throws {
                common.startLogging()
                let report = RunReport(try RunReports.load(runID, from: try ReadOnlyLedger.open(common)))
                if json {
                    try StandardOutput.json(report)
                } else {
                    try StandardOutput.write(RunReportText.render(report))
                }
            }
        }
    }
}
