import ArgumentParser
import ExportConfig
import Foundation

/// The options every subcommand takes (DESIGN §6), each with an environment variable and a default.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("db"), help: ArgumentHelp("The customer database (SQLite).",
            discussion: "Env: PARTNER_EXPORT_DB. Default: customers.sqlite", valueName: "path"))
    var databaseOption: String?

    @Option(name: .customLong("state"), help: ArgumentHelp("The ledger (SQLite); payloads, the lock and metrics live beside it.",
            discussion: "Env: PARTNER_EXPORT_STATE. Default: state/ledger.sqlite", valueName: "path"))
    var stateOption: String?

    @Option(name: .customLong("config"), help: ArgumentHelp("The folder holding partners/ and mappings/.",
            discussion: "Env: PARTNER_EXPORT_CONFIG. Default: the current folder", valueName: "dir"))
    var configOption: String?

    static let environment = ProcessInfo.processInfo.environment

    var databasePath: String { databaseOption ?? Self.environment["PARTNER_EXPORT_DB"] ?? "customers.sqlite" }
    var statePath: String { stateOption ?? Self.environment["PARTNER_EXPORT_STATE"] ?? "state/ledger.sqlite" }
    var configDirectory: String { configOption ?? Self.environment["PARTNER_EXPORT_CONFIG"] ?? "." }

    /// The folder holding the ledger, where everything else the tool writes goes by default.
    var stateDirectory: String { (statePath as NSString).deletingLastPathComponent.isEmpty ? "."
        : (statePath as NSString).deletingLastPathComponent }

    /// Loads the configuration; prints every problem and fails with exit code 2 if there is any.
    func loadConfiguration() throws -> Configuration {
        let result = ConfigLoader.load(from: URL(fileURLWithPath: configDirectory, isDirectory: true))
        var problems = result.problems
        problems += SchemaCheck.problems(in: result.configuration)
        guard problems.isEmpty else {
            for problem in problems { Terminal.error(problem.description) }
            throw CommandFailure("the configuration in \(configDirectory) has \(problems.count) problem\(problems.count == 1 ? "" : "s"); "
                                 + "nothing was done. Run 'partner-export validate' after fixing them.", exitCode: 2)
        }
        return result.configuration
    }
}

/// A command that failed in a way the operator must act on, with its exit code.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    let exitCode: Int32

    init(_ message: String, exitCode: Int32) {
        description = message
        self.exitCode = exitCode
    }
}
