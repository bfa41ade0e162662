import ArgumentParser
import ExportConfig
import Foundation
import Ledger
import Logging

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

    @Option(help: ArgumentHelp("Log lines as text or json (JSON lines), on standard error.",
            discussion: "Env: PARTNER_EXPORT_LOG_FORMAT. Default: text", valueName: "format"))
    var logFormat: LogFormat?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.",
            discussion: "Env: PARTNER_EXPORT_LOG_LEVEL. Default: warning", valueName: "level"))
    var logLevel: String?

    @Option(name: .customLong("metrics-file"), help: ArgumentHelp(
            "Where run, rerun and prune write Prometheus metrics (textfile-collector format).",
            discussion: "Env: PARTNER_EXPORT_METRICS. Default: <state folder>/metrics/partner_export.prom", valueName: "path"))
    var metricsOption: String?

    static let environment = ProcessInfo.processInfo.environment

    var metricsPath: String {
        metricsOption ?? Self.environment["PARTNER_EXPORT_METRICS"]
            ?? (stateDirectory as NSString).appendingPathComponent("metrics/partner_export.prom")
    }

    /// Mode of the metrics file: owner-only by default like everything the tool writes;
    /// `PARTNER_EXPORT_METRICS_MODE=0644` lets a node_exporter running as another user read it
    /// (it holds partner ids and counts, no personal data).
    var metricsMode: Int {
        Self.environment["PARTNER_EXPORT_METRICS_MODE"].flatMap { Int($0, radix: 8) }.map { $0 & 0o644 } ?? 0o600
    }

    /// Rewrites the metrics file; a failure is reported but does not change the command's outcome.
    func writeMetrics(_ ledger: Ledger, configuration: Configuration?) {
        do {
            try MetricsFile.write(ledger: ledger, configuration: configuration, to: metricsPath, mode: metricsMode)
        } catch {
            Terminal.warning("\(error)")
        }
    }

    /// Sets up logging once, from the options and the environment; every command calls it first.
    func startLogging() {
        LoggingBootstrap.bootstrap(
            format: logFormat ?? Self.environment["PARTNER_EXPORT_LOG_FORMAT"].flatMap(LogFormat.init(rawValue:)) ?? .text,
            level: (logLevel ?? Self.environment["PARTNER_EXPORT_LOG_LEVEL"]).flatMap(Logger.Level.init(rawValue:)) ?? .warning)
    }

    /// The ledger, which must exist already (for the commands that only read it).
    func openLedger() throws -> Ledger {
        guard FileManager.default.fileExists(atPath: statePath) else {
            throw CommandFailure("there is no ledger at \(statePath) yet (pass --state or set PARTNER_EXPORT_STATE)", exitCode: 2)
        }
        return try Ledger(path: statePath)
    }

    var databasePath: String { databaseOption ?? Self.environment["PARTNER_EXPORT_DB"] ?? "customers.sqlite" }
    var statePath: String { stateOption ?? Self.environment["PARTNER_EXPORT_STATE"] ?? "state/ledger.sqlite" }
    var configDirectory: String { configOption ?? Self.environment["PARTNER_EXPORT_CONFIG"] ?? "." }

    /// The folder holding the ledger, where everything else the tool writes goes by default.
    var stateDirectory: String { (statePath as NSString).deletingLastPathComponent.isEmpty ? "."
        : (statePath as NSString).deletingLastPathComponent }

    /// Every check `validate` makes: the contracts and mappings, and the XSDs they name.
    func checkConfiguration() -> (result: ConfigLoadResult, problems: [ConfigProblem]) {
        let result = ConfigLoader.load(from: URL(fileURLWithPath: configDirectory, isDirectory: true))
        return (result, result.problems + SchemaCheck.problems(in: result.configuration))
    }

    /// Loads the configuration; prints every problem and fails with exit code 2 if there is any.
    func loadConfiguration() throws -> Configuration {
        let (result, problems) = checkConfiguration()
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
