import ExportCore
import Foundation

/// The deletion guard (docs/design.md, "Change feeds and deletion notices"): a run that would tell a
/// partner to forget more than `max_deletions_percent` of the customers it holds sends nothing for it
/// without `--allow-deletions`. Every number of it — the limit, the notices, the share, whether it
/// trips, what to say — comes from here, for the run (which holds the partner) and `preview` (which
/// says it would) alike.
///
/// Notices count whatever makes them: a customer who is no longer eligible, and a customer still
/// eligible whose key changed (another pseudonym key, an anonymised copy of the database): the
/// partner is told to forget the old key, which is a deletion all the same.
public struct DeletionGuard: Sendable, Equatable {
    /// How many customers the partner holds (in the part of the feed counted).
    public let holds: Int
    /// The contract's `max_deletions_percent`.
    public let percent: Double
    /// Notices for customers the partner stops holding, by reason.
    public let gone: [DeletionReason: Int]
    /// Notices for held customers whose key would change (each goes with the record's new key).
    public let rekeyed: Int

    /// A partner holding five customers is not held every time one of them withdraws.
    public static let floor = 10

    public init(holds: Int, percent: Double, gone: [DeletionReason: Int], rekeyed: Int) {
        self.holds = holds
        self.percent = percent
        self.gone = gone.filter { $0.value > 0 }
        self.rekeyed = rekeyed
    }

    /// From a render's counts, whose notices include those for changed keys (as `no_longer_shared`).
    public init(holds: Int, percent: Double, changes: ChangeCounts) {
        var gone = changes.notices
        gone[.noLongerShared] = max(0, (gone[.noLongerShared] ?? 0) - changes.rekeyed)
        self.init(holds: holds, percent: percent, gone: gone, rekeyed: changes.rekeyed)
    }

    /// The most notices a run may send: `max_deletions_percent` of what the partner holds, at least ``floor``.
    public var limit: Int { max(Self.floor, Int((Double(holds) * percent / 100).rounded(.down))) }

    public var notices: Int { gone.values.reduce(0, +) + rekeyed }

    /// Every notice by reason, those for changed keys as `no_longer_shared` (as the feed says them).
    public var counts: [DeletionReason: Int] {
        var counts = gone
        if rekeyed > 0 { counts[.noLongerShared, default: 0] += rekeyed }
        return counts
    }

    public var tripped: Bool { holds > 0 && notices > limit }

    /// Most of the notices are for keys that changed: the key (or its source), not the customers, moved.
    public var keyChanged: Bool { rekeyed > 0 && rekeyed * 2 >= notices }

    /// What stops the run, in one paragraph (the run's error and preview's warning): the numbers, the
    /// likely cause, what to check and the command that sends them anyway.
    public func message(partner: String, pseudonymKeyEnv: String?, action: String) -> String {
        let share = holds > 0 ? String(format: "%.1f", Double(notices) * 100 / Double(holds)) : "0"
        let allowed = "more than max_deletions_percent \(Self.format(percent))% allows (at most \(Grouped.count(limit)))"
        let proceed = "'partner-export rerun --failed --partner \(partner) --allow-deletions'"
        if keyChanged {
            let variable = pseudonymKeyEnv.map { "pseudonym_key_env (\($0): another environment's value?), " } ?? ""
            return "the pseudonym key or the key field's source changed: \(Grouped.count(rekeyed)) of \(Grouped.count(holds)) held "
                + "keys would be replaced (\(share)% of what \(partner) holds would be deletion notices, \(allowed)). \(action) "
                + "Check \(variable)the key field's column and --db (an anonymised copy?); if the keys really changed: \(proceed)"
        }
        let reasons = counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\(Grouped.count($0.value)) \($0.key.rawValue)" }
            .joined(separator: ", ")
        return "this run would tell \(partner) to forget \(Grouped.count(notices)) of the \(Grouped.count(holds)) customers it holds "
            + "(\(share)%: \(reasons)), \(allowed). \(action) Check the source (an emptied consents table, a wrong --db); "
            + "if the withdrawals are real: \(proceed)"
    }

    static func format(_ percent: Double) -> String {
        percent == percent.rounded() ? String(Int(percent)) : String(percent)
    }
}
