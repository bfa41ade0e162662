import ExportCore
import Foundation

/// The record of processing activities (GDPR Art. 30(1)) for the disclosures to partners: per partner
/// what is *declared* (contract, mapping, catalog) next to what was *actually disclosed* in the period
/// (the ledger), with the signed checkpoint the figures were read under (docs/privacy.md).
public struct RecordOfProcessing: Codable, Equatable, Sendable {
    public struct Checkpoint: Codable, Equatable, Sendable {
        public var path: String?
        /// Entries of the disclosure log the figures were read at.
        public var entries: UInt64
        public var root: String
        /// Whether the checkpoint names exactly that log (false: it covers more, signed after the read).
        public var exact: Bool
        public var note: String?

        public init(path: String?, entries: UInt64, root: String, exact: Bool, note: String?) {
            self.path = path
            self.entries = entries
            self.root = root
            self.exact = exact
            self.note = note
        }
    }

    public struct Category: Codable, Equatable, Sendable {
        public var category: String
        public var name: String?
        public var fields: [String]
        public var special: Bool
        /// Records (customer × delivery) that carried a value of it (disclosed only).
        public var records: Int?
        /// Deletion notices that carried it (the key field's category).
        public var notices: Int?

        public init(category: String, name: String?, fields: [String], special: Bool, records: Int? = nil, notices: Int? = nil) {
            self.notices = notices
            self.category = category
            self.name = name
            self.fields = fields
            self.special = special
            self.records = records
        }
    }

    public struct Partner: Codable, Equatable, Sendable {
        public var partner: String
        public var name: String?
        public var configured: Bool
        public var purpose: String?
        public var dataUse: String?
        public var dataUseName: String?
        public var legalBasis: String?
        public var legalBasisArticle: String?
        public var dataSubjects: String?
        public var recipient: ProcessingTerms.Recipient?
        public var retentionAtPartnerDays: Int?
        public var retentionHere: String
        public var security: [String]
        public var declared: [Category]
        public var disclosed: [Category]
        /// Records disclosed (customer × delivery, acknowledged) in the period, and deletion notices acknowledged.
        public var records: Int
        public var deliveries: Int
        public var deletionNotices: Int
        public var declaredButNotSent: [String]
        public var sentButNotDeclared: [String]

        public init(partner: String, name: String?, configured: Bool, purpose: String?, dataUse: String?, dataUseName: String?,
                    legalBasis: String?, legalBasisArticle: String?, dataSubjects: String?, recipient: ProcessingTerms.Recipient?,
                    retentionAtPartnerDays: Int?, retentionHere: String, security: [String], declared: [Category],
                    disclosed: [Category], records: Int, deliveries: Int, deletionNotices: Int, declaredButNotSent: [String],
                    sentButNotDeclared: [String]) {
            self.partner = partner
            self.name = name
            self.configured = configured
            self.purpose = purpose
            self.dataUse = dataUse
            self.dataUseName = dataUseName
            self.legalBasis = legalBasis
            self.legalBasisArticle = legalBasisArticle
            self.dataSubjects = dataSubjects
            self.recipient = recipient
            self.retentionAtPartnerDays = retentionAtPartnerDays
            self.retentionHere = retentionHere
            self.security = security
            self.declared = declared
            self.disclosed = disclosed
            self.records = records
            self.deliveries = deliveries
            self.deletionNotices = deletionNotices
            self.declaredButNotSent = declaredButNotSent
            self.sentButNotDeclared = sentButNotDeclared
        }
    }

    public var generatedAt: String
    public var since: String?
    public var controller: Catalog.Controller?
    public var taxonomy: String
    public var checkpoint: Checkpoint?
    public var partners: [Partner]

    public init(generatedAt: String, since: String?, controller: Catalog.Controller?, checkpoint: Checkpoint?, partners: [Partner]) {
        self.generatedAt = generatedAt
        self.since = since
        self.controller = controller
        taxonomy = Taxonomy.source
        self.checkpoint = checkpoint
        self.partners = partners
    }

    enum CodingKeys: String, CodingKey {
        case generatedAt = "generated_at", since, controller, taxonomy, checkpoint, partners
    }
}

extension RecordOfProcessing.Partner {
    enum CodingKeys: String, CodingKey {
        case partner, name, configured, purpose, security, declared, disclosed, records, deliveries, recipient
        case dataUse = "data_use", dataUseName = "data_use_name", legalBasis = "legal_basis", legalBasisArticle = "legal_basis_article"
        case dataSubjects = "data_subjects", retentionAtPartnerDays = "retention_at_partner_days", retentionHere = "retention_here"
        case deletionNotices = "deletion_notices", declaredButNotSent = "declared_but_not_sent", sentButNotDeclared = "sent_but_not_declared"
    }
}

