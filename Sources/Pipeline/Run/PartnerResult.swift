import ExportCore
import Ledger

/// What one partner's part of a run did — or one shard of it, done by one worker: typed (statuses
/// are enums, counts integers, errors ``ExportError``s), stored with the run's item and the run, summed
/// over shards by one function (``merged(_:)``), and turned into the `--json` report only at the
/// command layer. Its stored form uses the report's key names, so that runs recorded before it read
/// back the same.
public struct PartnerResult: Equatable, Sendable {
    /// The feed the part worked on, as it stood when the part ended.
    public struct Feed: Equatable, Sendable {
        public var id: String
        /// The run that started it.
        public var startedBy: String
        /// This run started it (rather than completing an earlier one).
        public var isNew: Bool
        public var complete: Bool
        /// Its deliveries not yet acknowledged.
        public var owed: Int
        /// Why a rerun rendered a new feed instead of completing the old one.
        public var reason: String?
    }

    /// What the part did with one delivery.
    public struct Action: Equatable, Sendable {
        public typealias Kind = DeliveryActionKind

        public var delivery: String
        public var batch: Int
        public var kind: Kind
        /// The deliveries that replaced it (`replaced`).
        public var by: [String]
        /// Its status after the part.
        public var status: DeliveryStatus
    }

    /// One line of the minimisation proof: a field that left, in acknowledged deliveries.
    public struct FieldCount: Equatable, Sendable {
        public var shape: FieldShape
        /// Non-null values.
        public var values: Int
        /// What the contract allowed for the field's source then (nil: no longer allowed).
        public var allowedForms: [String]?
    }

    /// A field the contract allowed that the mapping did not send.
    public struct Allowed: Equatable, Sendable {
        public var field: String
        public var forms: [String]
    }

    /// Records against what the partner holds, and the deletion notices.
    public struct Changes: Equatable, Sendable {
        public var new = 0
        public var changed = 0
        public var unchanged = 0
        /// Found by the render, by reason (those for changed keys as `no_longer_shared`).
        public var noticesDue: [DeletionReason: Int] = [:]
        /// Acknowledged by the partner in this run.
        public var noticesSent = 0
        /// Customers held whose key is unknown.
        public var unnamed = 0

        public var noticesDueCount: Int { noticesDue.values.reduce(0, +) }
    }

    public var partner: String
    public var status: PartnerStatus
    public var error: ExportError?
    public var feed: Feed?
    /// Customers selected in what the part rendered (nil: it stopped before they were counted).
    public var eligible: Int?
    /// Records in deliveries the partner acknowledged.
    public var records = 0
    public var delivered = 0
    public var failed = 0
    public var rejectedDeliveries = 0
    public var held = 0
    public var superseded = 0
    public var rejectedRecords = 0
    public var rejectedByReason: [String: Int] = [:]
    public var replacedCharacters = 0
    public var retries = 0
    public var recovered = 0
    public var bytes = 0
    public var gzip = false
    public var startedAt: String
    public var finishedAt: String?
    public var fields: [FieldCount] = []
    public var allowedNotSent: [Allowed] = []
    public var actions: [Action] = []
    /// Runs that later completed the feed this part left incomplete (filled in when read back).
    public var completedBy: [String] = []
    public var notes: [String] = []
    /// Evidence a human must look at though the feed went out (an altered stored payload).
    public var alerts: [ExportError] = []
    public var mode: FeedMode?
    public var changes: Changes?

    public init(partner: String, status: PartnerStatus, startedAt: String) {
        self.partner = partner
        self.status = status
        self.startedAt = startedAt
    }

    /// Deliveries the part tried (acknowledged, failed or refused).
    public var deliveries: Int { delivered + failed + rejectedDeliveries }

    /// Everything delivered, the feed complete, nothing to look at.
    /// Or not run on purpose (paused, or waiting as the partner asked): its feed stays incomplete,
    /// what it is owed stays listed, and the run is not failed for it.
    public var succeeded: Bool { (status.succeeded && (feed?.complete ?? true) && alerts.isEmpty) || status.skipped }

    // MARK: - Summing

    /// How bad a status is, worst first: the merged part takes the worst of its shards'.
    static let severity: [PartnerStatus] = [.error, .held, .rejected, .failed, .paused, .waiting, .delivered, .nothingToSend]

