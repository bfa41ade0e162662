import ExportCore

/// `run --json`, `rerun --json` and `runs show RUN --json`: what one run did, per partner. The same
/// type is stored with the run (each partner's entry in the ledger) and read back by `runs show`, so
/// the report of a run is what happened in that run; later runs that completed its feeds are listed
/// under it (`completed_by`), never merged into its figures.
public struct RunReport: Codable, Equatable, Sendable {
    /// nil when there was nothing to do (then `message` says why and no run was recorded).
    public var run: String?
    public var trigger: String
    public var status: String
    public var startedAt: String
    public var finishedAt: String?
    public var durationSeconds: Double?
    public var partners: [PartnerReport]
    /// Partners not in this run whose last feed is incomplete (a reminder: `rerun --failed`).
    public var incompleteElsewhere: [String]
    /// Why nothing was done, when nothing was.
    public var message: String?
    /// Partners not in this rerun whose feed is complete but to whom deletion notices are due (customers
    /// who withdrew since): how many each; the next run of each sends them. Counted by reruns only.
    public var noticesDueElsewhere: [String: Int] = [:]
    /// A run shared by several workers: its items, and which worker did each (nil otherwise).
    public var work: [WorkItemReport]?

    public init(run: String?, trigger: String, status: String, startedAt: String, finishedAt: String?, durationSeconds: Double?,
                partners: [PartnerReport], incompleteElsewhere: [String] = [], message: String? = nil) {
        self.run = run
        self.trigger = trigger
        self.status = status
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.durationSeconds = durationSeconds
        self.partners = partners
        self.incompleteElsewhere = incompleteElsewhere
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case run, trigger, status, partners, message, work
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case durationSeconds = "duration_seconds"
        case incompleteElsewhere = "incomplete_elsewhere"
        case noticesDueElsewhere = "notices_due_elsewhere"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        run = try c.decodeIfPresent(String.self, forKey: .run)
        trigger = try c.decode(String.self, forKey: .trigger)
        status = try c.decode(String.self, forKey: .status)
        startedAt = try c.decode(String.self, forKey: .startedAt)
        finishedAt = try c.decodeIfPresent(String.self, forKey: .finishedAt)
        durationSeconds = try c.decodeIfPresent(Double.self, forKey: .durationSeconds)
        partners = try c.decode([PartnerReport].self, forKey: .partners)
        incompleteElsewhere = try c.decodeIfPresent([String].self, forKey: .incompleteElsewhere) ?? []
        message = try c.decodeIfPresent(String.self, forKey: .message)
        work = try c.decodeIfPresent([WorkItemReport].self, forKey: .work)
        noticesDueElsewhere = try c.decodeIfPresent([String: Int].self, forKey: .noticesDueElsewhere) ?? [:]
    }

    /// The run ended, every partner succeeded and every feed is complete.
    public var succeeded: Bool { status != "running" && status != "interrupted" && partners.allSatisfy { $0.succeeded } }
}

/// One partner's part of a run.
public struct PartnerReport: Codable, Equatable, Sendable {
    public var partner: String
    /// delivered | nothing-to-send | failed | rejected | held | error
    public var status: String
    public var error: ErrorReport?
    public var feed: FeedReport?
    /// Customers selected (consent and filters) in what this run rendered; nil when the partner
    /// stopped before its customers were selected (not counted).
    public var eligible: Int?
    /// Records in the deliveries the partner acknowledged in this run.
    public var records: Int
    /// Deliveries attempted in this run (delivered + failed + rejected).
    public var deliveries: Int
    public var delivered: Int
    public var failed: Int
    public var deliveriesRejected: Int
    /// Batches not sent because an earlier one was not delivered: still owed.
    public var held: Int
    /// Owed deliveries this run replaced (rendered again, or nothing left of them).
    public var superseded: Int
    /// Records left out on their own (by customer id and reason; `preview --json` lists them).
    public var rejectedRecords: Int
    public var rejectedByReason: [String: Int]
    public var replacedCharacters: Int
    /// Attempts beyond the first, across deliveries.
    public var retries: Int
    /// Deliveries left in doubt by an earlier run and resent under their own id.
    public var recovered: Int
    /// Uncompressed feed bytes the partner acknowledged (`gzip` says whether they went compressed).
    public var bytes: Int
    public var gzip: Bool
    public var startedAt: String
    public var finishedAt: String?
    public var durationSeconds: Double?
    /// The minimisation proof: each field that left, with how many values, next to what the contract allows.
    public var fields: [FieldReport]
    public var allowedNotSent: [AllowedReport]
    /// What happened to each delivery this run touched.
    public var actions: [DeliveryAction]
    /// Runs that later completed the feed this partner left incomplete (filled in when read back).
    public var completedBy: [String]
    public var notes: [String]
    /// Evidence a human must look at although the feed went out (a stored payload altered on disk):
    /// the run does not count as succeeded while there is any.
    public var alerts: [ErrorReport] = []
    /// `snapshot` or `changes` (nil in reports written before modes existed).
    public var mode: String?
    /// Records against what the partner holds, and the deletion notices (nil when not counted).
    public var changes: ChangesReport?

