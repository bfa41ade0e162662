import ExportCore
import Foundation
import Reports

/// How a run report reads on a terminal (the same for `run`, `rerun` and `runs show`).
enum RunReportText {
    static func render(_ report: RunReport) -> String {
        guard let run = report.run else {
            return ([report.message ?? "Nothing to do."] + noticesDue(report)).joined(separator: "\n") + "\n"
        }
        var lines: [String] = []
        let span = report.finishedAt.map { "\(report.startedAt) → \($0)" } ?? "\(report.startedAt), \(report.status)"
        let incomplete = report.partners.filter { !$0.succeeded }
        // The outcome first, so that a narrow terminal never cuts it off.
        if report.status == "running" {
            lines.append("IN PROGRESS: the run has not ended" + (report.partners.isEmpty ? "" : "; partners done so far below")
                         + (report.work == nil ? "" : " ('partner-export run --join' helps it)"))
        } else if report.status == "interrupted" {
            let completed = report.partners.filter { !$0.completedBy.isEmpty }
            if !report.partners.isEmpty && completed.count == report.partners.filter({ !$0.succeeded }).count {
                lines.append("INTERRUPTED: the run stopped before it ended; later runs completed its feeds: "
                             + completed.map { "\($0.partner) by \($0.completedBy.joined(separator: ", "))" }.joined(separator: "; "))
            } else {
                lines.append("INTERRUPTED: the run stopped before it ended; what it did not send is owed "
                             + "('partner-export deliveries --failed'; 'partner-export rerun --failed' sends it)")
            }
        } else if report.succeeded {
            let skipped = report.partners.filter(\.skipped)
            lines.append((skipped.isEmpty ? "OK: every partner succeeded; "
                          : "OK: every partner that ran succeeded; not run: "
                            + skipped.map { "\($0.partner) (\($0.status))" }.joined(separator: ", ") + "; ")
                         + (!report.incompleteElsewhere.isEmpty
                ? "still owed from earlier runs: " + report.incompleteElsewhere.joined(separator: ", ")
                : report.noticesDueElsewhere.isEmpty ? "every feed is complete"
                : "deletion notices are due to " + report.noticesDueElsewhere.keys.sorted().joined(separator: ", ")))
        } else if incomplete.allSatisfy({ !$0.alerts.isEmpty && $0.status != "failed" && $0.status != "error" }) {
            lines.append("NOT OK: evidence to look at (an altered stored payload): " + incomplete.map(\.partner).joined(separator: ", ")
                         + "; the feeds went out rendered again from the source, see ALERT below")
        } else {
            lines.append("NOT EVERYTHING WAS DELIVERED: " + incomplete.map { "\($0.partner) (\($0.status))" }.joined(separator: ", "))
        }
        lines.append("Run \(run) (\(report.trigger)), \(span)")
        lines.append(Terminal.table(
            ["partner", "status", "feed", report.trigger == "rerun" ? "eligible*" : "eligible", "sent", "left out", "delivered",
             "failed", "retries", "bytes", "duration"],
            report.partners.map { p in
                [p.partner, p.status, feedCell(p), p.eligible.map(Terminal.count) ?? "-", Terminal.count(p.records),
                 Terminal.count(p.rejectedRecords), Terminal.count(p.delivered), Terminal.count(p.failed + p.deliveriesRejected),
                 Terminal.count(p.retries), Terminal.count(p.bytes), p.durationSeconds.map { String(format: "%.1f s", $0) } ?? "-"]
            }, dropOrder: [0, 1, 2, 4, 7, 3, 5, 8, 6, 10, 9]))
        if report.trigger == "rerun" {
            lines.append("* eligible: in the id ranges rendered again; sent also counts batches resent as stored. "
                         + "left out: records that could not be rendered.")
        }
        for p in report.partners { lines += details(p) }
        // Said when the work was split or shared: shards, takeovers, or more than one process.
        let processes = Set((report.work ?? []).compactMap { $0.worker?.split(separator: "#").first })
        if let work = report.work, processes.count > 1 || work.contains(where: { $0.shards > 1 || $0.takeovers > 0 }) {
            lines.append("Shared between workers:")
            lines.append(Terminal.table(["partner", "shard", "customers", "status", "worker", "taken over from"], work.map { item in
                [item.partner, "\(item.shard)/\(item.shards)", item.ids, item.status, item.worker ?? "-",
                 item.earlierWorkers.isEmpty ? "-" : item.earlierWorkers.joined(separator: ", ")]
            }, dropOrder: [2, 5, 1, 3, 4, 0]))
        }
        if !report.incompleteElsewhere.isEmpty {
            lines.append("Also owed from earlier runs: " + report.incompleteElsewhere.joined(separator: ", ")
                         + " ('partner-export deliveries --failed').")
        }
        lines += noticesDue(report)
        lines += advice(incomplete)
        return lines.map { $0.contains("\n") ? $0 : Terminal.line($0) }.joined(separator: "\n") + "\n"
    }

