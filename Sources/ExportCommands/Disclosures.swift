import ArgumentParser
import Foundation
import CustomerSource
import ExportCore
import Ledger
import Pipeline
import SafeFiles
import Reports

extension PartnerExportCommand {
    /// `disclosures`: who received this customer's data, when and why.
    struct Disclosures: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every disclosure of one customer: partner, fields, when, delivery, purpose and consent.")

        @OptionGroup var common: CommonOptions

        @Argument(help: "The customer's id (customers.id).")
        var customerID: Int64

        @Flag(help: "Print JSON.")
        var json = false

        @Flag(help: "With --json: add each entry's receipt (leaf, inclusion proof, signed checkpoint; docs/audit.md).")
        var proof = false

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case text, json, html
        }

        @Option(help: "text (the default), or the customer's own report: html (one self-contained page) or json (its twin).")
        var format: Format = .text

        @Option(help: "With --format html or json: write the report to this file (owner-only) instead of standard output.")
        var out: String?

        func validate() throws {
            if proof && !json { throw ValidationError("--proof goes with --json") }
            if json && format != .text { throw ValidationError("--json is the entries' list; --format \(format.rawValue) is the customer's report: one or the other") }
            if out != nil && format == .text { throw ValidationError("--out goes with --format html or --format json") }
        }

        func run() throws {
            common.startLogging()
            let ledger = try ReadOnlyLedger.open(common)
            let disclosures = try ledger.disclosures(customerID: customerID)
            if format != .text {
                try writeReport(disclosures)
                return
            }
            if json {
                var entries = disclosures.map(DisclosureEntry.init)
                if proof {
                    let audit = Audit(files: Audit.Files(stateFolder: common.stateDirectory, environment: common.environment))
                    let receipts = try audit.receipts(ledger, indices: disclosures.compactMap { $0.logIndex.map(UInt64.init) })
                    for i in entries.indices {
                        guard let index = entries[i].logIndex, let receipt = receipts[UInt64(index)] else { continue }
                        entries[i].leafIndex = receipt.leafIndex
                        entries[i].leaf = Data(receipt.leaf).base64EncodedString()
                        entries[i].treeSize = receipt.treeSize
                        entries[i].rootHash = Data(receipt.rootHash).base64EncodedString()
                        entries[i].inclusionProof = receipt.inclusionProof.map { Data($0).base64EncodedString() }
                        entries[i].checkpoint = receipt.checkpoint
                    }
                }
                try StandardOutput.json(entries)
                return
            }
            if disclosures.isEmpty {
                try StandardOutput.line("No disclosure of customer \(customerID) is recorded in \(common.ledger.label).")
                return
            }
            let deletions = disclosures.filter { $0.kind == .deletion }.count
            let sent = disclosures.count - deletions
            try StandardOutput.line("Customer \(customerID): \(sent) disclosure\(sent == 1 ? "" : "s")"
                                    + (deletions > 0 ? " and \(deletions) deletion notice\(deletions == 1 ? "" : "s")" : "") + " recorded.")
            try StandardOutput.line(Terminal.table(["disclosed at", "partner", "kind", "delivery", "consent / reason", "fields", "purpose"],
                                                   disclosures.map { d in
                [d.disclosedAt + (d.confirmed ? "" : " (unconfirmed)"), d.partner,
                 d.kind == .deletion ? "deletion notice" : "disclosure", d.deliveryID,
                 d.kind == .deletion ? "told to forget: \(d.reason?.rawValue ?? "?")" : "\(d.consentScope) (given \(d.consentGrantedAt))",
                 d.fields.joined(separator: ", "), d.purpose]
            }, dropOrder: [0, 1, 2, 5, 4, 3, 6]))
            if Terminal.layoutWidth != nil {
                try StandardOutput.line("(fitted to the terminal: --wide or --json shows every column in full)")
            }
            if disclosures.contains(where: { !$0.confirmed }) {
                try StandardOutput.line("Unconfirmed: recorded by an earlier version for a delivery that may have reached the partner "
                                        + "and was superseded unacknowledged; the partner may hold these fields.")
            }
        }

        /// The customer's report: legal names and wording from the contracts, consents' state from the
        /// customer database when it is at hand, the newest checkpoint and its verifier key.
        private func writeReport(_ disclosures: [DisclosureRecord]) throws {
            var contracts: [String: Contract] = [:]
            do {
                for partner in try common.loadConfiguration().partners { contracts[partner.id] = partner.contract }
            } catch {
                Terminal.warning("the configuration could not be read (\(error)); partners are named by their ids")
            }
            var consents: [(scope: String, grantedAt: String?, withdrawnAt: String?)]?
            if (try? CustomerDatabase.checkPresent(common.databasePath)) != nil {
                consents = try? CustomerDatabase(path: common.databasePath).consents(of: customerID)
            }
            let audit = Audit(files: Audit.Files(stateFolder: common.stateDirectory, environment: common.environment))
            let checkpoint = try? audit.stored().last?.note
            let verifier = (try? audit.signer())??.verifier.encoded
            let report = CustomerReport(customerID: customerID, generatedAt: Timestamps.rfc3339(Date()), disclosures: disclosures,
                                        contracts: contracts, consents: consents, checkpoint: checkpoint, verifierKey: verifier)
            let bytes: [UInt8] = format == .html ? Array(CustomerReportHTML.render(report).utf8)
                : Array((try JSONCoding.pretty(report) + "\n").utf8)
            if let out {
                try OutputFile.write([bytes], to: out)
                try StandardOutput.line("The report for customer \(customerID) (\(report.recipients.count) recipient\(report.recipients.count == 1 ? "" : "s")) "
                                        + "was written to \(out).")
            } else {
                try StandardOutput.write(String(decoding: bytes, as: UTF8.self))
            }
        }
    }
}
