import ExportCore
import Pipeline

/// How `preview` prints its report: text for people, JSON for scripts (DESIGN §6).
enum PreviewOutput {
    static func json(_ report: PreviewReport, reveal: Bool) -> JSONValue {
        let partner = report.partner
        let fields = partner.mapping.fields
        var pairs: [(String, JSONValue)] = [
            ("partner", .string(partner.id)),
            ("name", .string(partner.contract.name)),
            ("purpose", .string(partner.contract.purpose)),
            ("format", .string(partner.contract.format.rawValue)),
            ("consent", .array(partner.contract.consent.map { .string($0) })),
            ("customers", .int(report.counts.customers)),
            ("eligible", .int(report.counts.eligible)),
            ("rendered", .int(report.tally.rendered)),
            ("rejected", .array(sortedRejections(report).map { rejected in
                .object([("customer_id", .int(Int(rejected.customerID))), ("reason", .string(rejected.reason.description)),
                         ("code", .string(rejected.reason.code))])
            })),
            ("rejected_count", .int(report.tally.rejectedCount)),
            ("excluded", .object(report.counts.excluded.map { ($0.reason.key, .int($0.count)) })),
            ("fields", .array(fields.map { field in
                .object([("name", .string(field.name)), ("from", .string(field.from)), ("form", .string(field.form.name)),
                         ("allowed_forms", .array((partner.contract.allowedForms(for: field.from) ?? []).map { .string($0.name) })),
                         ("required", .bool(field.required))])
            })),
            ("allowed_not_sent", .array(partner.allowedButNotSent.map { allowed in
                .object([("field", .string(allowed.field)), ("allowed_forms", .array(allowed.forms.map { .string($0.name) }))])
            })),
            ("replaced_characters", .int(report.tally.replacedCharacters)),
            ("samples_masked", .bool(!reveal)),
            ("samples", .array(report.samples.map { record in
                .object(zip(fields, record).map { field, value in (field.name, sampleJSON(value, reveal: reveal)) })
            })),
        ]
        if let output = report.output {
            pairs.append(("out", .object([("path", .string(output.path)), ("records", .int(output.records)),
                                          ("bytes", .int(output.bytes))])))
        }
        return .object(pairs)
    }

    static func text(_ report: PreviewReport, reveal: Bool) -> String {
        let partner = report.partner
        let contract = partner.contract
        var lines: [String] = []
        lines.append("Preview of \(partner.id) (\(contract.name)), \(contract.format.rawValue) feed")
        lines.append("Purpose: \(contract.purpose)")
        lines.append("Consent required: \(contract.consent.joined(separator: ", "))")
        lines.append("")
        var rows: [[String]] = [["customers", Terminal.count(report.counts.customers)]]
        for (reason, count) in report.counts.excluded {
            rows.append(["  excluded: \(describe(reason))", Terminal.count(count)])
        }
        rows.append(["eligible", Terminal.count(report.counts.eligible)])
        for (code, count) in report.tally.rejectedByReason.sorted(by: { $0.key < $1.key }) {
            rows.append(["  rejected: \(code.replacingOccurrences(of: "_", with: " "))", Terminal.count(count)])
        }
        rows.append(["would be sent", Terminal.count(report.tally.rendered)])
        if report.tally.replacedCharacters > 0 {
            rows.append(["characters replaced by U+FFFD", Terminal.count(report.tally.replacedCharacters)])
        }
        lines.append(Terminal.table(nil, rows))
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
                lines.append(Terminal.table(nil, zip(partner.mapping.fields, record).map { field, value in
                    ["    " + field.name, sampleText(value, reveal: reveal)]
                }))
            }
        }
        if let output = report.output {
            lines.append("")
            lines.append("Whole feed written to \(output.path): \(Terminal.count(output.records)) records, "
                         + "\(Terminal.count(output.bytes)) bytes (mode 0600; it holds customer data).")
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
        case .text(let text): "*** (\(text.count) chars)"
        case .number: "****"
        case .list(let items): "[\(items.count) item\(items.count == 1 ? "" : "s")]"
        }
    }

    private static func sampleText(_ value: SampleValue, reveal: Bool) -> String {
        guard reveal else { return mask(value) }
        switch value {
        case .null: return "null"
        case .text(let text): return JSONValue.string(text).rendered().trimmingCharacters(in: ["\n"])
        case .number(let n): return String(n)
        case .list(let items): return JSONValue.array(items.map { .string($0) }).rendered()
            .replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "  ", with: "")
        }
    }

    private static func sampleJSON(_ value: SampleValue, reveal: Bool) -> JSONValue {
        guard reveal else { return value == .null ? .null : .string(mask(value)) }
        switch value {
        case .null: return .null
        case .text(let text): return .string(text)
        case .number(let n): return .int(n)
        case .list(let items): return .array(items.map { .string($0) })
        }
    }
}
