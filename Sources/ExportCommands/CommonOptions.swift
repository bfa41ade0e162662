import ArgumentParser
import ExportConfig
import ExportCore
import Foundation
import Logging
import Ledger
import Pipeline
import Postgres

/// The options every subcommand takes (docs/design.md, "Commands"), each with an environment variable and a default.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("db"), help: ArgumentHelp("The customer database: a SQLite file, or a postgresql:// URL.",
            discussion: "Env: PARTNER_EXPORT_DB. Default: customers.sqlite", valueName: "path-or-url"))
    var databaseOption: String?

    @Option(name: .customLong("state"), help: ArgumentHelp("The ledger: a SQLite file (payloads, the lock and metrics live beside it), or a postgresql:// URL.",
            discussion: "Env: PARTNER_EXPORT_STATE. Default: state/ledger.sqlite. With a PostgreSQL ledger, PARTNER_EXPORT_STATE_DIR "
                        + "must name this machine's folder for the metrics, the audit key and checkpoints, and dry runs",
            valueName: "path-or-url"))
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

    @Flag(help: "Tables and report lines in full, however wide (they are fitted to the terminal otherwise).")
    var wide = false

    @Option(name: .customLong("metrics-file"), help: ArgumentHelp(
            "Where run, rerun and prune write Prometheus metrics (textfile-collector format).",
            discussion: "Env: PARTNER_EXPORT_METRICS. Default: <state folder>/metrics/partner_export.prom", valueName: "path"))
    var metricsOption: String?

    var environment: [String: String] { CommandContext.environment }

    /// libpq's keyword form (`host=… password=…`) is refused at once, without repeating it (it may
    /// hold a password), instead of being taken for a file name: a PostgreSQL ledger is a URL.
    func validate() throws {
        if !PostgresURL.matches(statePath) && PostgresURL.looksLikeKeywords(statePath) {
            throw ValidationError("--state takes the ledger's SQLite file or a postgresql:// URL; libpq's keyword form is not "
                                  + "accepted (the value given is not shown: it may hold a password)")
        }
        for (option, value) in [("--db", databasePath), ("--state", statePath)] where PostgresURL.looksMistyped(value) {
            throw ValidationError("\(option) looks like a PostgreSQL URL but is not one: write postgresql://user@host/database, "
                                  + "or a file name without a scheme, a user:password@ part or surrounding spaces "
                                  + "(the value given is not shown: it may hold a password)")
        }
        if PostgresURL.matches(statePath) && (environment["PARTNER_EXPORT_STATE_DIR"] ?? "").isEmpty {
            throw ValidationError("with the ledger in PostgreSQL, set PARTNER_EXPORT_STATE_DIR to this machine's folder for the "
                                  + "metrics, the audit key and checkpoints, and dry runs (an absolute path, the same for the "
                                  + "scheduled job and for commands run by hand)")
        }
    }

    var databasePath: String { databaseOption ?? environment["PARTNER_EXPORT_DB"] ?? "customers.sqlite" }
    var statePath: String { stateOption ?? environment["PARTNER_EXPORT_STATE"] ?? "state/ledger.sqlite" }
    var configDirectory: String { configOption ?? environment["PARTNER_EXPORT_CONFIG"] ?? "." }

    /// Where the ledger is (a file, or a PostgreSQL database).
    var ledger: LedgerLocation { LedgerLocation(statePath, stateFolder: environment["PARTNER_EXPORT_STATE_DIR"]) }

    /// The folder holding a SQLite ledger, where everything else the tool writes goes by default
    /// (with a PostgreSQL ledger, `PARTNER_EXPORT_STATE_DIR`, which must then be set).
    var stateDirectory: String { ledger.stateFolder }

    /// Where and how the metrics file is written: owner-only by default like everything the tool
    /// writes; `PARTNER_EXPORT_METRICS_MODE=0644` lets a collector running as another user read it.
    var metrics: MetricsFile.Target {
        let path = metricsOption ?? environment["PARTNER_EXPORT_METRICS"]
            ?? Paths.join(stateDirectory, "metrics/partner_export.prom")
        let mode = environment["PARTNER_EXPORT_METRICS_MODE"].flatMap { Int($0, radix: 8) }.map { $0 & 0o644 } ?? 0o600
        return MetricsFile.Target(path: path, mode: mode_t(mode))
    }

    /// Sets up logging once, from the options and the environment, and the output's width; every
    /// command calls it first.
    /// The log lines' format, from the option or the environment.
    var resolvedLogFormat: LogFormat { logFormat ?? environment["PARTNER_EXPORT_LOG_FORMAT"].flatMap(LogFormat.init(rawValue:)) ?? .text }

    func startLogging() {
        if wide { Terminal.layoutWidth = nil }
        LoggingBootstrap.bootstrap(
            format: resolvedLogFormat,
            level: (logLevel ?? environment["PARTNER_EXPORT_LOG_LEVEL"]).flatMap(Logger.Level.init(rawValue:)) ?? .warning)
    }

    /// The configuration; every problem is printed and the command fails with exit 2 if there is any.
    func loadConfiguration() throws -> Configuration {
        try Validation.load(configDirectory) { Terminal.error($0.description) }
    }

    /// The retry policy, with the backoff the environment may tune (`PARTNER_EXPORT_RETRY_BASE_SECONDS`,
    /// `PARTNER_EXPORT_RETRY_CAP_SECONDS`).
    var retryPolicy: RetryPolicy {
        RetryPolicy(baseSeconds: environment["PARTNER_EXPORT_RETRY_BASE_SECONDS"].flatMap(Double.init) ?? 1,
                    capSeconds: environment["PARTNER_EXPORT_RETRY_CAP_SECONDS"].flatMap(Double.init) ?? 120)
    }

    /// Runner settings shared by `run` and `rerun`.
    func runSettings(_ configuration: Configuration, parallel: Int, events: RunEvents) -> Runner.Settings {
        var settings = Runner.Settings(configuration: configuration, sourcePath: databasePath, statePath: statePath,
                                       environment: environment)
        settings.parallel = parallel
        settings.policy = retryPolicy
        settings.time = CommandContext.time
        settings.events = events
        settings.metrics = metrics
        settings.stateFolder = ledger.stateFolder
        return settings
    }
}