extension RecordOfProcessing {
    /// Plain text, for a terminal or a ticket.
    public func text() -> String {
        var lines = ["Record of processing activities (GDPR Art. 30(1)): disclosures to partners",
                     "Period: " + (since.map { "from \($0)" } ?? "everything in the ledger") + " to \(generatedAt)"]
        if let controller {
            lines.append("Controller: \(controller.name), \(controller.contact)" + (controller.dpo.map { "; DPO \($0)" } ?? ""))
        } else {
            lines.append("Controller: not declared (catalog.yaml names it)")
        }
        lines.append("Checkpoint: " + checkpointSentence)
        for p in partners {
            lines.append("")
            lines.append("\(p.partner)" + (p.name.map { " — \($0)" } ?? "") + (p.configured ? "" : " (no longer configured)"))
            func add(_ label: String, _ value: String?) { lines.append("  \(label): \(value ?? "not declared")") }
            add("purpose", p.purpose)
            add("data use", p.dataUse.map { $0 + (p.dataUseName.map { " (\($0))" } ?? "") })
            add("legal basis", p.legalBasis.map { $0 + (p.legalBasisArticle.map { ", \($0)" } ?? "") })
            add("data subjects", p.dataSubjects)
            add("recipient", p.recipient.map { "\($0.legalName), \($0.country)" + ($0.dpaURL.map { ", DPA \($0)" } ?? "") })
            add("retention at the partner", p.retentionAtPartnerDays.map { "\($0) days" })
            add("retention here", p.retentionHere)
            add("security", p.security.joined(separator: "; "))
            lines.append("  categories declared: " + (p.declared.isEmpty ? "none" : p.declared.map { Self.describe($0) }.joined(separator: "; ")))
            lines.append("  categories disclosed (\(p.records) records in \(p.deliveries) deliveries; \(p.deletionNotices) deletion notices): "
                         + (p.disclosed.isEmpty ? "none" : p.disclosed.map { Self.describe($0) }.joined(separator: "; ")))
            if !p.declaredButNotSent.isEmpty { lines.append("  declared but not sent in the period: " + p.declaredButNotSent.joined(separator: ", ")) }
            if !p.sentButNotDeclared.isEmpty { lines.append("  SENT BUT NOT DECLARED ANY MORE: " + p.sentButNotDeclared.joined(separator: ", ")) }
        }
        lines.append("")
        lines.append("Categories and uses: \(taxonomy).")
        return lines.joined(separator: "\n") + "\n"
    }

    var checkpointSentence: String {
        guard let checkpoint else { return "none (no signing key: the figures are not under a signed checkpoint)" }
        return "\(checkpoint.path ?? "-") (\(checkpoint.entries) log entries, root \(checkpoint.root))"
            + (checkpoint.exact ? "" : "; " + (checkpoint.note ?? "it covers more than was read"))
    }

    static func describe(_ category: Category) -> String {
        category.category + (category.special ? " [special]" : "") + (category.records.map { " ×\($0)" } ?? "")
            + (category.notices.map { " (+\($0) in deletion notices)" } ?? "")
            + " (" + category.fields.joined(separator: ", ") + ")"
    }

    /// A partner's categories, declared or disclosed, side by side (the CSV's rows, the HTML's table).
    struct Line {
        let category: String
        let name: String?
        let special: Bool
        let declared: Bool
        let records: Int
        let fields: [String]
    }

    static func lines(_ p: Partner) -> [Line] {
        Set(p.declared.map(\.category) + p.disclosed.map(\.category)).sorted().map { category in
            let declared = p.declared.first { $0.category == category }
            let disclosed = p.disclosed.first { $0.category == category }
            return Line(category: category, name: declared?.name ?? disclosed?.name,
                        special: declared?.special ?? disclosed?.special ?? false, declared: declared != nil,
                        records: disclosed?.records ?? 0, fields: Array(Set((declared?.fields ?? []) + (disclosed?.fields ?? []))).sorted())
        }
    }

