import ExportCore
import Foundation

/// The customer's own report (GDPR Art. 15(1)(c): the actual recipients): for each partner that
/// received them, who it is, why, under which consent, what it received in plain words, when, and the
/// deletion notices it acknowledged; and the signed checkpoint their receipts verify against.
/// `disclosures ID --format json` prints this type; `--format html` renders it (``CustomerReportHTML``).
public struct CustomerReport: Codable, Equatable, Sendable {
    public struct Consent: Codable, Equatable, Sendable {
        public var scope: String
        public var givenAt: String?
        /// nil: still in force (or not known: no customer database was at hand).
        public var withdrawnAt: String?
        /// False when the customer database has no row for this consent any more (erased, or removed).
        public var recorded: Bool = true
    }

    public struct Notice: Codable, Equatable, Sendable {
        public var reason: String
        /// The reason in plain words.
        public var because: String
        public var acknowledgedAt: String
        public var delivery: String
    }

    public struct Recipient: Codable, Equatable, Sendable {
        public var partner: String
        /// The partner's legal name from its contract (the id when it is no longer configured).
        public var legalName: String
        public var purpose: String
        public var consent: [Consent]
        /// What it received, in plain words, one item per field.
        public var data: [String]
        public var firstDisclosedAt: String?
        public var lastDisclosedAt: String?
        public var deliveries: Int
        public var deletionNotices: [Notice]
    }

    public var customerID: Int64
    public var generatedAt: String
    public var recipients: [Recipient]
    /// The newest signed checkpoint of the disclosure log, and the key that verifies it.
    public var checkpoint: String?
    public var verifierKey: String?
    /// Whether the consents' current state was read from the customer database.
    public var consentsFromSource: Bool

    /// One disclosure-log entry of the customer, as the report reads it (the ledger's record, in plain values).
    public struct Entry: Sendable {
        public var partner: String
        public var delivery: String
        /// Output names (a deletion notice: the key field).
        public var fields: [String]
        /// What the delivery carried, field by field: output name, source column, form name.
        public var shape: [(name: String, from: String, form: String)]
        public var purpose: String
        public var disclosedAt: String
        public var consentScope: String
        public var consentGrantedAt: String
        /// Nil for a disclosure; a deletion notice's reason.
        public var deletion: DeletionReason?

        public init(partner: String, delivery: String, fields: [String], shape: [(name: String, from: String, form: String)],
                    purpose: String, disclosedAt: String, consentScope: String, consentGrantedAt: String, deletion: DeletionReason?) {
            self.partner = partner
            self.delivery = delivery
            self.fields = fields
            self.shape = shape
            self.purpose = purpose
            self.disclosedAt = disclosedAt
            self.consentScope = consentScope
            self.consentGrantedAt = consentGrantedAt
            self.deletion = deletion
        }
    }

    public init(customerID: Int64, generatedAt: String, disclosures: [Entry], contracts: [String: Contract],
                consents: [(scope: String, grantedAt: String?, withdrawnAt: String?)]?, checkpoint: String?, verifierKey: String?) {
        self.customerID = customerID
        self.generatedAt = generatedAt
        self.checkpoint = checkpoint
        self.verifierKey = verifierKey
        consentsFromSource = consents != nil
        var order: [String] = []
        var byPartner: [String: [Entry]] = [:]
        for d in disclosures {
            if byPartner[d.partner] == nil { order.append(d.partner) }
            byPartner[d.partner, default: []].append(d)
        }
        recipients = order.map { partner in
            let rows = byPartner[partner] ?? []
            let contract = contracts[partner]
            let sent = rows.filter { $0.deletion == nil }
            // What it received: every field of every delivery, each named once, in the order first seen.
            var data: [String] = []
            for row in sent {
                let items = row.shape.isEmpty
                    ? row.fields.map { "the field \($0)" }
                    : row.shape.map { field in
                        Form(name: field.form).map { PlainWords.describe(field: field.from, form: $0, wording: contract?.wording ?? [:]) }
                            ?? "the field \(field.name)"
                    }
                for item in items where !data.contains(item) { data.append(item) }
            }
            // The consents it was sent under, with their state now when the source says.
            var scopes: [String] = []
            for row in sent where !scopes.contains(row.consentScope) { scopes.append(row.consentScope) }
            let consent = scopes.map { scope -> Consent in
                // When it was given as the data left under it (the ledger); whether it still stands (the source).
                let given = sent.filter { $0.consentScope == scope }.map(\.consentGrantedAt).max()
                let now = consents?.first { $0.scope == scope }
                return Consent(scope: scope, givenAt: given, withdrawnAt: now?.withdrawnAt, recorded: consents == nil || now != nil)
            }
            let dates = sent.map(\.disclosedAt).filter { !$0.isEmpty }.sorted()
            let notices = rows.compactMap { row in
                row.deletion.map { Notice(reason: $0.rawValue, because: PlainWords.describe(reason: $0), acknowledgedAt: row.disclosedAt,
                                          delivery: row.delivery) }
            }
            return Recipient(partner: partner, legalName: Self.plain(contract?.name ?? partner),
                             purpose: Self.plain(contract?.purpose ?? rows.last?.purpose ?? ""), consent: consent,
                             data: data.map(Self.plain),
                             firstDisclosedAt: dates.first, lastDisclosedAt: dates.last,
                             deliveries: Set(sent.map(\.delivery)).count, deletionNotices: notices)
        }
    }

