import ArgumentParser
import Foundation
import Ledger

extension PartnerExportCommand {
    /// `deliveries`: what the ledger holds.
    struct Deliveries: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List deliveries from the ledger, newest first.",
            discussion: "--failed lists every delivery that did not succeed and was not superseded: failed (retries exhausted "
                + "or a TLS/set-up problem) and rejected (the partner's permanent answer).")

        @OptionGroup var common: CommonOptions

        @Flag(help: "Only deliveries that failed or were rejected, and were not superseded.")
        var failed = false

        @Option(help: "Only this partner's deliveries.")
        var partner: String?

        @Option(name: .customLong("run"), help: "Only this run's deliveries.")
        var runID: String?

        @Option(help: "At most this many.")
        var limit = 200

        @Flag(help: "Also show the first bytes of each partner's last answer (they may quote customer data).")
        var showAnswers = false

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            common.startLogging()
            let ledger = try common.openLedger()
            let records = try ledger.deliveries(statuses: failed ? [.failed, .rejected] : nil, partner: partner, run: runID, limit: limit)
            if json {
                print(JSONValue.array(records.map { d in
                    var pairs: [(String, JSONValue)] = [
                        ("id", .string(d.id)), ("run", .string(d.runID)), ("partner", .string(d.partner)), ("batch", .int(d.batch)),
                        ("status", .string(d.status.rawValue)), ("attempts", .int(d.attempts)), ("record_count", .int(d.recordCount)),
                        ("bytes", .int(d.bytes)), ("sha256", .string(d.sha256)), ("last_http_status", .optional(d.lastHTTPStatus)),
                        ("last_error", .optional(d.lastError)), ("created_at", .string(d.createdAt)),
                        ("delivered_at", .optional(d.status == .delivered ? d.deliveredAt : nil)),
                        ("superseded_by", .optional(d.supersededBy)), ("supersedes", .optional(d.supersedes)),
                        ("in_doubt", .bool(d.inDoubt)),
                    ]
                    if showAnswers { pairs.append(("answer_prefix", .string(String(decoding: d.answerPrefix, as: UTF8.self)))) }
                    return .object(pairs)
                }).rendered(), terminator: "")
                return
            }
            if records.isEmpty {
                print(failed ? "No failed or rejected deliveries." : "No deliveries.")
                return
            }
            print(Terminal.table(["delivery", "partner", "batch", "status", "attempts", "records", "http", "created", "note"],
                                 records.map { d in
                [d.id, d.partner, String(d.batch), d.status.rawValue, String(d.attempts), Terminal.count(d.recordCount),
                 d.lastHTTPStatus.map(String.init) ?? "-", d.createdAt, note(d)]
            }))
            if showAnswers {
                for d in records where !d.answerPrefix.isEmpty {
                    print("\(d.id) answered: \(String(decoding: d.answerPrefix, as: UTF8.self).debugDescription)")
                }
            }
            if failed {
                print("To send them again under today's consent and contract: partner-export rerun --failed"
                      + (partner.map { " --partner \($0)" } ?? ""))
            }
        }

        private func note(_ d: DeliveryRecord) -> String {
            switch d.status {
            case .superseded: return "superseded" + (d.supersededBy.map { " by \($0)" } ?? "") + (d.inDoubt ? " (was in doubt)" : "")
            case .delivered: return "delivered \(d.deliveredAt ?? "")"
            default:
                let error = d.lastError ?? ""
                return error.count > 100 ? String(error.prefix(97)) + "..." : error
            }
        }
    }
}
