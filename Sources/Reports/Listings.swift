import ExportCore

/// `deliveries --json`: one object per delivery (an array; every row unless `--limit` was given).
public struct DeliveryEntry: Codable, Equatable, Sendable {
    public var id: String
    public var run: String
    public var feed: String
    public var partner: String
    public var batch: Int
    public var status: String
    public var attempts: Int
    public var recordCount: Int
    public var bytes: Int
    public var sha256: String
    public var lastHTTPStatus: Int?
    public var lastError: String?
    public var lastErrorCode: String?
    public var createdAt: String
    public var deliveredAt: String?
    public var supersededBy: String?
    public var supersedes: String?
    public var inDoubt: Bool
    /// Only with `--show-answers`: the first bytes of the partner's last answer (may quote customer data).
    public var answerPrefix: String?

    public init(id: String, run: String, feed: String, partner: String, batch: Int, status: String, attempts: Int, recordCount: Int,
                bytes: Int, sha256: String, lastHTTPStatus: Int?, lastError: String?, lastErrorCode: String?, createdAt: String,
                deliveredAt: String?, supersededBy: String?, supersedes: String?, inDoubt: Bool, answerPrefix: String?) {
        self.id = id
        self.run = run
        self.feed = feed
        self.partner = partner
        self.batch = batch
        self.status = status
        self.attempts = attempts
        self.recordCount = recordCount
        self.bytes = bytes
        self.sha256 = sha256
        self.lastHTTPStatus = lastHTTPStatus
        self.lastError = lastError
        self.lastErrorCode = lastErrorCode
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
        self.supersededBy = supersededBy
        self.supersedes = supersedes
        self.inDoubt = inDoubt
        self.answerPrefix = answerPrefix
    }

    enum CodingKeys: String, CodingKey {
        case id, run, feed, partner, batch, status, attempts, bytes, sha256, supersedes
        case recordCount = "record_count"
        case lastHTTPStatus = "last_http_status"
        case lastError = "last_error"
        case lastErrorCode = "last_error_code"
        case createdAt = "created_at"
        case deliveredAt = "delivered_at"
        case supersededBy = "superseded_by"
        case inDoubt = "in_doubt"
        case answerPrefix = "answer_prefix"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(run, forKey: .run)
        try c.encode(feed, forKey: .feed)
        try c.encode(partner, forKey: .partner)
        try c.encode(batch, forKey: .batch)
        try c.encode(status, forKey: .status)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(recordCount, forKey: .recordCount)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(lastHTTPStatus, forKey: .lastHTTPStatus)
        try c.encode(lastError, forKey: .lastError)
        try c.encode(lastErrorCode, forKey: .lastErrorCode)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(deliveredAt, forKey: .deliveredAt)
        try c.encode(supersededBy, forKey: .supersededBy)
        try c.encode(supersedes, forKey: .supersedes)
        try c.encode(inDoubt, forKey: .inDoubt)
        try c.encodeWhenAsked(answerPrefix, forKey: .answerPrefix)
    }
}

/// `disclosures ID --json`: one object per disclosure-log entry of the customer.
public struct DisclosureEntry: Codable, Equatable, Sendable {
    /// `disclosure` (data sent) or `deletion` (a deletion notice).
    public var kind: String
    public var partner: String
    public var delivery: String
    public var fields: [String]
    public var disclosedAt: String
    /// The consent the data left under (null for deletion notices).
    public var consentScope: String?
    public var consentGrantedAt: String?
    public var purpose: String
    /// Set for deletion notices: `consent_withdrawn`, `erased` or `no_longer_shared`.
    public var reason: String?
    public var confirmed: Bool
    /// The entry's place in the tamper-evident disclosure log.
    public var logIndex: Int64?
    /// Recorded before this customer's record was created: it concerns an earlier customer who had
    /// the same id (false when the customer database was not at hand to tell).
    public var earlierHolder = false
    /// With `--proof`: the receipt (docs/audit.md) — the exact leaf bytes (base64), the tree of the
    /// newest checkpoint (size, root in base64), the inclusion proof (RFC 9162 order) and the signed
    /// checkpoint. Absent for an entry recorded after the newest checkpoint.
    public var leafIndex: UInt64?
    public var leaf: String?
    public var treeSize: UInt64?
    public var rootHash: String?
    public var inclusionProof: [String]?
    public var checkpoint: String?

    public init(kind: String, partner: String, delivery: String, fields: [String], disclosedAt: String, consentScope: String?,
                consentGrantedAt: String?, purpose: String, reason: String?, confirmed: Bool, logIndex: Int64?) {
        self.kind = kind
        self.partner = partner
        self.delivery = delivery
        self.fields = fields
        self.disclosedAt = disclosedAt
        self.consentScope = consentScope
        self.consentGrantedAt = consentGrantedAt
        self.purpose = purpose
        self.reason = reason
        self.confirmed = confirmed
        self.logIndex = logIndex
    }

    enum CodingKeys: String, CodingKey {
        case kind, partner, delivery, fields, purpose, reason, confirmed, leaf, checkpoint
        case logIndex = "log_index"
        case earlierHolder = "earlier_holder"
        case leafIndex = "leaf_index"
        case treeSize = "tree_size"
        case rootHash = "root_hash"
        case inclusionProof = "inclusion_proof"
        case disclosedAt = "disclosed_at"
        case consentScope = "consent_scope"
        case consentGrantedAt = "consent_granted_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(partner, forKey: .partner)
        try c.encode(delivery, forKey: .delivery)
        try c.encode(fields, forKey: .fields)
        try c.encode(disclosedAt, forKey: .disclosedAt)
        try c.encode(consentScope, forKey: .consentScope)
        try c.encode(consentGrantedAt, forKey: .consentGrantedAt)
        try c.encode(purpose, forKey: .purpose)
        try c.encode(reason, forKey: .reason)
        try c.encode(confirmed, forKey: .confirmed)
        try c.encode(logIndex, forKey: .logIndex)
        try c.encode(earlierHolder, forKey: .earlierHolder)
        try c.encodeWhenAsked(leafIndex, forKey: .leafIndex)
        try c.encodeWhenAsked(leaf, forKey: .leaf)
        try c.encodeWhenAsked(treeSize, forKey: .treeSize)
        try c.encodeWhenAsked(rootHash, forKey: .rootHash)
        try c.encodeWhenAsked(inclusionProof, forKey: .inclusionProof)
        try c.encodeWhenAsked(checkpoint, forKey: .checkpoint)
    }
}

/// `runs --json`: one object per run.
public struct RunEntry: Codable, Equatable, Sendable {
    public var run: String
    public var trigger: String
    public var status: String
    public var startedAt: String
    public var finishedAt: String?
    /// The partners asked for.
    public var partners: [String]
    /// How each partner's part ended, and whether its feed was complete then.
    public var results: [PartnerResult]

    public struct PartnerResult: Codable, Equatable, Sendable {
        public var partner: String
        public var status: String
        public var feedComplete: Bool

        public init(partner: String, status: String, feedComplete: Bool) {
            self.partner = partner
            self.status = status
            self.feedComplete = feedComplete
        }

        enum CodingKeys: String, CodingKey {
            case partner, status
            case feedComplete = "feed_complete"
        }
    }

    public init(run: String, trigger: String, status: String, startedAt: String, finishedAt: String?, partners: [String],
                results: [PartnerResult]) {
        self.run = run
        self.trigger = trigger
        self.status = status
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.partners = partners
        self.results = results
    }

    enum CodingKeys: String, CodingKey {
        case run, trigger, status, partners, results
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}
