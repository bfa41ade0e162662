import ArgumentParser
import ExportConfig
import ExportCore
import Foundation
import Pipeline
import Postgres

extension PartnerExportCommand {
    /// `validate`: check every contract and mapping; exit 0 or 2.
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every contract and mapping; print each problem with file and line (exit 2) or what was checked (exit 0).")

        @OptionGroup var common: CommonOptions

        @Flag(help: "Also fail (exit 2) when a secret a partner needs is not set in this environment (for CI of the configuration).")
        var strict = false

        func run() throws {
            common.startLogging()
            let result = Validation.check(common.configDirectory)
            let directory = result.configuration.directory
            // notify.yaml's problems fail validate; a run only notifies nothing (and says so).
            let problems = (result.problems + result.loaded.notifyProblems).sorted { ($0.file, $0.line ?? 0) < ($1.file, $1.line ?? 0) }
            if !problems.isEmpty {
                for problem in problems { try StandardOutput.line(problem.description) }
                let count = problems.count
                try StandardOutput.line("\(count) problem\(count == 1 ? "" : "s") in \(directory.path); nothing can be previewed or run "
                                        + "until \(count == 1 ? "it is" : "they are") fixed.")
                throw ExitCode(2)
            }
            let partners = result.configuration.partners
            var unsetVariables = partners.map { partner in
                (partner.id, Validation.requiredVariables(partner).filter { common.environment[$0]?.isEmpty ?? true })
            }.filter { !$0.1.isEmpty }
            if let webhook = result.configuration.notify?.webhook, common.environment[webhook.signingSecretEnv]?.isEmpty ?? true {
                unsetVariables.append(("notify.yaml", [webhook.signingSecretEnv]))
            }
            try StandardOutput.line("Checked \(result.loaded.filesChecked.count) files in \(directory.standardizedFileURL.path) "
                                    + "(\(partners.count) contracts, \(partners.count) mappings): "
                                    + (strict && !unsetVariables.isEmpty ? "the files hold together, but --strict found "
                                       + "\(unsetVariables.count) partner(s) or notification(s) that cannot run here (below)." : "no problems."))
            try StandardOutput.line(Terminal.table(["partner", "format", "fields sent", "consent", "filters", "xsd"], partners.map { partner in
                let contract = partner.contract
                return [partner.id, contract.format.rawValue, "\(partner.mapping.fields.count) of \(contract.allow.count)",
                        contract.consent.joined(separator: ", "),
                        contract.filters.map { "\($0.column) in [\($0.values.joined(separator: ", "))]" }.joined(separator: "; "),
                        contract.xsd ?? "-"]
            }))
            try StandardOutput.line("Every mapping sends only fields and forms its contract allows; no field reads cardholder data or logs.")
            // With --db: the source (source.yaml, or the canonical tables) against the database itself.
            if common.databaseOption != nil {
                do {
                    try SourceCheck.check(common.databasePath, model: result.configuration.source, partners: partners)
                } catch let error as ExportError {
                    try StandardOutput.line("source: \(error.message)")
                    throw ExitCode(2)
                }
                try StandardOutput.line("The customer database \((PostgresURL.matches(common.databasePath) ? PostgresURL.redacted(common.databasePath) : common.databasePath)) has every table and "
                                        + "column the partners read" + (result.configuration.source.isCanonical ? "" : " (source.yaml)")
                                        + "; its customer ids and consents are one row each.")
            }
            for (partner, missing) in unsetVariables {
                let message = "\(partner): \(missing.count == 1 ? "the environment variable" : "the environment variables") "
                    + missing.joined(separator: ", ") + " \(missing.count == 1 ? "is" : "are") not set here; "
                    + (partner == "notify.yaml" ? "incident webhooks cannot be signed without it (runs are not affected)"
                       : "a run of this partner needs " + (missing.count == 1 ? "it" : "them") + " (the other partners are not affected)")
                if strict { Terminal.error("--strict: " + message) } else { Terminal.warning(message) }
            }
            if strict && !unsetVariables.isEmpty { throw ExitCode(2) }
        }
    }
}
