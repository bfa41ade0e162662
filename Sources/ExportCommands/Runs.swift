import ArgumentParser
import Foundation
import Ledger

extension PartnerExportCommand {
    /// `runs`: the runs the ledger holds, and one run's report again.
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List runs, newest first; 'runs show RUN' prints one run's report again.",
            subcommands: [List.self, Show.self], defaultSubcommand: List.self)

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List runs, newest first.")

            @OptionGroup var common: CommonOptions

            @Option(help: "At most this many.")
            var limit = 50

            @Flag(help: "Print JSON.")
            var json = false

            func run() throws {
                common.startLogging()
                let runs = try common.openLedger().runs(limit: limit)
                if json {
                    print(JSONValue.array(runs.map { run in
                        .object([("run", .string(run.id)), ("trigger", .string(run.trigger)), ("status", .string(run.status)),
                                 ("started_at", .string(run.startedAt)), ("finished_at", .optional(run.finishedAt)),
                                 ("partners", .array(run.partners.map { .string($0) }))])
                    }).rendered(), terminator: "")
                    return
                }
                if runs.isEmpty {
                    print("No runs yet.")
                    return
                }
                print(Terminal.table(["run", "trigger", "started", "finished", "status", "partners"], runs.map { run in
                    [run.id, run.trigger, run.startedAt, run.finishedAt ?? "-", run.status, run.partners.joined(separator: ", ")]
                }))
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print one run's report again.")

            @OptionGroup var common: CommonOptions

            @Argument(help: "The run id (from 'partner-export runs').")
            var runID: String

            @Flag(help: "Print JSON.")
            var json = false

            func run() throws {
                common.startLogging()
                try RunReport(ledger: common.openLedger(), run: runID).print(json: json)
            }
        }
    }
}