    /// Text from a contract as the report shows it: without the bidirectional embedding, override and
    /// isolate controls (U+202A–U+202E, U+2066–U+2069), which can make a partner's name or purpose
    /// read as something else on the customer's screen.
    static func plain(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { !(0x202A...0x202E).contains($0.value) && !(0x2066...0x2069).contains($0.value) }))
    }

    enum CodingKeys: String, CodingKey {
        case recipients, checkpoint
        case customerID = "customer_id"
        case generatedAt = "generated_at"
        case verifierKey = "verifier_key"
        case consentsFromSource = "consents_from_source"
    }
}

extension CustomerReport.Consent {
    enum CodingKeys: String, CodingKey {
        case scope, recorded
        case givenAt = "given_at"
        case withdrawnAt = "withdrawn_at"
    }
}

extension CustomerReport.Notice {
    enum CodingKeys: String, CodingKey {
        case reason, because, delivery
        case acknowledgedAt = "acknowledged_at"
    }
}

extension CustomerReport.Recipient {
    enum CodingKeys: String, CodingKey {
        case partner, purpose, consent, data, deliveries
        case legalName = "legal_name"
        case firstDisclosedAt = "first_disclosed_at"
        case lastDisclosedAt = "last_disclosed_at"
        case deletionNotices = "deletion_notices"
    }
}

