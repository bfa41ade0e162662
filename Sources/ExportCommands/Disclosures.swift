import ArgumentParser
import Foundation
import Ledger
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

        func run() throws {
            common.startLogging()
            let disclosures = try ReadOnlyLedger.open(common).disclosures(customerID: customerID)
            if json {
                try StandardOutput.json(disclosures.map(DisclosureEntry.init))
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
