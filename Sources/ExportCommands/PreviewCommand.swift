import ArgumentParser
import CustomerSource
import ExportCore
import Foundation
import Pipeline

extension PartnerExportCommand {
    /// `preview`: what exactly would this partner get? No network, no ledger, no writes except `--out`.
    struct PreviewCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "preview",
            abstract: "Dry run for one partner: counts, excluded and why, the fields that would leave, sample records.",
            discussion: "Sample values are masked unless --reveal. Nothing is sent and the ledger is not touched; "
                + "the only file written is --out.")

        @OptionGroup var common: CommonOptions

        @Argument(help: "The partner id (the name of partners/<id>.yaml).")
        var partner: String

        @Option(help: "How many sample records to show.")
        var limit = 3

        @Option(help: ArgumentHelp("Write the whole feed (every record in one envelope) to this file (mode 0600).", valueName: "file"))
        var out: String?

        @Flag(help: "Show sample values in clear. They are customer data: only on a screen nobody else sees.")
        var reveal = false

        @Flag(help: "Print the report as JSON.")
        var json = false

        func validate() throws {
            guard limit >= 0 else { throw ValidationError("--limit must be 0 or more") }
        }

        func run() throws {
            common.startLogging()
            let configuration = try common.loadConfiguration()
            guard let partner = configuration.partner(partner) else {
                throw ExportError.usage("there is no partner '\(partner)' in \(common.configDirectory)/partners; known: "
                                        + configuration.partners.map(\.id).joined(separator: ", "))
            }
            let plan = try PreparedPartner.plan(partner, environment: common.environment)
            try SourceCheck.check(common.databasePath, model: configuration.source, partners: [partner])
            let job = try ExportJob(plan: plan, source: try CustomerDatabase(path: common.databasePath, model: configuration.source),
                                    schema: try SchemaCache.shared.schema(for: partner, in: configuration))
            // What the partner holds, read only, to count changes and the notices due (none without a ledger).
            let holdings = try ReadOnlyLedger.holdings(common)
            let report = try Preview(job: job, holdings: holdings).run(samples: limit, out: out,
                                                                       generatedAt: Timestamps.rfc3339(CommandContext.time.now()))
            if json {
                try StandardOutput.json(PreviewOutput.document(report, reveal: reveal))
            } else {
                try StandardOutput.write(PreviewOutput.text(report, reveal: reveal))
            }
        }
    }
}
