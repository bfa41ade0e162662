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
            var disclosures = try ledger.disclosures(customerID: customerID)
            // Who has this id now, when the customer database is at hand: an id used again (a customer
            // erased, the number given to someone new) must not show an earlier person's history as theirs.
            // The customer database, opened once for the record here and the consents in the report.
            let database = (try? CustomerDatabase.checkPresent(common.databasePath)) != nil
                ? common.sourceModelForLookups().flatMap { try? CustomerDatabase(path: common.databasePath, model: $0) } : nil
            let source = try? database?.record(of: customerID)
            let created = source?.createdAt.flatMap(Timestamps.parse)
            let earlier = disclosures.filter { d in
                guard let created, let at = Timestamps.parse(d.disclosedAt) else { return false }
                return at < created
            }
            if format != .text {
                if source?.exists == false && disclosures.isEmpty {
                    throw ExportError.usage("there is no customer \(customerID) in the customer database \(common.databasePath) and no "
                                            + "disclosure of that id in \(common.ledger.label): check the number")
                }
                if !earlier.isEmpty {
                    // The report is this customer's: the earlier holder's entries are theirs alone.
                    Terminal.warning("\(earlier.count) entr\(earlier.count == 1 ? "y" : "ies") recorded before customer \(customerID)'s "
                                     + "record was created (\(source?.createdAt ?? "?")) concern an earlier customer who had this id, "
                                     + "and are left out of the report")
                    disclosures.removeAll { d in earlier.contains(d) }
                }
                try writeReport(disclosures, database: database)
                return
            }
            if json {
                var entries = disclosures.map(DisclosureEntry.init)
                for i in entries.indices where earlier.contains(disclosures[i]) { entries[i].earlierHolder = true }
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
                try StandardOutput.line("No disclosure of customer \(customerID) is recorded in \(common.ledger.label)"
                                        + (source?.exists == false ? ", and the customer database has no customer \(customerID) either: "
                                           + "check the number." : "."))
                return
            }
            if !earlier.isEmpty {
                try StandardOutput.line("Customer \(customerID)'s record was created \(source?.createdAt ?? "?"): the \(earlier.count) "
                                        + "entr\(earlier.count == 1 ? "y" : "ies") marked 'EARLIER CUSTOMER' below were recorded before, "
                                        + "about an earlier customer who had this id — not about this one.")
            }
            let deletions = disclosures.filter { $0.kind == .deletion }.count
            let sent = disclosures.count - deletions
            try StandardOutput.line("Customer \(customerID): \(sent) disclosure\(sent == 1 ? "" : "s")"
                                    + (deletions > 0 ? " and \(deletions) deletion notice\(deletions == 1 ? "" : "s")" : "") + " recorded.")
            try StandardOutput.line(Terminal.table(["disclosed at", "partner", "kind", "delivery", "consent / reason", "fields", "purpose"],
                                                   disclosures.map { d in
                [d.disclosedAt + (d.confirmed ? "" : " (unconfirmed)") + (earlier.contains(d) ? " EARLIER CUSTOMER" : ""), d.partner,
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
        private func writeReport(_ disclosures: [DisclosureRecord], database: CustomerDatabase?) throws {
            var contracts: [String: Contract] = [:]
            do {
                for partner in try common.loadConfiguration().partners { contracts[partner.id] = partner.contract }
            } catch {
                Terminal.warning("the configuration could not be read (\(error)); partners are named by their ids")
            }
            let consents = try? database?.consents(of: customerID)
            let audit = Audit(files: Audit.Files(stateFolder: common.stateDirectory, environment: common.environment))
            let checkpoint = try? audit.stored().last?.note
            let verifier = (try? audit.signer())??.verifier.encoded
            let entries = disclosures.map { d in
                CustomerReport.Entry(partner: d.partner, delivery: d.deliveryID, fields: d.fields,
                                     shape: d.shape.map { (name: $0.name, from: $0.from, form: $0.form) }, purpose: d.purpose,
                                     disclosedAt: d.disclosedAt, consentScope: d.consentScope, consentGrantedAt: d.consentGrantedAt,
                                     deletion: d.kind == .deletion ? (d.reason ?? .noLongerShared) : nil)
            }
            let report = CustomerReport(customerID: customerID, generatedAt: Timestamps.rfc3339(Date()), disclosures: entries,
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
