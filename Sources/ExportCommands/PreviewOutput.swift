import ExportCore
import Pipeline
import Reports

/// How `preview` prints its report: text for people, JSON for scripts (docs/design.md, "Commands").
enum PreviewOutput {
    static func document(_ report: PreviewReport, reveal: Bool) -> PreviewDocument {
        let partner = report.partner
        let fields = partner.mapping.fields
        var document = PreviewDocument(
            partner: partner.id, name: partner.contract.name, purpose: partner.contract.purpose,
            format: partner.contract.format.rawValue, consent: partner.contract.consent, customers: report.counts.customers,
            eligible: report.counts.eligible, rendered: report.tally.rendered,
            rejected: sortedRejections(report).map {
                PreviewDocument.Rejection(customerID: $0.customerID, reason: $0.reason.description, code: $0.reason.code)
            },
            rejectedCount: report.tally.rejectedCount,
            excluded: Dictionary(uniqueKeysWithValues: report.counts.excluded.map { ($0.reason.key, $0.count) }),
            fields: fields.map { field in
                PreviewDocument.Field(name: field.name, from: field.from, form: field.form.name,
                                      allowedForms: (partner.contract.allowedForms(for: field.from) ?? []).map(\.name),
                                      required: field.required)
            },
            allowedNotSent: partner.allowedButNotSent.map { AllowedReport(field: $0.field, allowedForms: $0.forms.map(\.name)) },
            replacedCharacters: report.tally.replacedCharacters, samplesMasked: !reveal,
            samples: report.samples.map { record in
                Dictionary(zip(fields, record).map { field, value in (field.name, sampleJSON(value, reveal: reveal)) },
                           uniquingKeysWith: { first, _ in first })
            },
            out: report.output.map { PreviewDocument.Output(path: $0.path, records: $0.records, bytes: $0.bytes) })
        let changes = report.tally.changes
        document.mode = partner.contract.mode.rawValue
        document.key = partner.mapping.key
        document.new = changes.new
        document.changed = changes.changed
        document.unchanged = changes.unchanged
        document.noticesDue = Dictionary(uniqueKeysWithValues: changes.notices.map { ($0.key.rawValue, $0.value) })
        return document
    }

