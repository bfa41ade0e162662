import ArgumentParser
import ExportCore
import Foundation
import Pipeline
import SafeFiles

extension PartnerExportCommand {
    /// `ropa`: the record of processing (GDPR Art. 30(1)) for the disclosures to partners, declared next
    /// to disclosed, read from the ledger under a signed checkpoint (docs/privacy.md).
    struct Ropa: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The record of processing (GDPR Art. 30) for disclosures to partners: declared next to actually disclosed.",
            discussion: """
                Per partner: purpose, data use, legal basis, data subjects, recipient and country, retention, security \
                measures, the data categories the contract and mapping declare (catalog.yaml) and those actually disclosed \
                in the period with how many customers (from the ledger, in one read, named by the signed checkpoint of the \
                disclosure log it was read at), and the drift between them: declared but not sent, sent but not declared \
                any more.
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case text, json, csv, html
        }

        @OptionGroup var common: CommonOptions

        @Option(help: ArgumentHelp("Only disclosures acknowledged from this date (YYYY-MM-DD, UTC) or time (RFC 3339).", valueName: "date"))
        var since: String?

        @Option(help: "text, json, csv or html.")
        var format: Format = .text

        @Option(help: "Write it to this file (owner-only) instead of standard output.")
        var out: String?

        func validate() throws {
            if let since, Self.parse(since) == nil {
                throw ValidationError("--since \(since) is not a date (YYYY-MM-DD) or an RFC 3339 time")
            }
        }

        static func parse(_ text: String) -> String? {
            if let date = Timestamps.parse(text) { return Timestamps.rfc3339(date) }
            if let date = Timestamps.parse(text + "T00:00:00Z") { return Timestamps.rfc3339(date) }
            return nil
        }

        func run() throws {
            common.startLogging()
            let configuration = try common.loadConfiguration()
            if configuration.catalog == nil {
                Terminal.warning("there is no catalog.yaml: the columns have no data categories, so the record lists fields, "
                                 + "not categories (docs/privacy.md)")
            }
            let ledger = try ReadOnlyLedger.open(common)
            let record = try RecordOfProcessingBuilder(configuration: configuration, audit: AuditCommand.audit(common))
                .build(ledger: ledger, since: since.flatMap(Self.parse), now: CommandContext.time.now())
            let text: String = switch format {
            case .text: record.text()
            case .json: try JSONCoding.pretty(record)
            case .csv: record.csv()
            case .html: record.html()
            }
            if let out {
                try OutputFile.write([Array(text.utf8)], to: out)
                try StandardOutput.line("The record of processing (\(record.partners.count) partners) was written to \(out).")
            } else {
                try StandardOutput.write(text)
            }
            if record.checkpoint == nil {
                Terminal.warning("no signing key: the figures are not under a signed checkpoint ('partner-export audit init')")
            }
        }
    }
}