/// The ledger for commands that only read it: opened read-only; a file that is not a ledger is refused untouched.
enum ReadOnlyLedger {
    /// What partners hold, for `preview` and `run --dry-run`: nil when there is no ledger yet, or when
    /// an earlier version wrote it (the next run migrates it); then everything counts as new.
    static func holdings(_ common: CommonOptions) throws -> (any LedgerStore)? {
        guard try common.ledger.exists() else { return nil }
        do {
            return try open(common)
        } catch let error as ExportError where error.code == "ledger" {
            Terminal.warning(error.message + "; until then every record counts as new and no deletion notice is counted")
            return nil
        }
    }

    static func open(_ common: CommonOptions) throws -> any LedgerStore {
        // What a reader is shown must be the ledger the tool wrote: a folder others can write to is refused here too.
        if !common.ledger.isPostgres { try StateFolder.check(common.stateDirectory, create: false) }
        return try common.ledger.open(.read)
    }
}

extension CommonOptions {
    /// The source model for look-ups that only add to an answer (the customer's current row and
    /// consents in `disclosures`): the configuration's; the canonical schema when there is no
    /// `source.yaml`; nil (with a warning) when there is one that cannot be read — never the
    /// canonical tables instead of the company's own, which could be someone else's rows.
    func sourceModelForLookups() -> SourceModel? {
        if let configuration = try? loadConfiguration() { return configuration.source }
        let file = URL(fileURLWithPath: configDirectory).appendingPathComponent("source.yaml").path
        guard FileManager.default.fileExists(atPath: file) else { return .canonical }
        Terminal.warning("the configuration could not be read, so source.yaml is not known: the customer's current row and "
                         + "consents are not looked up in the customer database")
        return nil
    }
}
