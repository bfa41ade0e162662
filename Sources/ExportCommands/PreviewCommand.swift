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
                throw CommandFailure("there is no partner '\(partner)' in \(common.configDirectory)/partners; known: "
                                     + configuration.partners.map(\.id).joined(separator: ", "), exitCode: 2)
            }
            let plan = try makePlan(partner)
            let source = try openSource(common.databasePath)
            let schema = try SchemaCheck.load(partner, in: configuration)
            let job = try ExportJob(plan: plan, source: source, schema: schema)
            let report = try Preview(job: job, source: source).run(samples: limit, out: out,
                                                                   generatedAt: Clock.rfc3339(Clock.now()))
            if json {
                print(PreviewOutput.json(report, reveal: reveal).rendered(), terminator: "")
            } else {
                print(PreviewOutput.text(report, reveal: reveal), terminator: "")
            }
        }
    }
}

/// Opens the customer database, or fails with exit code 2 and a message naming it.
func openSource(_ path: String) throws -> CustomerDatabase {
    guard FileManager.default.fileExists(atPath: path) else {
        throw CommandFailure("the customer database \(path) does not exist; pass --db PATH or set PARTNER_EXPORT_DB "
                             + "(or create demo data with 'partner-export demo-data --customers 1000 --db \(path)')", exitCode: 2)
    }
    do {
        return try CustomerDatabase(path: path)
    } catch {
        throw CommandFailure("\(error)", exitCode: 2)
    }
}