    public init(partner: String, status: String, error: ErrorReport? = nil, feed: FeedReport? = nil, eligible: Int? = nil,
                records: Int = 0, deliveries: Int = 0, delivered: Int = 0, failed: Int = 0, deliveriesRejected: Int = 0,
                held: Int = 0, superseded: Int = 0, rejectedRecords: Int = 0, rejectedByReason: [String: Int] = [:],
                replacedCharacters: Int = 0, retries: Int = 0, recovered: Int = 0, bytes: Int = 0, gzip: Bool = false,
                startedAt: String, finishedAt: String? = nil, durationSeconds: Double? = nil, fields: [FieldReport] = [],
                allowedNotSent: [AllowedReport] = [], actions: [DeliveryAction] = [], completedBy: [String] = [],
                notes: [String] = [], mode: String? = nil, changes: ChangesReport? = nil) {
        self.mode = mode
        self.changes = changes
        self.partner = partner
        self.status = status
        self.error = error
        self.feed = feed
        self.eligible = eligible
        self.records = records
        self.deliveries = deliveries
        self.delivered = delivered
        self.failed = failed
        self.deliveriesRejected = deliveriesRejected
        self.held = held
        self.superseded = superseded
        self.rejectedRecords = rejectedRecords
        self.rejectedByReason = rejectedByReason
        self.replacedCharacters = replacedCharacters
        self.retries = retries
        self.recovered = recovered
        self.bytes = bytes
        self.gzip = gzip
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.durationSeconds = durationSeconds
        self.fields = fields
        self.allowedNotSent = allowedNotSent
        self.actions = actions
        self.completedBy = completedBy
        self.notes = notes
    }