    /// One row per partner and category, declared or disclosed (spreadsheets).
    public func csv() -> String {
        var rows = [["partner", "data_use", "legal_basis", "recipient", "country", "retention_at_partner_days", "category", "special",
                     "declared", "records_disclosed", "fields"]]
        for p in partners {
            for line in Self.lines(p) {
                rows.append([p.partner, p.dataUse ?? "", p.legalBasis ?? "", p.recipient?.legalName ?? "", p.recipient?.country ?? "",
                             p.retentionAtPartnerDays.map(String.init) ?? "", line.category, line.special ? "yes" : "no",
                             line.declared ? "yes" : "no", String(line.records), line.fields.joined(separator: " ")])
            }
        }
        return rows.map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    static func csvField(_ text: String) -> String {
        var value = text
        // A leading =, +, - or @ would be a formula in a spreadsheet.
        if let first = value.first, "=+-@\t\r".contains(first) { value = "'" + value }
        guard value.contains(where: { ",\"\n\r".contains($0) }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One self-contained page, printable (no script, no external resource).
    public func html() -> String {
        let e = CustomerReportHTML.escape
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>Record of processing: disclosures to partners</title>
            <style>
            body { font-family: system-ui, sans-serif; line-height: 1.4; margin: 0; padding: 1rem; color: #1a1a1a; background: #fff; }
            main { max-width: 60rem; margin: 0 auto; }
            h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
            h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #2b5797; padding-bottom: .2rem; }
            table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
            th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border: 1px solid #c8c8c8; overflow-wrap: anywhere; }
            th { background: #eef2f8; }
            th[scope="row"] { width: 28%; }
            .drift { color: #8a1c1c; font-weight: 600; }
            .note { color: #444; font-size: .9rem; }
            @media print { body { padding: 0; font-size: 10pt; } h2 { break-after: avoid; } table { break-inside: avoid; } }
            </style>
            </head>
            <body>
            <main>
            <h1>Record of processing activities — disclosures to partners</h1>
            <p class="note">GDPR Art. 30(1). Period: \(e(since.map { "from \($0)" } ?? "everything in the ledger")) to \(e(generatedAt)).
            Categories and uses: \(e(taxonomy)).</p>
            <table><tbody>

            """
        func row(_ header: String, _ value: String) -> String { "<tr><th scope=\"row\">\(header)</th><td>\(value)</td></tr>\n" }
        html += row("Controller", controller.map { e("\($0.name), \($0.contact)") } ?? "not declared (catalog.yaml)")
        html += row("Data protection officer", e(controller?.dpo ?? "not declared"))
        html += row("Signed checkpoint", e(checkpointSentence))
        html += "</tbody></table>\n"
        for p in partners {
            html += "<h2>\(e(p.partner))\(p.name.map { " — " + e($0) } ?? "")\(p.configured ? "" : " (no longer configured)")</h2>\n<table><tbody>\n"
            html += row("Purpose", e(p.purpose ?? "not declared"))
            html += row("Data use", e(p.dataUse.map { $0 + (p.dataUseName.map { " (\($0))" } ?? "") } ?? "not declared"))
            html += row("Legal basis", e(p.legalBasis.map { $0 + (p.legalBasisArticle.map { ", \($0)" } ?? "") } ?? "not declared"))
            html += row("Data subjects", e(p.dataSubjects ?? "not declared"))
            html += row("Recipient", e(p.recipient.map { "\($0.legalName), \($0.country)" + ($0.dpaURL.map { ", DPA \($0)" } ?? "") } ?? "not declared"))
            html += row("Retention at the partner", e(p.retentionAtPartnerDays.map { "\($0) days" } ?? "not declared"))
            html += row("Retention here", e(p.retentionHere))
            html += row("Security measures", e(p.security.joined(separator: "; ")))
            html += row("Disclosed in the period", e("\(p.records) records (customer × delivery) in \(p.deliveries) deliveries; \(p.deletionNotices) deletion notices"))
            html += "</tbody></table>\n<table><thead><tr><th>Data category</th><th>Declared</th><th>Records disclosed</th><th>Fields</th></tr></thead><tbody>\n"
            for line in Self.lines(p) {
                let label = line.category + (line.name.map { " (\($0))" } ?? "") + (line.special ? " — special category (Art. 9)" : "")
                html += "<tr><td>\(e(label))</td><td>\(line.declared ? "yes" : "<span class=\"drift\">no</span>")</td>"
                    + "<td>\(line.records)</td><td>\(e(line.fields.joined(separator: ", ")))</td></tr>\n"
            }
            html += "</tbody></table>\n"
            if !p.declaredButNotSent.isEmpty {
                html += "<p>Declared but not sent in the period: \(e(p.declaredButNotSent.joined(separator: ", ")))</p>\n"
            }
            if !p.sentButNotDeclared.isEmpty {
                html += "<p class=\"drift\">Sent but no longer declared: \(e(p.sentButNotDeclared.joined(separator: ", ")))</p>\n"
            }
        }
        html += "</main>\n</body>\n</html>\n"
        return html
    }
}
