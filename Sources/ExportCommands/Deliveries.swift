import ArgumentParser
import ExportCore
import Foundation
import Ledger
import Reports

extension PartnerExportCommand {
    /// `deliveries`: what the ledger holds.
    struct Deliveries: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List deliveries from the ledger, newest first.",
            discussion: "--failed lists every delivery that did not succeed and was not superseded: failed (attempts exhausted, "
                + "TLS or set-up problems), rejected (the partner's permanent answer) and held (not sent because an earlier "
                + "batch of its feed was not delivered). 'rerun --failed' completes their feeds.")

        @OptionGroup var common: CommonOptions

        @Flag(help: "Only deliveries that are still owed: failed, rejected or held (not superseded).")
        var failed = false

        @Option(help: "Only this partner's deliveries.")
        var partner: String?

        @Option(name: .customLong("run"), help: "Only this run's deliveries.")
        var runID: String?

        @Option(help: "At most this many (default: 200 in the table, every one with --json).")
        var limit: Int?

        @Flag(help: "Also show the first bytes of each partner's last answer (they may quote customer data).")
        var showAnswers = false

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            if let limit, limit < 1 { throw ValidationError("--limit must be 1 or more (leave it out for every row with --json)") }
        }

        func run() throws {
            common.startLogging()
            let ledger = try ReadOnlyLedger.open(common)
            let listing = ListingLimit(explicit: limit, tableDefault: 200)
            // Pending deliveries are owed too once no run is alive to send them (a killed run leaves them pending,
            // in doubt when a request went out); while a run holds the lock they are its work in progress.
            let runAlive = common.ledger.holderAlive()
            var query = DeliveryQuery(statuses: failed ? (runAlive ? DeliveryStatus.unsuccessful : DeliveryStatus.owed) : nil,
                                      partner: partner, run: runID)
            let total = try ledger.deliveryCount(query)
            query.limit = listing.rows(json: json)
            let records = try ledger.deliveries(query)
            if json {
                try StandardOutput.json(records.map { DeliveryEntry($0, showAnswer: showAnswers) })
                return
            }
            let inFlight = failed && runAlive
                ? try ledger.deliveryCount(DeliveryQuery(statuses: [.pending], partner: partner, run: runID)) : 0
            let running = inFlight > 0 ? "; \(inFlight) pending delivery(ies) belong to the run in progress" : ""
            if records.isEmpty {
                // Nothing owed, yet a feed may be incomplete: its render stopped part way (said unless a run is at it now).
                let unfinished = failed && !runAlive ? try ledger.partnersWithIncompleteFeeds().filter { partner == nil || $0 == partner }
                    : []
                let noticesOwed = try ledger.totals().contains { (partner == nil || $0.key == partner) && $0.value.counter(CounterName.noticesDue) > 0 }
                let feeds = unfinished.isEmpty ? (noticesOwed ? ": every feed is complete, but deletion notices are owed:" : ": every feed is complete.")
                    : "; the feed of \(unfinished.joined(separator: ", ")) is incomplete all the same (its render stopped part way): "
                        + "'partner-export rerun --failed' completes it."
                try StandardOutput.line(failed ? "No failed, rejected or held deliveries" + (inFlight > 0 ? running : feeds)
                    : "No deliveries.")
                if failed { try noticesDue(ledger) }
                return
            }
            try StandardOutput.line(Terminal.table(["delivery", "partner", "batch", "status", "attempts", "records", "http", "created",
                                                    "note"], records.map { d in
                [d.id, d.partner, String(d.batch), d.status.rawValue + (d.inDoubt ? " (in doubt)" : ""), String(d.attempts),
                 Terminal.count(d.recordCount), d.lastHTTPStatus.map(String.init) ?? "-", d.createdAt, note(d)]
            }, dropOrder: [0, 3, 1, 8, 2, 6, 5, 4, 7]))
            if let note = listing.note(shown: records.count, total: total, noun: "deliveries", seeAll: "deliveries"
                                       + (failed ? " --failed" : "")) {
                try StandardOutput.line(note)
            }
            if showAnswers {
                for d in records where !d.answerPrefix.isEmpty {
                    try StandardOutput.line(Terminal.line("\(d.id) answered: \(String(decoding: d.answerPrefix, as: UTF8.self).debugDescription)"))
                }
            }
            if !running.isEmpty { try StandardOutput.line(String(running.dropFirst(2)) + ".") }
            if failed { try noticesDue(ledger) }
            if failed {
                try StandardOutput.line("To complete these feeds under today's consent and contract: partner-export rerun --failed"
                                        + (partner.map { " --partner \($0)" } ?? ""))
                // A batch the deletion guard held goes out only with the flag: a rerun without it is held again.
                for guarded in Set(records.filter { $0.lastErrorCode == "deletions.guard" }.map(\.partner)).sorted() {
                    try StandardOutput.line("Held by the deletion guard (\(guarded)): once the notices are confirmed, "
                                            + "partner-export rerun --failed --partner \(guarded) --allow-deletions")
                }
            }
        }

        /// Deletion notices due to partners, as the last run or rerun counted them: owed, though no
        /// delivery carries them yet (the partner's next run does).
        private func noticesDue(_ ledger: any LedgerStore) throws {
            for (name, totals) in try ledger.totals().sorted(by: { $0.key < $1.key }) where partner == nil || name == partner {
                let due = totals.counter(CounterName.noticesDue)
                guard due > 0 else { continue }
                try StandardOutput.line("Deletion notices due to \(name): \(Terminal.count(due)) (as the last run or rerun counted them); "
                                        + "its next run sends them: partner-export run \(name)")
            }
        }

        private func note(_ d: DeliveryRecord) -> String {
            switch d.status {
            case .superseded: return "superseded" + (d.supersededBy.map { " by \($0)" } ?? "")
            case .delivered: return "delivered \(d.deliveredAt ?? "")"
            case .pending: return "left pending by run \(d.runID), which did not finish" + (d.inDoubt || d.attempts > 0
                ? " (a request went out: it is resent under its own id first)" : " (never sent)")
            default:
                return (d.lastErrorCode.map { "[\($0)] " } ?? "") + (d.lastError ?? "")
            }
        }
    }
}