    enum CodingKeys: String, CodingKey {
        case partner, status, error, feed, eligible, records, deliveries, delivered, failed, held, superseded, retries, recovered,
             bytes, gzip, fields, actions, notes, mode, changes, alerts
        case deliveriesRejected = "deliveries_rejected"
        case rejectedRecords = "rejected_records"
        case rejectedByReason = "rejected_by_reason"
        case replacedCharacters = "replaced_characters"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case durationSeconds = "duration_seconds"
        case allowedNotSent = "allowed_not_sent"
        case completedBy = "completed_by"
        // Earlier names, written one more release so that scripts can move (docs/design.md, "--json shapes").
        case rejected
        case rejectedDeliveries = "rejected_deliveries"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        partner = try c.decode(String.self, forKey: .partner)
        status = try c.decode(String.self, forKey: .status)
        error = try c.decodeIfPresent(ErrorReport.self, forKey: .error)
        feed = try c.decodeIfPresent(FeedReport.self, forKey: .feed)
        eligible = try c.decodeIfPresent(Int.self, forKey: .eligible)
        records = try c.decode(Int.self, forKey: .records)
        deliveries = try c.decode(Int.self, forKey: .deliveries)
        delivered = try c.decode(Int.self, forKey: .delivered)
        failed = try c.decode(Int.self, forKey: .failed)
        deliveriesRejected = try c.decode(Int.self, forKey: .deliveriesRejected)
        held = try c.decode(Int.self, forKey: .held)
        superseded = try c.decode(Int.self, forKey: .superseded)
        rejectedRecords = try c.decode(Int.self, forKey: .rejectedRecords)
        rejectedByReason = try c.decode([String: Int].self, forKey: .rejectedByReason)
        replacedCharacters = try c.decode(Int.self, forKey: .replacedCharacters)
        retries = try c.decode(Int.self, forKey: .retries)
        recovered = try c.decode(Int.self, forKey: .recovered)
        bytes = try c.decode(Int.self, forKey: .bytes)
        gzip = try c.decode(Bool.self, forKey: .gzip)
        startedAt = try c.decode(String.self, forKey: .startedAt)
        finishedAt = try c.decodeIfPresent(String.self, forKey: .finishedAt)
        durationSeconds = try c.decodeIfPresent(Double.self, forKey: .durationSeconds)
        fields = try c.decode([FieldReport].self, forKey: .fields)
        allowedNotSent = try c.decode([AllowedReport].self, forKey: .allowedNotSent)
        actions = try c.decode([DeliveryAction].self, forKey: .actions)
        completedBy = try c.decode([String].self, forKey: .completedBy)
        notes = try c.decode([String].self, forKey: .notes)
        alerts = try c.decodeIfPresent([ErrorReport].self, forKey: .alerts) ?? []
        mode = try c.decodeIfPresent(String.self, forKey: .mode)
        changes = try c.decodeIfPresent(ChangesReport.self, forKey: .changes)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(partner, forKey: .partner)
        try c.encode(status, forKey: .status)
        try c.encode(error, forKey: .error)
        try c.encode(feed, forKey: .feed)
        try c.encode(eligible, forKey: .eligible)
        try c.encode(records, forKey: .records)
        try c.encode(deliveries, forKey: .deliveries)
        try c.encode(delivered, forKey: .delivered)
        try c.encode(failed, forKey: .failed)
        try c.encode(deliveriesRejected, forKey: .deliveriesRejected)
        try c.encode(deliveriesRejected, forKey: .rejectedDeliveries)
        try c.encode(held, forKey: .held)
        try c.encode(superseded, forKey: .superseded)
        try c.encode(rejectedRecords, forKey: .rejectedRecords)
        try c.encode(rejectedRecords, forKey: .rejected)
        try c.encode(rejectedByReason, forKey: .rejectedByReason)
        try c.encode(replacedCharacters, forKey: .replacedCharacters)
        try c.encode(retries, forKey: .retries)
        try c.encode(recovered, forKey: .recovered)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(gzip, forKey: .gzip)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(durationSeconds, forKey: .durationSeconds)
        try c.encode(fields, forKey: .fields)
        try c.encode(allowedNotSent, forKey: .allowedNotSent)
        try c.encode(actions, forKey: .actions)
        try c.encode(completedBy, forKey: .completedBy)
        try c.encode(notes, forKey: .notes)
        try c.encode(alerts, forKey: .alerts)
        try c.encode(mode, forKey: .mode)
        try c.encode(changes, forKey: .changes)
    }

    /// Or not run on purpose (paused, waiting as the partner asked): not a failure of the run.
    public var succeeded: Bool {
        ((status == "delivered" || status == "nothing-to-send") && (feed?.complete ?? true) && alerts.isEmpty) || skipped
    }

    public var skipped: Bool { status == "paused" || status == "waiting" }
}

/// An error in a report: its stable code, its fate and the sentence.
public struct ErrorReport: Codable, Equatable, Sendable {
    public var code: String
    public var fate: String
    public var message: String

    public init(code: String, fate: String, message: String) {
        self.code = code
        self.fate = fate
        self.message = message
    }

    public init(_ error: ExportError) {
        self.init(code: error.code, fate: error.fate.rawValue, message: error.message)
    }
}

/// The partner's feed at the end of its part of the run.
public struct FeedReport: Codable, Equatable, Sendable {
    public var id: String
    /// The run that started it.
    public var startedBy: String
    /// This run started it (a new feed), rather than completing an earlier one.
    public var new: Bool
    /// Every batch of it acknowledged.
    public var complete: Bool
    /// Its deliveries not yet acknowledged (failed, rejected, held, pending).
    public var owed: Int
    /// Why a rerun rendered a new feed instead of completing the old one, when it did.
    public var reason: String?