    /// One partner's result from its shards' (each done by one worker): counts summed, the worst
    /// status (with its error, or the first error of any shard), the first start and the last end,
    /// each field's values summed, the notes once each; nil for no shard.
    public static func merged(_ shards: [PartnerResult]) -> PartnerResult? {
        guard var merged = shards.first else { return nil }
        guard shards.count > 1 else { return merged }
        func rank(_ result: PartnerResult) -> Int { severity.firstIndex(of: result.status) ?? 0 }
        let worst = shards.min { rank($0) < rank($1) } ?? merged
        merged.status = worst.status
        merged.error = worst.error ?? shards.compactMap(\.error).first
        for shard in shards.dropFirst() {
            if let eligible = shard.eligible { merged.eligible = (merged.eligible ?? 0) + eligible }
            merged.records += shard.records
            merged.delivered += shard.delivered
            merged.failed += shard.failed
            merged.rejectedDeliveries += shard.rejectedDeliveries
            merged.held += shard.held
            merged.superseded += shard.superseded
            merged.rejectedRecords += shard.rejectedRecords
            merged.rejectedByReason.merge(shard.rejectedByReason, uniquingKeysWith: +)
            merged.replacedCharacters += shard.replacedCharacters
            merged.retries += shard.retries
            merged.recovered += shard.recovered
            merged.bytes += shard.bytes
            merged.startedAt = min(merged.startedAt, shard.startedAt)
            if let end = shard.finishedAt { merged.finishedAt = max(merged.finishedAt ?? end, end) }
            for field in shard.fields { merged.add(field) }
            merged.actions += shard.actions
            merged.notes += shard.notes.filter { !merged.notes.contains($0) }
            merged.alerts += shard.alerts
            if let changes = shard.changes {
                var sum = merged.changes ?? Changes()
                sum.new += changes.new
                sum.changed += changes.changed
                sum.unchanged += changes.unchanged
                sum.noticesDue.merge(changes.noticesDue, uniquingKeysWith: +)
                sum.noticesSent += changes.noticesSent
                sum.unnamed += changes.unnamed
                merged.changes = sum
            }
        }
        // What the contract allows that no shard sent.
        let sent = Set(merged.fields.map(\.shape.from))
        var listed: Set<String> = []
        merged.allowedNotSent = shards.flatMap(\.allowedNotSent).filter { !sent.contains($0.field) && listed.insert($0.field).inserted }
        merged.actions.sort { $0.batch < $1.batch }
        return merged
    }

    /// Counts a delivery the partner acknowledged in this run that no shard's result holds (its
    /// worker died after the acknowledgement, before it recorded its result).
    mutating func add(delivered delivery: DeliveryRecord, allowedForms: (String) -> [String]?) {
        delivered += 1
        records += delivery.recordCount
        bytes += delivery.bytes
        changes?.noticesSent += delivery.noticeCount
        for (i, shape) in delivery.shape.enumerated() {
            add(FieldCount(shape: shape, values: i < delivery.fieldCounts.count ? delivery.fieldCounts[i] : 0,
                           allowedForms: allowedForms(shape.from)))
        }
        actions.append(Action(delivery: delivery.id, batch: delivery.batch, kind: .sent, by: [], status: .delivered))
    }

    /// Adds `field`'s values to the line of the same field (name, source and form), or adds the line.
    mutating func add(_ field: FieldCount) {
        if let k = fields.firstIndex(where: { $0.shape == field.shape }) {
            fields[k].values += field.values
        } else {
            fields.append(field)
        }
    }
}

// MARK: - Stored form

