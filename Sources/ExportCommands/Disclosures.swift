import ArgumentParser
import Foundation
import Ledger
import Pipeline
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

        func validate() throws {
            if proof && !json { throw ValidationError("--proof goes with --json") }
        }

        func run() throws {
            common.startLogging()
            let ledger = try ReadOnlyLedger.open(common)
            let disclosures = try ledger.disclosures(customerID: customerID)
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
                try StandardOutput.line("No disclosure of customer \(customerID) is recorded in \(common.statePath).")
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
    }
}
