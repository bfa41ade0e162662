/// One run, as listed.
public struct RunRecord: Sendable, Equatable {
    public let id: String
    public let startedAt: String
    public let finishedAt: String?
    public let trigger: RunTrigger
    public let status: RunStatus
    /// The partners asked for.
    public let partners: [String]
    /// Started with `--allow-deletions`: every worker of it sends notices beyond the deletion guard.
    public let allowDeletions: Bool

    public init(id: String, startedAt: String, finishedAt: String?, trigger: RunTrigger, status: RunStatus, partners: [String],
                allowDeletions: Bool = false) {
        self.allowDeletions = allowDeletions
        self.id = id
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.trigger = trigger
        self.status = status
        self.partners = partners
    }
}

/// One partner's part of a run: the figures listings need, and the whole report as stored JSON.
public struct PartnerRunRecord: Sendable, Equatable {
    public var partner: String
    public var status: PartnerStatus
    public var eligible: Int
    public var records: Int
    public var rejected: Int
    public var deliveries: Int
    public var bytes: Int
    public var startedAt: String
    public var finishedAt: String?
    public var error: String?
    public var errorCode: String?
    /// The feed it sent or completed.
    public var feed: String?
    /// Whether the partner's feed was complete when this partner's part ended.
    public var feedComplete: Bool
    /// The partner's report for this run, as JSON (the run report's `partners` entry).
    public var report: String?

    public init(partner: String, status: PartnerStatus, eligible: Int = 0, records: Int = 0, rejected: Int = 0, deliveries: Int = 0,
                bytes: Int = 0, startedAt: String, finishedAt: String? = nil, error: String? = nil, errorCode: String? = nil,
                feed: String? = nil, feedComplete: Bool = false, report: String? = nil) {
        self.partner = partner
        self.status = status
        self.eligible = eligible
        self.records = records
        self.rejected = rejected
        self.deliveries = deliveries
        self.bytes = bytes
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.error = error
        self.errorCode = errorCode
        self.feed = feed
        self.feedComplete = feedComplete
        self.report = report
    }
}

/// A partner's figures for the metrics file: counters that never go down (kept in the ledger, not
/// recomputed from rows that `prune` may delete) and the state of its last run and feed.
public struct PartnerTotals: Sendable, Equatable {
    public var counters: [String: Int] = [:]
    public var lastRunStartedAt: String?
    public var lastRunFinishedAt: String?
    public var lastRunSucceeded = false
    public var lastRunRecords = 0
    public var lastSuccessAt: String?
    /// Owed deliveries (failed, rejected, held, and pending ones a run left) not yet sent again or superseded.
    public var openFailures = 0
    /// nil when the partner never ran.
    public var feedComplete: Bool?
    /// When the oldest run still marked running started (the whole ledger's entry only; nil when none is).
    public var runningSince: String?
    /// Paused by an operator (`partner-export pause`).
    public var paused = false
    /// RFC 3339: the partner asked us to wait until then (nil: it did not, or not any more).
    public var waitUntil: String?

    public init() {}

    public func counter(_ name: String) -> Int { counters[name] ?? 0 }
}

/// The names of the ledger's counters.
public enum CounterName {
    public static let recordsSent = "records_sent"
    public static let bytesSent = "bytes_sent"
    public static let deliveriesDelivered = "deliveries_delivered"
    public static let deliveriesFailed = "deliveries_failed"
    public static let deliveriesRejected = "deliveries_rejected"
    public static let retries = "retries"
    public static let lockSkips = "lock_skips"
    /// Deletion notices the partner acknowledged.
    public static let noticesSent = "notices_sent"
    /// Partner runs the deletion guard held.
    public static let deletionGuardHolds = "deletion_guard_holds"
    /// Deletion notices due and not yet acknowledged, as of the last run or rerun that counted them
    /// (a figure, not a counter: ``CounterLog/set(_:of:partner:)``).
    public static let noticesDue = "notices_due"
    /// Followed by an ``ExportCore/ExportError`` code: `errors:delivery.rejected`.
    public static func errors(_ code: String) -> String { "errors:\(code)" }
}
