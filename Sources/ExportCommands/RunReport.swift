import ExportCore
import Foundation
import Ledger

/// A run's report, rebuilt from the ledger: printed at the end of every run and by `runs show`.
///
/// Per partner: eligible, sent, rejected by reason, deliveries delivered / failed / rejected, bytes,
/// duration, and the minimisation proof — the fields and forms that actually left, with how many
/// values, next to what the contract allowed.
struct RunReport {
    struct FieldLine {
        let shape: FieldShape
        let values: Int
        let allowed: [String]?
    }

    struct Partner {
        let record: RunPartnerRecord
        let sent: Int
        let bytes: Int
        let delivered: Int
        let failed: Int
        let rejected: Int
        let superseded: Int
        let retries: Int
        let rejectedByReason: [(String, Int)]
        let fields: [FieldLine]
        let notSent: [(String, [String])]
        let recovered: Int
        /// For a rerun: a sentence, and the same as JSON (`action`: resent | superseded | nothing-left).
        let rerun: String?
        let rerunJSON: JSONValue?
        let duration: Double?

        var succeeded: Bool { ["delivered", "nothing-to-send"].contains(record.status) }
    }

    let run: RunRecord
    let partners: [Partner]

    var succeeded: Bool { partners.allSatisfy(\.succeeded) }

