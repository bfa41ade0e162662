import ArgumentParser
import ExportCore
import Foundation
import Ledger
import Pipeline

extension PartnerExportCommand {
    /// `audit`: the tamper-evident disclosure log (docs/audit.md).
    struct AuditCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "The tamper-evident disclosure log: its signing key, signed checkpoints, and verification.",
            subcommands: [Init.self, Checkpoint.self, Verify.self])

        static func audit(_ common: CommonOptions) -> Audit {
            Audit(files: Audit.Files(stateFolder: common.stateDirectory, environment: common.environment))
        }

        struct Init: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Make the log's Ed25519 signing key (owner-only, beside the ledger) and print its verifier key.")

            @OptionGroup var common: CommonOptions

            @Option(help: "The log's name: checkpoints say 'partner-export/NAME' (say, your company's domain).")
            var name = "example.com"

            func run() throws {
                common.startLogging()
                try StateFolder.check(common.stateDirectory, create: true)
                let audit = AuditCommand.audit(common)
                let verifier = try audit.initialize(name: name)
                try StandardOutput.line("Signing key written to \(audit.files.keyPath) (owner-only; never copy it off the machine).")
                try StandardOutput.line("Verifier key (give it to whoever checks receipts and checkpoints):")
                try StandardOutput.line(verifier.encoded)
                // The log as it stands gets its first checkpoint at once.
                if try common.ledger.exists(),
                   let signed = try audit.checkpoint(try common.ledger.open(.write(create: false)), at: Date()) {
                    try StandardOutput.line("First checkpoint: \(signed.path)")
                }
            }
        }

        struct Checkpoint: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Sign a checkpoint of the log as it stands (unless the newest says the same) and print it.")

            @OptionGroup var common: CommonOptions

            func run() throws {
                common.startLogging()
                let ledger = try common.ledger.open(.write(create: false))
                guard let signed = try AuditCommand.audit(common).checkpoint(ledger, at: Date()) else {
                    throw ExportError.configuration("no signing key: run 'partner-export audit init' first")
                }
                try StandardOutput.write(signed.note)
            }
        }

        struct Verify: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Recompute the log from the ledger's rows; check it against the kept checkpoints and any given.",
                discussion: "Exit 0 when everything holds; 1 naming each checkpoint that does not, and the first entry where it can tell.")

            @OptionGroup var common: CommonOptions

            @Option(name: .customLong("checkpoint"), help: "A checkpoint kept elsewhere (repeatable).")
            var checkpoints: [String] = []

            @Option(help: "The verifier key (name+id+key) instead of the one derived from the signing key.")
            var key: String?

            func run() throws {
                common.startLogging()
                let ledger = try ReadOnlyLedger.open(common)
                let verifier = try key.map { text -> NoteVerifier in
                    do { return try NoteVerifier(encoded: text) } catch { throw ExportError.usage("--key: \(error)") }
                }
                let started = Date()
                let result = try AuditCommand.audit(common).verify(ledger, extra: checkpoints, verifier: verifier)
                let seconds = Date().timeIntervalSince(started)
                try StandardOutput.line("Disclosure log: \(Terminal.count(Int(result.entries))) entries"
                                        + (result.pruned > 0 ? " (the first \(Terminal.count(Int(result.pruned))) pruned)" : "")
                                        + ", root \(Data(result.root).base64EncodedString()), recomputed from the rows in "
                                        + String(format: "%.2f s", seconds) + ".")
                for line in result.held { try StandardOutput.line("  ok: \(line)") }
                for line in result.unchecked { try StandardOutput.line("  not checkable: \(line)") }
                for line in result.problems { try StandardOutput.line("  FAILED: \(line)") }
                if result.ok {
                    try StandardOutput.line(result.held.isEmpty ? "OK: the rows match the ledger's own tree state; no checkpoint to check against."
                                                                : "OK: the log is intact against every checkpoint.")
                } else {
                    try StandardOutput.line("NOT INTACT: see docs/runbook.md, 'audit verify fails'.")
                    throw ExitCode(1)
                }
            }
        }
    }
}