    /// With the report's deletion guard, says whether it would hold a run.
    static func text(_ report: PreviewReport, reveal: Bool) -> String {
        let partner = report.partner
        let contract = partner.contract
        var lines: [String] = []
        lines.append("Preview of \(partner.id) (\(contract.name)), \(contract.format.rawValue) feed")
        lines.append("Purpose: \(contract.purpose)")
        lines.append("Consent required: \(contract.consent.joined(separator: ", "))")
        lines.append("Mode: \(contract.mode.rawValue); the partner knows customers by \(partner.mapping.key ?? "?"); deletion notices "
                     + "are held beyond \(contract.maxDeletionsPercent == contract.maxDeletionsPercent.rounded() ? String(Int(contract.maxDeletionsPercent)) : String(contract.maxDeletionsPercent))% of the customers it holds")
        lines.append("")
        var rows: [[String]] = [["customers", Terminal.count(report.counts.customers)]]
        for (reason, count) in report.counts.excluded {
            rows.append(["  excluded: \(describe(reason))", Terminal.count(count)])
        }
        rows.append(["eligible", Terminal.count(report.counts.eligible)])
        for (code, count) in report.tally.rejectedByReason.sorted(by: { $0.key < $1.key }) {
            rows.append(["  rejected: \(code.replacingOccurrences(of: "_", with: " "))", Terminal.count(count)])
        }
        let changes = report.tally.changes
        rows.append(["  new for the partner", Terminal.count(changes.new)])
        rows.append(["  changed since it acknowledged them", Terminal.count(changes.changed)])
        rows.append(["  unchanged" + (contract.mode == .changes ? " (not sent: changes mode)" : ""), Terminal.count(changes.unchanged)])
        rows.append(["would be sent", Terminal.count(report.tally.rendered)])
        rows.append(["deletion notices due", Terminal.count(changes.noticeCount)])
        for reason in DeletionReason.allCases where (changes.notices[reason] ?? 0) > 0 {
            rows.append(["  \(reason.rawValue)", Terminal.count(changes.notices[reason] ?? 0)])
        }
        if changes.unnamed > 0 { rows.append(["  held but cannot be named (key unknown)", Terminal.count(changes.unnamed)]) }
        if report.tally.replacedCharacters > 0 {
            rows.append(["characters replaced by U+FFFD", Terminal.count(report.tally.replacedCharacters)])
        }
        lines.append(Terminal.table(nil, rows))
        if let deletionGuard = report.deletionGuard, deletionGuard.tripped {
            lines.append("")
            lines.append("The deletion guard would hold a run: " + deletionGuard.message(
                partner: partner.id, pseudonymKeyEnv: contract.delivery.pseudonymKeyEnv,
                action: "A run would send nothing for this partner without --allow-deletions."))
        }
        let rejected = sortedRejections(report)
        if !rejected.isEmpty {
            lines.append("")
            lines.append("Rejected records (left out on their own; the rest of the feed goes out):")
            for record in rejected.prefix(20) { lines.append("  customer \(record.customerID): \(record.reason)") }
            if report.tally.rejectedCount > 20 {
                lines.append("  … and \(Terminal.count(report.tally.rejectedCount - 20)) more (--json lists them all)")
            }
        }
        lines.append("")
        lines.append("Fields that would leave, next to what the contract allows:")
        lines.append(Terminal.table(["  output", "from", "form", "contract allows"], partner.mapping.fields.map { field in
            ["  " + field.name, field.from, field.form.name,
             (contract.allowedForms(for: field.from) ?? []).map(\.name).joined(separator: ", ")]
        }))
        let unused = partner.allowedButNotSent
        if !unused.isEmpty {
            lines.append("Allowed but not sent: " + unused.map { "\($0.field) (\($0.forms.map(\.name).joined(separator: ", ")))" }
                .joined(separator: ", "))
        }
        if !report.samples.isEmpty {
            lines.append("")
            lines.append(reveal ? "Sample records (REVEALED: customer data on screen):"
                         : "Sample records (masked; --reveal shows the values):")
            for (i, record) in report.samples.enumerated() {
                lines.append("  record \(i + 1)")
                for (field, value) in zip(partner.mapping.fields, record) {
                    lines.append("    \(field.name)  \(sampleText(value, reveal: reveal))")
                }
            }
        }
        if let output = report.output {
            lines.append("")
            lines.append("Whole feed written to \(output.path): \(Terminal.count(output.records)) records, "
                         + "\(Terminal.count(output.bytes)) bytes " + (output.isFile ? "(mode 0600; it holds customer data)."
                            : "(a device or pipe, not a file: its permissions are its own; it holds customer data)."))
        }
        lines.append("")
        lines.append("Nothing was sent and nothing was recorded.")
        return lines.joined(separator: "\n") + "\n"
    }

    static func describe(_ reason: ExclusionReason) -> String {
        switch reason {
        case .noConsent(let scope): "no consent (\(scope))"
        case .consentWithdrawn(let scope): "consent withdrawn (\(scope))"
        case .filter(let column): "filter \(column)"
        }
    }

    private static func sortedRejections(_ report: PreviewReport) -> [RejectedRecord] {
        report.tally.rejected.sorted { $0.customerID < $1.customerID }
    }

    /// Masked values show only their shape: never a character of the value.
    static func mask(_ value: SampleValue) -> String {
        switch value {
        case .null: "null"
        case .text(let text): "*** (\(text.unicodeScalars.count) chars)"
        case .number: "****"
        case .list(let items): "[\(items.count) item\(items.count == 1 ? "" : "s")]"
        }
    }

    private static func sampleText(_ value: SampleValue, reveal: Bool) -> String {
        guard reveal else { return mask(value) }
        switch value {
        case .null: return "null"
        case .text(let text): return quoted(text)
        case .number(let n): return String(n)
        case .list(let items): return "[" + items.map(quoted).joined(separator: ",") + "]"
        }
    }

    /// A JSON string literal, built in one pass over the UTF-8 bytes (linear in the value's length).
    static func quoted(_ text: String) -> String {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(text.utf8.count + 2)
        let hex = Array("0123456789abcdef".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20, 0x7F:
                out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    private static func sampleJSON(_ value: SampleValue, reveal: Bool) -> SampleValueJSON {
        guard reveal else { return value == .null ? .null : .text(mask(value)) }
        switch value {
        case .null: return .null
        case .text(let text): return .text(text)
        case .number(let n): return .number(n)
        case .list(let items): return .list(items)
        }
    }
}