    private static func feedCell(_ p: PartnerReport) -> String {
        // A partner that stopped before it rendered anything has no feed of this run to speak of.
        if p.status == "error" && !(p.feed?.new ?? false) { return p.feed.map { $0.complete ? "not run" : "INCOMPLETE" } ?? "not run" }
        guard let feed = p.feed else { return "complete" }
        return feed.complete ? "complete" : (p.completedBy.isEmpty ? "INCOMPLETE" : "completed later")
    }

    /// Deletion notices due to partners whose feeds are otherwise complete: owed, and sent by their next run.
    static func noticesDue(_ report: RunReport) -> [String] {
        report.noticesDueElsewhere.sorted { $0.key < $1.key }.map { partner, count in
            "Deletion notices due to \(partner): \(Terminal.count(count)) (customers it holds who are no longer eligible); "
                + "its next run sends them ('partner-export run \(partner)')."
        }
    }

    /// What to do next, per partner that did not succeed: fix a set-up problem and run again, or
    /// complete the feed once the partner is back. Nothing for feeds a later run completed.
    private static func advice(_ partners: [PartnerReport]) -> [String] {
        var lines: [String] = []
        var rerun: [String] = []
        for p in partners where p.completedBy.isEmpty {
            switch p.error?.fate {
            case _ where p.error?.code == "deletions.guard":
                lines.append("\(p.partner): held by the deletion guard: check the numbers above; once the notices are confirmed, "
                             + "'partner-export rerun --failed --partner \(p.partner) --allow-deletions' sends the feed and them "
                             + "(without --allow-deletions it is held again; docs/runbook.md, section 5)")
            case "configuration"? where (p.feed?.owed ?? 0) == 0:
                lines.append("\(p.partner): fix the problem above, then 'partner-export run \(p.partner)' "
                             + "(nothing of it is owed: there is nothing to rerun)")
            default:
                rerun.append(p.partner)
            }
        }
        if !rerun.isEmpty {
            lines.append("See 'partner-export deliveries --failed'; once the cause is fixed, 'partner-export rerun --failed"
                         + (rerun.count == 1 ? " --partner \(rerun[0])" : "") + "' completes "
                         + (rerun.count == 1 ? "its feed." : "every feed."))
        }
        return lines
    }