    init(ledger: Ledger, run id: String) throws {
        guard let run = try ledger.run(id) else { throw CommandFailure("there is no run \(id) in \(ledger.path)", exitCode: 2) }
        self.run = run
        let deliveries = try ledger.runDeliveries(run: id)
        partners = try ledger.runPartners(run: id).map { record in
            let mine = deliveries.filter { $0.delivery.partner == record.partner }
            let sentDeliveries = mine.filter(\.deliveredInRun)
            let stored = Self.parse(record.report)
            // The proof: what the acknowledged deliveries carried, summed per field.
            var lines: [FieldLine] = []
            let allowed = (stored["allowed"] as? [[String: Any]] ?? []).map {
                ($0["field"] as? String ?? "", $0["forms"] as? [String] ?? [])
            }
            for delivery in sentDeliveries.map(\.delivery) {
                for (i, shape) in delivery.shape.enumerated() {
                    let count = i < delivery.fieldCounts.count ? delivery.fieldCounts[i] : 0
                    if let k = lines.firstIndex(where: { $0.shape == shape }) {
                        lines[k] = FieldLine(shape: shape, values: lines[k].values + count, allowed: lines[k].allowed)
                    } else {
                        lines.append(FieldLine(shape: shape, values: count, allowed: allowed.first { $0.0 == shape.from }?.1))
                    }
                }
            }
            let sentSources = Set(lines.map(\.shape.from))
            let action = stored["rerun"] as? [String: Any]
            let rerunJSON: JSONValue? = action.map { action in
                .object([("action", .optional(action["action"] as? String)), ("delivery", .optional(action["delivery"] as? String)),
                         ("by", .array((action["by"] as? [String] ?? []).map { .string($0) }))])
            }
            let rerun: String? = action.map { action in
                switch action["action"] as? String {
                case "resent": "same records: resent as \(action["delivery"] as? String ?? "?")"
                case "superseded": "records changed: sent as \((action["by"] as? [String] ?? []).joined(separator: ", "))"
                default: "none of its customers is eligible any more: nothing sent"
                }
            }
            return Partner(
                record: record, sent: sentDeliveries.reduce(0) { $0 + $1.delivery.recordCount },
                bytes: sentDeliveries.reduce(0) { $0 + $1.delivery.bytes }, delivered: sentDeliveries.count,
                failed: mine.filter { $0.delivery.status == .failed && $0.attempts > 0 }.count,
                rejected: mine.filter { $0.delivery.status == .rejected && $0.attempts > 0 }.count,
                superseded: mine.filter { $0.delivery.status == .superseded && $0.delivery.runID == id }.count,
                retries: mine.reduce(0) { $0 + $1.retries },
                rejectedByReason: (stored["rejected_by_reason"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key },
                fields: lines, notSent: allowed.filter { !sentSources.contains($0.0) && !lines.isEmpty },
                recovered: stored["recovered"] as? Int ?? 0, rerun: rerun, rerunJSON: rerunJSON,
                duration: Self.seconds(from: record.startedAt, to: record.finishedAt))
        }
    }

    private static func parse(_ text: String?) -> [String: Any] {
        guard let data = text?.data(using: .utf8) else { return [:] }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    private static func seconds(from start: String, to end: String?) -> Double? {
        guard let end, let a = Clock.parse(start), let b = Clock.parse(end) else { return nil }
        return b.timeIntervalSince(a)
    }

    // MARK: - Output

    var json: JSONValue {
        .object([
            ("run", .string(run.id)), ("trigger", .string(run.trigger)), ("status", .string(run.status)),
            ("started_at", .string(run.startedAt)), ("finished_at", .optional(run.finishedAt)),
            ("partners", .array(partners.map { p in
                .object([
                    ("partner", .string(p.record.partner)), ("status", .string(p.record.status)),
                    ("deliveries", .int(p.delivered + p.failed + p.rejected)), ("delivered", .int(p.delivered)),
                    ("failed", .int(p.failed)), ("rejected_deliveries", .int(p.rejected)), ("superseded_unsent", .int(p.superseded)),
                    ("records", .int(p.sent)), ("eligible", .int(p.record.eligible)), ("rejected", .int(p.record.rejected)),
                    ("rejected_by_reason", .object(p.rejectedByReason.map { ($0.0, .int($0.1)) })),
                    ("retries", .int(p.retries)), ("recovered", .int(p.recovered)), ("bytes", .int(p.bytes)),
                    ("duration_seconds", p.duration.map { .string(String(format: "%.3f", $0)) } ?? .null),
                    ("fields", .array(p.fields.map { line in
                        .object([("name", .string(line.shape.name)), ("from", .string(line.shape.from)),
                                 ("form", .string(line.shape.form)), ("values", .int(line.values)),
                                 ("allowed_forms", line.allowed.map { .array($0.map { .string($0) }) } ?? .null)])
                    })),
                    ("allowed_not_sent", .array(p.notSent.map { .object([("field", .string($0.0)), ("allowed_forms", .array($0.1.map { .string($0) }))]) })),
                    ("rerun", p.rerunJSON ?? .null),
                    ("error", .optional(p.record.error)),
                ])
            })),
        ])
    }

    var text: String {
        var lines: [String] = []
        let span = run.finishedAt.map { "\(run.startedAt) → \($0)" } ?? "\(run.startedAt), \(run.status)"
        lines.append("Run \(run.id) (\(run.trigger)), \(span): "
                     + (succeeded ? "every partner succeeded" : "SOME DELIVERIES DID NOT SUCCEED"))
        lines.append(Terminal.table(
            ["partner", "status", "eligible", "sent", "rejected", "delivered", "failed", "retries", "bytes", "duration"],
            partners.map { p in
                [p.record.partner, p.record.status, Terminal.count(p.record.eligible), Terminal.count(p.sent),
                 Terminal.count(p.record.rejected), Terminal.count(p.delivered), Terminal.count(p.failed + p.rejected),
                 Terminal.count(p.retries), Terminal.count(p.bytes), p.duration.map { String(format: "%.1f s", $0) } ?? "-"]
            }))
        for p in partners {
            if !p.fields.isEmpty {
                lines.append("")
                lines.append("\(p.record.partner): minimisation proof (what left, next to what the contract allows)")
                lines.append(Terminal.table(["  output", "from", "form", "values", "contract allows"], p.fields.map { line in
                    ["  " + line.shape.name, line.shape.from, line.shape.form, Terminal.count(line.values),
                     line.allowed?.joined(separator: ", ") ?? "(not in the contract any more)"]
                }))
                if !p.notSent.isEmpty {
                    lines.append("  allowed but not sent: " + p.notSent.map { "\($0.0) (\($0.1.joined(separator: ", ")))" }.joined(separator: ", "))
                }
            }
            if !p.rejectedByReason.isEmpty {
                lines.append("\(p.record.partner): \(p.record.rejected) record(s) left out: "
                             + p.rejectedByReason.map { "\($0.1) \($0.0)" }.joined(separator: ", ")
                             + " (ids: 'partner-export preview \(p.record.partner) --json')")
            }
            if p.recovered > 0 {
                lines.append("\(p.record.partner): resent \(p.recovered) delivery(ies) an interrupted run left in doubt")
            }
            if p.superseded > 0 && !p.succeeded {
                lines.append("\(p.record.partner): \(p.superseded) later batch(es) not sent (superseded) after the failure")
            }
            if let rerun = p.rerun { lines.append("\(p.record.partner): \(rerun)") }
            if let error = p.record.error { lines.append("\(p.record.partner): ERROR: \(error)") }
        }
        if !succeeded {
            lines.append("See 'partner-export deliveries --failed' and, once the cause is fixed, 'partner-export rerun --failed'.")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func print(json asJSON: Bool) {
        Swift.print(asJSON ? json.rendered() : text, terminator: "")
    }
}