/// The stored form uses the `--json` report's key names (docs/design.md, "`--json` shapes"), so that
/// a run recorded before results were typed reads back into the same result.
extension PartnerResult: Codable {
    enum CodingKeys: String, CodingKey {
        case partner, status, error, feed, eligible, records, delivered, failed, held, superseded, retries, recovered, bytes, gzip,
             fields, actions, notes, alerts, mode, changes
        case rejectedDeliveries = "deliveries_rejected"
        case rejectedRecords = "rejected_records"
        case rejectedByReason = "rejected_by_reason"
        case replacedCharacters = "replaced_characters"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case allowedNotSent = "allowed_not_sent"
        case completedBy = "completed_by"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(partner: try c.decode(String.self, forKey: .partner), status: try c.decode(PartnerStatus.self, forKey: .status),
                  startedAt: try c.decode(String.self, forKey: .startedAt))
        error = try c.decodeIfPresent(ExportError.self, forKey: .error)
        feed = try c.decodeIfPresent(Feed.self, forKey: .feed)
        eligible = try c.decodeIfPresent(Int.self, forKey: .eligible)
        records = try c.decodeIfPresent(Int.self, forKey: .records) ?? 0
        delivered = try c.decodeIfPresent(Int.self, forKey: .delivered) ?? 0
        failed = try c.decodeIfPresent(Int.self, forKey: .failed) ?? 0
        rejectedDeliveries = try c.decodeIfPresent(Int.self, forKey: .rejectedDeliveries) ?? 0
        held = try c.decodeIfPresent(Int.self, forKey: .held) ?? 0
        superseded = try c.decodeIfPresent(Int.self, forKey: .superseded) ?? 0
        rejectedRecords = try c.decodeIfPresent(Int.self, forKey: .rejectedRecords) ?? 0
        rejectedByReason = try c.decodeIfPresent([String: Int].self, forKey: .rejectedByReason) ?? [:]
        replacedCharacters = try c.decodeIfPresent(Int.self, forKey: .replacedCharacters) ?? 0
        retries = try c.decodeIfPresent(Int.self, forKey: .retries) ?? 0
        recovered = try c.decodeIfPresent(Int.self, forKey: .recovered) ?? 0
        bytes = try c.decodeIfPresent(Int.self, forKey: .bytes) ?? 0
        gzip = try c.decodeIfPresent(Bool.self, forKey: .gzip) ?? false
        finishedAt = try c.decodeIfPresent(String.self, forKey: .finishedAt)
        fields = try c.decodeIfPresent([FieldCount].self, forKey: .fields) ?? []
        allowedNotSent = try c.decodeIfPresent([Allowed].self, forKey: .allowedNotSent) ?? []
        actions = try c.decodeIfPresent([Action].self, forKey: .actions) ?? []
        completedBy = try c.decodeIfPresent([String].self, forKey: .completedBy) ?? []
        notes = try c.decodeIfPresent([String].self, forKey: .notes) ?? []
        alerts = try c.decodeIfPresent([ExportError].self, forKey: .alerts) ?? []
        mode = try c.decodeIfPresent(FeedMode.self, forKey: .mode)
        changes = try c.decodeIfPresent(Changes.self, forKey: .changes)
    }
}

extension PartnerResult.Feed: Codable {
    enum CodingKeys: String, CodingKey {
        case id, complete, owed, reason
        case isNew = "new"
        case startedBy = "started_by"
    }
}

extension PartnerResult.Action: Codable {
    enum CodingKeys: String, CodingKey {
        case delivery, batch, by, status
        case kind = "action"
    }
}

extension PartnerResult.FieldCount: Codable {
    enum CodingKeys: String, CodingKey {
        case name, from, form, values
        case allowedForms = "allowed_forms"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        shape = FieldShape(name: try c.decode(String.self, forKey: .name), from: try c.decode(String.self, forKey: .from),
                           form: try c.decode(String.self, forKey: .form))
        values = try c.decode(Int.self, forKey: .values)
        allowedForms = try c.decodeIfPresent([String].self, forKey: .allowedForms)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(shape.name, forKey: .name)
        try c.encode(shape.from, forKey: .from)
        try c.encode(shape.form, forKey: .form)
        try c.encode(values, forKey: .values)
        try c.encodeIfPresent(allowedForms, forKey: .allowedForms)
    }
}

extension PartnerResult.Allowed: Codable {
    enum CodingKeys: String, CodingKey {
        case field
        case forms = "allowed_forms"
    }
}

extension PartnerResult.Changes: Codable {
    enum CodingKeys: String, CodingKey {
        case new, changed, unchanged, unnamed
        case noticesDue = "notices_due"
        case noticesSent = "notices_sent"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        new = try c.decode(Int.self, forKey: .new)
        changed = try c.decode(Int.self, forKey: .changed)
        unchanged = try c.decode(Int.self, forKey: .unchanged)
        noticesSent = try c.decode(Int.self, forKey: .noticesSent)
        unnamed = try c.decodeIfPresent(Int.self, forKey: .unnamed) ?? 0
        for (reason, count) in try c.decode([String: Int].self, forKey: .noticesDue) {
            guard let known = DeletionReason(rawValue: reason) else {
                throw DecodingError.dataCorruptedError(forKey: .noticesDue, in: c,
                                                       debugDescription: "a deletion reason this version does not know: \(reason)")
            }
            noticesDue[known] = count
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(new, forKey: .new)
        try c.encode(changed, forKey: .changed)
        try c.encode(unchanged, forKey: .unchanged)
        try c.encode(Dictionary(uniqueKeysWithValues: noticesDue.map { ($0.key.rawValue, $0.value) }), forKey: .noticesDue)
        try c.encode(noticesSent, forKey: .noticesSent)
        try c.encode(unnamed, forKey: .unnamed)
    }
}