    private static func details(_ p: PartnerReport) -> [String] {
        var lines: [String] = []
        let name = p.partner
        if !p.fields.isEmpty {
            lines.append("")
            lines.append("\(name): minimisation proof (what left, next to what the contract allows)")
            lines.append(Terminal.table(["  output", "from", "form", "values", "contract allows"], p.fields.map { line in
                ["  " + line.name, line.from, line.form, Terminal.count(line.values),
                 line.allowedForms?.joined(separator: ", ") ?? "(not in the contract any more)"]
            }))
            if !p.allowedNotSent.isEmpty {
                lines.append("  allowed but not sent: "
                             + p.allowedNotSent.map { "\($0.field) (\($0.allowedForms.joined(separator: ", ")))" }.joined(separator: ", "))
            }
        }
        if let changes = p.changes {
            if changes.noticesDueCount > 0 || changes.noticesSent > 0 {
                if p.fields.isEmpty { lines.append("") }
                lines.append("  deletion notices (the key field only): \(Terminal.count(changes.noticesSent)) acknowledged of "
                             + "\(Terminal.count(changes.noticesDueCount)) due ("
                             + changes.noticesDue.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")")
            }
            if p.mode == "changes" {
                lines.append("\(name): changes since what it acknowledged: \(Terminal.count(changes.new)) new, "
                             + "\(Terminal.count(changes.changed)) changed, \(Terminal.count(changes.unchanged)) unchanged (not sent)"
                             + (changes.new + changes.changed + changes.noticesDueCount == 0 && p.status == "nothing-to-send"
                                ? "; nothing changed, nothing sent" : ""))
            }
            if changes.unnamed > 0 {
                lines.append("\(name): \(Terminal.count(changes.unnamed)) customer(s) it holds are no longer eligible but cannot be "
                             + "named in a notice (the ledger predates keys and the key is not from id)")
            }
        }
        if !p.rejectedByReason.isEmpty {
            lines.append("\(name): \(Terminal.count(p.rejectedRecords)) record(s) left out: "
                         + p.rejectedByReason.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                         + " (ids: 'partner-export preview \(name) --json')")
        }
        if p.recovered > 0 {
            lines.append("\(name): resent \(p.recovered) delivery(ies) left in doubt (a request went out and no answer was recorded)")
        }
        if let feed = p.feed {
            if let reason = feed.reason { lines.append("\(name): a new feed: \(reason)") }
            if !feed.complete && feed.owed > 0 && !p.completedBy.isEmpty {
                lines.append("\(name): its feed was incomplete when this run ended (\(feed.owed) delivery(ies) owed); "
                             + "completed later by run \(p.completedBy.joined(separator: ", "))")
            } else if !feed.complete && feed.owed > 0 {
                lines.append("\(name): its feed is incomplete: \(feed.owed) delivery(ies) owed"
                             + (p.held > 0 ? " (\(p.held) held " + (heldByGuard(p) ? "by the deletion guard)" : "after the failure)") : ""))
            }
        }
        for action in p.actions where action.action != .sent {
            lines.append("\(name): batch \(action.batch) (\(action.delivery)): " + describe(action, heldByGuard: heldByGuard(p)))
        }
        for by in p.completedBy { lines.append("\(name): its feed was completed later by run \(by)") }
        for note in p.notes { lines.append("\(name): \(note)") }
        if let error = p.error {
            // A pause or a wait is a decision, not a failure: said plainly.
            let label = p.skipped ? p.status.uppercased() : "ERROR"
            lines.append("\(name): \(label) [\(error.code)]: \(error.message.replacingOccurrences(of: "partner \(name): ", with: ""))")
        }
        return lines
    }

    /// The partner's part was held by the deletion guard: so was every batch of it that was held.
    static func heldByGuard(_ p: PartnerReport) -> Bool { p.error?.code == "deletions.guard" }

    static func describe(_ action: DeliveryAction, heldByGuard: Bool = false) -> String {
        switch action.action {
        case .held where heldByGuard: "held by the deletion guard (not sent; send with --allow-deletions once the notices are confirmed)"
        case .sent: "sent (\(action.status))"
        case .resentSameID: "same records: resent as \(action.delivery) (\(action.status))"
        case .resentInDoubt: "left in doubt, resent under its own id (\(action.status))"
        case .replaced: "rendered again (its records changed, or its stored file could not be used): replaced by \(action.by.joined(separator: ", "))"
        case .nothingLeft: "none of its customers is eligible any more: nothing sent"
        case .held: "held (not sent: an earlier batch was not delivered)"
        case .supersededByFeed: "replaced by this run's complete feed"
        case .renderedAgainAfterTakeover: "never tried by the worker that rendered it: rendered again after its shard was taken over"
        }
    }
}