    public init(id: String, startedBy: String, new: Bool, complete: Bool, owed: Int, reason: String? = nil) {
        self.id = id
        self.startedBy = startedBy
        self.new = new
        self.complete = complete
        self.owed = owed
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case id, new, complete, owed, reason
        case startedBy = "started_by"
    }
}

/// One line of the minimisation proof.
public struct FieldReport: Codable, Equatable, Sendable {
    public var name: String
    public var from: String
    public var form: String
    /// Non-null values that left in acknowledged deliveries.
    public var values: Int
    /// What the contract allows for `from` (nil: the contract no longer allows it).
    public var allowedForms: [String]?

    public init(name: String, from: String, form: String, values: Int, allowedForms: [String]?) {
        self.name = name
        self.from = from
        self.form = form
        self.values = values
        self.allowedForms = allowedForms
    }

    enum CodingKeys: String, CodingKey {
        case name, from, form, values
        case allowedForms = "allowed_forms"
    }
}

/// A field the contract allows that the mapping does not send.
public struct AllowedReport: Codable, Equatable, Sendable {
    public var field: String
    public var allowedForms: [String]

    public init(field: String, allowedForms: [String]) {
        self.field = field
        self.allowedForms = allowedForms
    }

    enum CodingKeys: String, CodingKey {
        case field
        case allowedForms = "allowed_forms"
    }
}

/// What a run did with one delivery.
public struct DeliveryAction: Codable, Equatable, Sendable {
    public typealias Kind = DeliveryActionKind

    public var delivery: String
    public var batch: Int
    public var action: Kind
    /// The deliveries that replaced it (for `replaced`).
    public var by: [String]
    /// delivered | failed | rejected | held | superseded | pending, after the run.
    public var status: String

    public init(delivery: String, batch: Int, action: Kind, by: [String] = [], status: String) {
        self.delivery = delivery
        self.batch = batch
        self.action = action
        self.by = by
        self.status = status
    }
}

/// How a partner's records stood against what it holds, and its deletion notices (docs/design.md,
/// "Change feeds and deletion notices").
public struct ChangesReport: Codable, Equatable, Sendable {
    /// Records the partner did not hold, held in another version, or held as they are (changes mode
    /// sends only the first two).
    public var new: Int
    public var changed: Int
    public var unchanged: Int
    /// Deletion notices the render found, by reason.
    public var noticesDue: [String: Int]
    /// Deletion notices the partner acknowledged in this run.
    public var noticesSent: Int
    /// Customers held whose key is unknown, so no notice can name them.
    public var unnamed: Int

    public init(new: Int, changed: Int, unchanged: Int, noticesDue: [String: Int], noticesSent: Int, unnamed: Int) {
        self.new = new
        self.changed = changed
        self.unchanged = unchanged
        self.noticesDue = noticesDue
        self.noticesSent = noticesSent
        self.unnamed = unnamed
    }

    public var noticesDueCount: Int { noticesDue.values.reduce(0, +) }

    enum CodingKeys: String, CodingKey {
        case new, changed, unchanged, unnamed
        case noticesDue = "notices_due"
        case noticesSent = "notices_sent"
    }
}

/// One item of a shared run: a partner's shard (an id range), who did it, and who held it before
/// their lease ran out.
public struct WorkItemReport: Codable, Equatable, Sendable {
    public var partner: String
    public var shard: Int
    public var shards: Int
    /// The shard's customers, in words (`ids after 500 through 1000`).
    public var ids: String
    /// `pending`, `running`, `done` or `failed`.
    public var status: String
    /// The worker that did it (or holds it now).
    public var worker: String?
    /// Workers whose lease ran out before they finished it, oldest first.
    public var earlierWorkers: [String]
    public var takeovers: Int

    public init(partner: String, shard: Int, shards: Int, ids: String, status: String, worker: String?, earlierWorkers: [String],
                takeovers: Int) {
        self.partner = partner
        self.shard = shard
        self.shards = shards
        self.ids = ids
        self.status = status
        self.worker = worker
        self.earlierWorkers = earlierWorkers
        self.takeovers = takeovers
    }

    enum CodingKeys: String, CodingKey {
        case partner, shard, shards, ids, status, worker, takeovers
        case earlierWorkers = "earlier_workers"
    }
}