/// The customer's report as one self-contained HTML page: no script, no external resource, `lang` and
/// `<title>`, real tables with header cells, readable on a 375 px phone and when printed. Every value
/// is escaped; the page is also well-formed XML.
public enum CustomerReportHTML {
    public static func render(_ report: CustomerReport) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>Who received your data (customer \(report.customerID))</title>
            <style>
            body { font-family: system-ui, sans-serif; line-height: 1.45; margin: 0; padding: 1rem; color: #1a1a1a; background: #fff; }
            main { max-width: 46rem; margin: 0 auto; }
            h1 { font-size: 1.6rem; margin: 0 0 .5rem; }
            h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #2b5797; padding-bottom: .2rem; }
            table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
            caption { text-align: left; font-weight: 600; padding: .3rem 0; }
            th, td { text-align: left; vertical-align: top; padding: .4rem .5rem; border: 1px solid #c8c8c8; overflow-wrap: break-word; }
            th { background: #eef2f8; }
            th[scope="row"] { width: 30%; }
            ul { margin: 0; padding-left: 1.2rem; }
            pre, code { white-space: pre-wrap; overflow-wrap: anywhere; background: #f4f4f4; padding: .6rem; font-size: .85rem; }
            pre.key { word-break: break-all; margin-top: 0; }
            .note { color: #444; font-size: .95rem; }
            @media (max-width: 30rem) { body { padding: .6rem; } th[scope="row"] { width: 38%; } }
            @media print { body { padding: 0; } h2 { break-after: avoid; } table, pre { break-inside: avoid; } }
            </style>
            </head>
            <body>
            <main>
            <h1>Who received your data</h1>

            """
        html += "<p>This is the record of every company we sent data about you (customer \(report.customerID)) to, "
            + "what we sent, why, and under which of your consents, as of \(escape(date(report.generatedAt))).</p>\n"
        if report.recipients.isEmpty {
            html += "<p>We have not sent any data about you to any partner.</p>\n"
        }
        for recipient in report.recipients {
            html += "<section>\n<h2>\(escape(recipient.legalName))</h2>\n"
            html += "<table>\n<caption>What \(escape(recipient.legalName)) received, and why</caption>\n<tbody>\n"
            html += row("Why", escape(recipient.purpose))
            html += row("What", recipient.data.isEmpty ? "nothing but the fact that you are a customer"
                                                     : "<ul>" + recipient.data.map { "<li>\(escape($0))</li>" }.joined() + "</ul>")
            html += row("When", recipient.firstDisclosedAt.map { first in
                let last = recipient.lastDisclosedAt ?? first
                return first == last ? "on \(escape(date(first)))" : "from \(escape(date(first))) to \(escape(date(last)))"
            } ?? "never acknowledged")
            html += row("How often", "\(recipient.deliveries) deliver\(recipient.deliveries == 1 ? "y" : "ies")")
            html += "</tbody>\n</table>\n"
            if !recipient.consent.isEmpty {
                html += "<table>\n<caption>Your consent</caption>\n<thead><tr><th scope=\"col\">Consent</th>"
                    + "<th scope=\"col\">Given</th><th scope=\"col\">Withdrawn</th></tr></thead>\n<tbody>\n"
                for consent in recipient.consent {
                    html += "<tr><td>\(escape(consent.scope))</td><td>\(escape(consent.givenAt.map(date) ?? "unknown"))</td><td>"
                        + escape(consent.withdrawnAt.map(date) ?? (!consent.recorded ? "no longer on record (erased or removed)"
                                                                   : report.consentsFromSource ? "not withdrawn" : "unknown")) + "</td></tr>\n"
                }
                html += "</tbody>\n</table>\n"
            }
            if !recipient.deletionNotices.isEmpty {
                html += "<table>\n<caption>We told \(escape(recipient.legalName)) to delete your data</caption>\n<thead><tr>"
                    + "<th scope=\"col\">Because</th><th scope=\"col\">Confirmed by them</th></tr></thead>\n<tbody>\n"
                for notice in recipient.deletionNotices {
                    html += "<tr><td>\(escape(notice.because))</td><td>\(escape(date(notice.acknowledgedAt)))</td></tr>\n"
                }
                html += "</tbody>\n</table>\n"
            }
            html += "</section>\n"
        }
        html += "<section>\n<h2>How you can check this record</h2>\n"
        if let checkpoint = report.checkpoint {
            html += "<p class=\"note\">Every entry above is part of a tamper-evident log. This is the latest signed summary of "
                + "that log (a checkpoint). Anyone can check, with the key below, that the entries about you are in it and "
                + "were not changed; ask us for your receipts.</p>\n<pre>\(escape(checkpoint))</pre>\n"
            // The key on a line of its own, broken anywhere: at 375 px it wraps under its label instead of over it.
            if let key = report.verifierKey { html += "<p class=\"note\">Verifier key:</p>\n<pre class=\"key\">\(escape(key))</pre>\n" }
        } else {
            html += "<p class=\"note\">The log of these entries has no signed checkpoint yet.</p>\n"
        }
        html += "</section>\n</main>\n</body>\n</html>\n"
        return html
    }

    /// "1 December 2026, 13:24 UTC" from an RFC 3339 time (as it is when it is not one).
    static func date(_ text: String) -> String {
        guard let seconds = UTCTime.parse(text) else { return text }
        let date = Date(timeIntervalSince1970: seconds)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "d MMMM yyyy, HH:mm 'UTC'"
        return formatter.string(from: date)
    }

    private static func row(_ header: String, _ cell: String) -> String {
        "<tr><th scope=\"row\">\(header)</th><td>\(cell)</td></tr>\n"
    }

    /// Text as HTML (and XML): the five special characters escaped; control characters dropped.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    continue
                }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
