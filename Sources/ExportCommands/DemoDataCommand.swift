import ArgumentParser
import CustomerSource
import DemoData
import ExportCore
import Foundation
import Postgres

extension PartnerExportCommand {
    /// `demo-data`: a synthetic customer database in the canonical schema.
    struct DemoDataCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "demo-data",
            abstract: "Write a synthetic, deterministic customer database in the canonical schema to --db.")

        @OptionGroup var common: CommonOptions

        @Option(help: "How many customers.")
        var customers: Int

        @Option(help: "Seed: the same seed gives the same data.")
        var seed: UInt64 = 1

        @Flag(help: "Replace the database file if it exists.")
        var force = false

        func validate() throws {
            guard customers >= 0, customers <= 100_000_000 else {
                throw ValidationError("--customers must be between 0 and 100,000,000")
            }
        }

        func run() throws {
            common.startLogging()
            let path = common.databasePath
            try CustomerDatabase.refuseKeywordForm(path)
            guard !PostgresURL.matches(path) else {
                throw ExportError.usage("demo-data writes a SQLite file; to try a PostgreSQL source, load that file into the server "
                                        + "as docs/postgresql.md shows, then pass its URL to --db")
            }
            if FileManager.default.fileExists(atPath: path) {
                guard force else {
                    throw ExportError.usage("\(path) exists; pass --force to replace it (it may be a real customer database)")
                }
                try FileManager.default.removeItem(atPath: path)
            }
            let directory = Paths.folder(of: path)
            if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
            let started = Date()
            let summary = try DemoDataGenerator(customers: customers, seed: seed).write(to: path)
            let seconds = Date().timeIntervalSince(started)
            try StandardOutput.line("Wrote \(Terminal.count(summary.customers)) synthetic customers to \(path) (seed \(seed), "
                  + String(format: "%.1f s", seconds) + ").")
            for scope in summary.consents.keys.sorted() {
                try StandardOutput.line("  consent \(scope): \(Terminal.count(summary.consents[scope] ?? 0)) given, "
                      + "\(Terminal.count(summary.withdrawn[scope] ?? 0)) of them withdrawn")
            }
            try StandardOutput.line("  accounts: " + summary.statuses.keys.sorted().map { "\($0) \(Terminal.count(summary.statuses[$0] ?? 0))" }
                .joined(separator: ", "))
            try StandardOutput.line("  customer logs: \(Terminal.count(summary.logs)); card numbers are published test numbers")
        }
    }
}
