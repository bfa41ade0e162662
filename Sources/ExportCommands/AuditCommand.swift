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
            subcommands: [Init.self, Checkpoint.self, Verify.self, Consistency.self, AcceptRollback.self])

        static func audit(_ common: CommonOptions) -> Audit {
            Audit(files: Audit.Files(stateFolder: common.stateDirectory, environment: common.environment))
        }

        /// `--key`: the verifier key given instead of the one derived from the signing key.
        static func verifier(_ key: String?) throws -> NoteVerifier? {
            try key.map { text in
                do { return try NoteVerifier(encoded: text) } catch { throw ExportError.usage("--key: \(error)") }
            }
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
                    if let warning = signed.warning { Terminal.warning(warning.message, code: warning.code) }
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
                if let warning = signed.warning { Terminal.warning(warning.message, code: warning.code) }
            }
        }

        struct Verify: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Recompute the log from the ledger's rows; check it against the kept checkpoints and any given.",
                discussion: "Exit 0 when everything holds; 1 naming each checkpoint that does not, and the first entry where it can tell.")

            @OptionGroup var common: CommonOptions

            @Option(name: .customLong("checkpoint"), parsing: .upToNextOption,
                    help: "Checkpoints kept elsewhere: one or several files after one --checkpoint, or the option repeated.")
            var checkpoints: [String] = []

            @Option(help: "The verifier key (name+id+key) instead of the one derived from the signing key.")
            var key: String?

            func run() throws {
                common.startLogging()
                let ledger = try ReadOnlyLedger.open(common)
                let verifier = try AuditCommand.verifier(key)
                let started = Date()
                let result = try AuditCommand.audit(common).verify(ledger, extra: checkpoints, verifier: verifier)
                let seconds = Date().timeIntervalSince(started)
                try StandardOutput.line("Disclosure log: \(Terminal.count(Int(result.entries))) entries"
                                        + (result.pruned > 0 ? " (the first \(Terminal.count(Int(result.pruned))) pruned)" : "")
                                        + ", root \(Data(result.root).base64EncodedString()), recomputed from the rows in "
                                        + String(format: "%.2f s", seconds) + ".")
                for line in result.held { try StandardOutput.line("  ok: \(line)") }
                for line in result.rollbacks { try StandardOutput.line("  rollback accepted: \(line)") }
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

        struct Consistency: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Print the proof (RFC 9162) that checkpoint NEW extends checkpoint OLD, as JSON.",
                discussion: """
                    Both checkpoints must be this log's, signed by its key (or --key's). NEW defaults to the newest kept \
                    checkpoint. Anyone can check the proof with the verifier key alone: \
                    python3 tools/verify_consistency.py --key VERIFIER proof.json. Exit 1 when the log does not extend OLD.
                    """)

            @OptionGroup var common: CommonOptions

            @Argument(help: "The earlier checkpoint (a file: a partner's copy, the privacy officer's).")
            var old: String

            @Argument(help: "The later checkpoint (a file; default: the newest kept beside the ledger).")
            var new: String?

            @Option(help: "The verifier key (name+id+key) instead of the one derived from the signing key.")
            var key: String?

            func run() throws {
                common.startLogging()
                let ledger = try ReadOnlyLedger.open(common)
                let verifier = try AuditCommand.verifier(key)
                let proof = try AuditCommand.audit(common).consistency(ledger, old: old, new: new, verifier: verifier)
                try StandardOutput.write(try JSONCoding.pretty(ConsistencyDocument(proof)) + "\n")
            }
        }

        struct AcceptRollback: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "accept-rollback",
                abstract: "Go on from a ledger restored from a backup on purpose: signed and recorded, never a side effect.",
                discussion: """
                    Runs, reruns and prunes refuse a ledger whose disclosure log no longer extends what the signing key \
                    signed (audit.rollback, exit 2). When the ledger was restored on purpose, this accepts its log as it is: \
                    --to must say its size, the kept checkpoints of the abandoned history are moved aside (never deleted), \
                    and a checkpoint recording the rollback and the reason is signed and appended to <key file>.rollbacks. \
                    Tell whoever holds checkpoints of the abandoned history (docs/runbook.md).
                    """)

            @OptionGroup var common: CommonOptions

            @Option(help: "The number of entries the restored ledger's log holds (what the refusal said).")
            var to: UInt64

            @Option(help: "Why the ledger was restored (signed into the checkpoint and kept).")
            var reason: String

            func run() throws {
                common.startLogging()
                let ledger = try common.ledger.open(.write(create: false))
                let audit = AuditCommand.audit(common)
                let accepted = try audit.acceptRollback(ledger, size: to, reason: reason, by: NSUserName(), at: Date())
                try StandardOutput.line("Rollback accepted: the disclosure log goes on from \(accepted.size) entries; it no longer extends "
                                        + "\(accepted.abandoned.path) (\(accepted.abandoned.size) entries).")
                try StandardOutput.line("Signed and kept: \(accepted.checkpoint)")
                if let folder = accepted.movedTo {
                    try StandardOutput.line("Moved aside (kept): \(accepted.moved) checkpoint(s) of the abandoned history, in \(folder)")
                }
                try StandardOutput.line("Recorded in \(audit.rollbacksPath).")
                try StandardOutput.line("Whoever holds checkpoints of the abandoned history (partners, the privacy officer) will see "
                                        + "this fork: give them the new checkpoint and the reason.")
            }
        }
    }
}

/// `audit consistency`'s JSON: both checkpoints (note, size, base64 root) and the proof's hashes
/// (base64, RFC 9162 §2.1.4.1 order) — what `tools/verify_consistency.py` reads.
struct ConsistencyDocument: Encodable {
    struct End: Encodable {
        let file: String
        let checkpoint: String
        let treeSize: UInt64
        let rootHash: String

        enum CodingKeys: String, CodingKey {
            case file, checkpoint
            case treeSize = "tree_size"
            case rootHash = "root_hash"
        }

        init(_ end: Audit.Consistency.End) {
            file = end.path
            checkpoint = end.note
            treeSize = end.checkpoint.size
            rootHash = Data(end.checkpoint.root).base64EncodedString()
        }
    }

    let old: End
    let new: End
    let consistencyProof: [String]

    enum CodingKeys: String, CodingKey {
        case old, new
        case consistencyProof = "consistency_proof"
    }

    init(_ proof: Audit.Consistency) {
        old = End(proof.old)
        new = End(proof.new)
        consistencyProof = proof.proof.map { Data($0).base64EncodedString() }
    }
}
