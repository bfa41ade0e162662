import ExportCore
import Foundation
import Pipeline

/// What `run` and `rerun` print at the end: a table per partner for people, or JSON (DESIGN §6).
enum RunSummary {
    static func print(runID: String, outcomes: [PartnerOutcome], json: Bool) {
        if json {
            Swift.print(JSONValue.object([
                ("run", .string(runID)),
                ("status", .string(outcomes.allSatisfy(\.succeeded) ? "succeeded" : "failed")),
                ("partners", .array(outcomes.map { outcome in
                    var pairs: [(String, JSONValue)] = [
                        ("partner", .string(outcome.partner)),
                        ("status", .string(outcome.status?.rawValue ?? "error")),
                        ("deliveries", .int(outcome.delivered + outcome.failed + outcome.rejected)),
                        ("delivered", .int(outcome.delivered)),
                        ("failed", .int(outcome.failed)),
                        ("rejected_deliveries", .int(outcome.rejected)),
                        ("records", .int(outcome.tally.rendered)),
                        ("eligible", .int(outcome.tally.eligible)),
                        ("rejected", .int(outcome.tally.rejectedCount)),
                        ("retries", .int(outcome.retries)),
                        ("recovered", .int(outcome.recovered)),
                        ("bytes", .int(outcome.deliveredBytes)),
                        ("error", .optional(outcome.error)),
                    ]
                    switch outcome.rerunAction {
                    case .resentSameID(let id)?: pairs.append(("rerun", .object([("action", .string("resent")), ("delivery", .string(id))])))
                    case .superseded(let ids)?:
                        pairs.append(("rerun", .object([("action", .string("superseded")), ("by", .array(ids.map { .string($0) }))])))
                    case .nothingLeft?: pairs.append(("rerun", .object([("action", .string("nothing-left"))])))
                    case nil: break
                    }
                    return .object(pairs)
                })),
            ]).rendered(), terminator: "")
            return
        }
        let ok = outcomes.allSatisfy(\.succeeded)
        Swift.print("Run \(runID): \(ok ? "every partner succeeded" : "SOME DELIVERIES DID NOT SUCCEED")")
        Swift.print(Terminal.table(
            ["partner", "status", "eligible", "sent", "rejected", "deliveries", "failed", "retries", "bytes"],
            outcomes.map { o in
                [o.partner, o.status?.rawValue ?? "error", Terminal.count(o.tally.eligible), Terminal.count(o.tally.rendered),
                 Terminal.count(o.tally.rejectedCount), Terminal.count(o.delivered), Terminal.count(o.failed + o.rejected),
                 Terminal.count(o.retries), Terminal.count(o.deliveredBytes)]
            }))
        for outcome in outcomes {
            switch outcome.rerunAction {
            case .resentSameID(let id)?: Swift.print("\(outcome.partner): same records, resent as \(id)")
            case .superseded(let ids)?: Swift.print("\(outcome.partner): records changed, sent as \(ids.joined(separator: ", "))")
            case .nothingLeft?: Swift.print("\(outcome.partner): none of its customers is eligible any more; nothing sent")
            case nil: break
            }
            if outcome.recovered > 0 {
                Swift.print("\(outcome.partner): resent \(outcome.recovered) delivery(ies) an interrupted run left in doubt")
            }
            if outcome.tally.rejectedCount > 0 {
                Swift.print("\(outcome.partner): \(outcome.tally.rejectedCount) record(s) left out: "
                            + outcome.tally.rejectedByReason.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                            + " (customer ids: 'partner-export preview \(outcome.partner) --json')")
            }
            if let error = outcome.error { Terminal.error("\(outcome.partner): \(error)") }
        }
        if !ok {
            Swift.print("See 'partner-export deliveries --failed' and, once the cause is fixed, 'partner-export rerun --failed'.")
        }
    }
}
