import ExportConfig
import ExportCore
import Foundation

/// Every check `validate` makes, and that every other command makes first: contracts and mappings
/// (file:line), and the XSDs they name (compiled once per process).
public enum Validation {
    public struct Result: Sendable {
        public let loaded: ConfigLoadResult
        public let problems: [ConfigProblem]

        public var configuration: Configuration { loaded.configuration }
    }

    public static func check(_ directory: String) -> Result {
        let loaded = ConfigLoader.load(from: URL(fileURLWithPath: directory, isDirectory: true))
        var problems = loaded.problems
        for partner in loaded.configuration.partners where partner.contract.xsd != nil {
            do {
                _ = try SchemaCache.shared.schema(for: partner, in: loaded.configuration)
            } catch {
                let message = (error as? ExportError)?.message.replacingOccurrences(of: "partner \(partner.id): ", with: "") ?? "\(error)"
                problems.append(loaded.configuration.locations[partner.id]?.problem("xsd", message)
                                ?? ConfigProblem(file: "partners/\(partner.id).yaml", line: nil, message: message))
            }
        }
        return Result(loaded: loaded, problems: problems.sorted { ($0.file, $0.line ?? 0) < ($1.file, $1.line ?? 0) })
    }

    /// The configuration, or a `configuration` error (exit 2) after `report` was given every problem.
    public static func load(_ directory: String, report: (ConfigProblem) -> Void) throws -> Configuration {
        let result = check(directory)
        guard result.problems.isEmpty else {
            result.problems.forEach(report)
            throw ExportError.configuration("the configuration in \(directory) has \(result.problems.count) "
                                            + "problem\(result.problems.count == 1 ? "" : "s"); nothing was done. Run "
                                            + "'partner-export validate' after fixing \(result.problems.count == 1 ? "it" : "them").")
        }
        return result.configuration
    }

    /// The environment variables `partner` needs at run time (names only).
    public static func requiredVariables(_ partner: Partner) -> [String] {
        let delivery = partner.contract.delivery
        var names: [String] = []
        if partner.mapping.fields.contains(where: { $0.form == .pseudonym }), let key = delivery.pseudonymKeyEnv { names.append(key) }
        if let signing = delivery.signingSecretEnv { names.append(signing) }
        switch delivery.auth {
        case .bearerTokenEnv(let variable)?: names.append(variable)
        case .basicPasswordEnv(_, let variable)?: names.append(variable)
        case .apiKey(_, .env(let variable))?: names.append(variable)
        case .oauth2(let client)?: if case .env(let variable) = client.secret { names.append(variable) }
        default: break
        }
        return names
    }
}
