import ArgumentParser
import Foundation
import Pipeline

extension PartnerExportCommand {
    /// `prune`: retention. Payloads (customer data at rest) go after 30 days; the disclosure
    /// accounting stays for 6 years.
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete payload files and dry-run feeds past their retention, and ledger rows past theirs.",
            discussion: """
                Payload files are customer data at rest: by default they go after 30 days, except those an owed (failed, \
                rejected or held) delivery still needs for an identical-bytes rerun (--include-failed deletes those too; a \
                later rerun then renders afresh) and those of a delivery in doubt (what the partner may hold). The ledger \
                (deliveries, attempts, disclosures) is the accounting a privacy officer answers from: by default it is \
                kept 6 years.
                """)

        @OptionGroup var common: CommonOptions

        @Option(help: "Delete payload files and dry-run feeds older than this many days.")
        var payloadsOlderThan = 30

        @Option(help: "Delete settled ledger rows (deliveries, attempts, disclosures, runs) older than this many days.")
        var ledgerOlderThan = 2190

        @Flag(help: "Also delete the payloads of failed, rejected and held deliveries.")
        var includeFailed = false

        @Flag(help: "Say what would be deleted, delete nothing.")
        var dryRun = false

        func validate() throws {
            guard payloadsOlderThan >= 0, ledgerOlderThan >= 1 else {
                throw ValidationError("retention periods must be 0 or more days (the ledger's at least 1)")
            }
        }

        func run() throws {
            common.startLogging()
            var settings = Retention.Settings(statePath: common.statePath, payloadDays: payloadsOlderThan, ledgerDays: ledgerOlderThan,
                                              includeFailed: includeFailed, dryRun: dryRun)
            settings.time = CommandContext.time
            settings.metrics = common.metrics
            settings.stateFolder = common.stateDirectory
            let report = try Retention(settings).prune()
            let verb = dryRun ? "Would delete" : "Deleted"
            try StandardOutput.line("\(verb) \(Terminal.count(report.payloads)) delivery payload(s), \(report.strays) stray file(s) and "
                                    + "\(report.dryRuns) dry-run folder(s) older than \(payloadsOlderThan) days "
                                    + "(\(Terminal.count(report.bytes)) bytes of customer data at rest).")
            if !report.evidence.isEmpty {
                try StandardOutput.line("Kept \(report.evidence.count) payload(s) found altered (payload.mismatch), as evidence: "
                                        + report.evidence.prefix(5).joined(separator: ", ") + (report.evidence.count > 5 ? ", …" : "")
                                        + " (--include-failed deletes them too)")
            }
            if !report.kept.isEmpty {
                try StandardOutput.line("Kept \(report.kept.count) payload(s) that owed deliveries still need: "
                                        + report.kept.prefix(5).joined(separator: ", ") + (report.kept.count > 5 ? ", …" : "")
                                        + ". Rerun them, or pass --include-failed.")
            }
            for path in report.failedRemovals { Terminal.warning("could not delete \(path); it is counted as kept") }
            if let ledger = report.ledger {
                try StandardOutput.line("Ledger: removed \(Terminal.count(ledger.deliveries)) deliveries, "
                                        + "\(Terminal.count(ledger.disclosures)) disclosure rows and \(ledger.runs) runs older than "
                                        + "\(ledgerOlderThan) days (the disclosure accounting is kept \(ledgerOlderThan) days).")
            } else {
                try StandardOutput.line("Settled ledger rows older than \(ledgerOlderThan) days would be deleted too; nothing was changed.")
            }
            for warning in report.warnings { Terminal.warning(warning.message) }
            if !report.failedRemovals.isEmpty { throw ExitCode(1) }
        }
    }
}
