import ArgumentParser
import ExportConfig
import ExportCore
import Foundation

extension PartnerExportCommand {
    /// `validate`: check every contract and mapping; exit 0 or 2.
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every contract and mapping; print each problem with file and line (exit 2) or what was checked (exit 0).")

        @OptionGroup var common: CommonOptions

        func run() throws {
            common.startLogging()
            let (result, problems) = common.checkConfiguration()
            let directory = result.configuration.directory
            if !problems.isEmpty {
                for problem in problems { print(problem.description) }
                print("\(problems.count) problem\(problems.count == 1 ? "" : "s") in \(directory.path); nothing can be "
                      + "previewed or run until \(problems.count == 1 ? "it is" : "they are") fixed.")
                throw ExitCode(2)
            }
            let partners = result.configuration.partners
            print("Checked \(result.filesChecked.count) files in \(directory.standardizedFileURL.path) "
                  + "(\(partners.count) contracts, \(partners.count) mappings): no problems.")
            let rows = partners.map { partner -> [String] in
                let contract = partner.contract
                return [partner.id, contract.format.rawValue, "\(partner.mapping.fields.count) of \(contract.allow.count)",
                        contract.consent.joined(separator: ", "),
                        contract.filters.map { "\($0.column) in [\($0.values.joined(separator: ", "))]" }.joined(separator: "; "),
                        contract.xsd ?? "-"]
            }
            print(Terminal.table(["partner", "format", "fields sent", "consent", "filters", "xsd"], rows))
            print("Every mapping sends only fields and forms its contract allows; no field reads cardholder data or logs.")
            for partner in partners {
                for variable in requiredVariables(partner) where ProcessInfo.processInfo.environment[variable] == nil {
                    Terminal.warning("\(partner.id): the environment variable \(variable) is not set here; "
                                     + "preview and run need it")
                }
            }
        }

        private func requiredVariables(_ partner: Partner) -> [String] {
            let delivery = partner.contract.delivery
            var names: [String] = []
            if partner.mapping.fields.contains(where: { $0.form == .pseudonym }), let key = delivery.pseudonymKeyEnv {
                names.append(key)
            }
            if let signing = delivery.signingSecretEnv { names.append(signing) }
            switch delivery.auth {
            case .bearerTokenEnv(let variable)?: names.append(variable)
            case .basicPasswordEnv(_, let variable)?: names.append(variable)
            default: break
            }
            return names
        }
    }
}
