import ArgumentParser
import Foundation
import Ledger

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
            let disclosures = try common.openLedger().disclosures(customerID: customerID)
            if json {
                print(JSONValue.array(disclosures.map { d in
                    .object([
                        ("partner", .string(d.partner)), ("delivery", .string(d.deliveryID)),
                        ("fields", .array(d.fields.map { .string($0) })), ("disclosed_at", .string(d.disclosedAt)),
                        ("consent_scope", .string(d.consentScope)), ("consent_granted_at", .string(d.consentGrantedAt)),
                        ("purpose", .string(d.purpose)), ("confirmed", .bool(d.confirmed)),
                    ])
                }).rendered(), terminator: "")
                return
            }
            if disclosures.isEmpty {
                print("No disclosure of customer \(customerID) is recorded in \(common.statePath).")
                return
            }
            print("Customer \(customerID): \(disclosures.count) disclosure\(disclosures.count == 1 ? "" : "s") recorded.")
            print(Terminal.table(["disclosed at", "partner", "delivery", "consent", "fields", "purpose"], disclosures.map { d in
                [d.disclosedAt + (d.confirmed ? "" : " (unconfirmed)"), d.partner, d.deliveryID,
                 "\(d.consentScope) (given \(d.consentGrantedAt))", d.fields.joined(separator: ", "), d.purpose]
            }))
            if disclosures.contains(where: { !$0.confirmed }) {
                print("Unconfirmed: a request went out and no answer came back before the delivery was superseded; "
                      + "the partner may hold these fields.")
            }
        }
    }
}
