import ExportCore
import Ledger

/// What one run did, typed: its partners' results (each summed over its shards), what is still owed
/// elsewhere, and the run's items when several workers could share it. `run`, `rerun` and `runs show`
/// turn it into their `--json` report at the command layer.
public struct RunResult: Sendable {
    /// Nil when there was nothing to do (then `message` says why and no run was recorded).
    public var run: String?
    public var trigger: RunTrigger
    /// Nil when there was nothing to do.
    public var status: RunStatus?
    public var startedAt: String
    public var finishedAt: String?
    public var partners: [PartnerResult]
    /// Partners not in this run whose last feed is incomplete.
    public var incompleteElsewhere: [String] = []
    /// Partners not in this rerun whose feed is complete but to whom deletion notices are due, how many each.
    public var noticesDueElsewhere: [String: Int] = [:]
    public var message: String?
    /// The run's items, on a ledger that keeps them (PostgreSQL); empty otherwise.
    public var work: [RunItem] = []

    public init(run: String?, trigger: RunTrigger, status: RunStatus?, startedAt: String, finishedAt: String?,
                partners: [PartnerResult], message: String? = nil) {
        self.run = run
        self.trigger = trigger
        self.status = status
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.partners = partners
        self.message = message
    }

    /// The run ended, every partner succeeded and every feed is complete.
    public var succeeded: Bool { status != .running && status != .interrupted && partners.allSatisfy(\.succeeded) }
}
