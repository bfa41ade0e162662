/// One delivery as the ledger holds it: one batch of a partner's feed, sent under its own id.
public struct DeliveryRecord: Sendable, Equatable {
    public let seq: Int64
    public let id: String
    public let runID: String
    /// The feed it is a batch of (see ``FeedRecord``).
    public let feed: String
    public let partner: String
    public let batch: Int
    public let recordCount: Int
    /// Deletion notices it carries (after its records).
    public let noticeCount: Int
    /// The last customer id it holds (a record or a notice): its batch covers ids after the previous
    /// batch's last, up to this.
    public let lastCustomer: Int64?
    public let bytes: Int
    /// Of the feed as rendered (what the signature covers; a gzip body is made from these verified bytes).
    public let sha256: String
    /// Where the records sit in the payload, without the envelope.
    public let recordsRange: Range<Int>
    /// Relative to the state folder.
    public let payloadPath: String
    public let contentType: String
    public let gzip: Bool
    public let status: DeliveryStatus
    public let attempts: Int
    /// A request of it may have been read and no definite answer came back.
    public let inDoubt: Bool
    public let lastHTTPStatus: Int?
    public let lastError: String?
    /// The ``ExportCore/ExportError`` code of the last failure.
    public let lastErrorCode: String?
    public let answerPrefix: [UInt8]
    public let createdAt: String
    public let deliveredAt: String?
    public let supersededBy: String?
    public let supersedes: String?
    public let fields: [String]
    public let purpose: String
    public let consentScopes: [String]
    /// What the feed carries: output name, source field and form, per field.
    public let shape: [FieldShape]
    /// Non-null values per field, in field order.
    public let fieldCounts: [Int]
    public let payloadPrunedAt: String?

    public init(seq: Int64, id: String, runID: String, feed: String, partner: String, batch: Int, recordCount: Int,
                noticeCount: Int = 0, lastCustomer: Int64?, bytes: Int, sha256: String, recordsRange: Range<Int>, payloadPath: String,
                contentType: String, gzip: Bool, status: DeliveryStatus, attempts: Int, inDoubt: Bool, lastHTTPStatus: Int?,
                lastError: String?, lastErrorCode: String?, answerPrefix: [UInt8], createdAt: String, deliveredAt: String?,
                supersededBy: String?, supersedes: String?, fields: [String], purpose: String, consentScopes: [String],
                shape: [FieldShape], fieldCounts: [Int], payloadPrunedAt: String?) {
        self.seq = seq
        self.id = id
        self.runID = runID
        self.feed = feed
        self.partner = partner
        self.batch = batch
        self.recordCount = recordCount
        self.noticeCount = noticeCount
        self.lastCustomer = lastCustomer
        self.bytes = bytes
        self.sha256 = sha256
        self.recordsRange = recordsRange
        self.payloadPath = payloadPath
        self.contentType = contentType
        self.gzip = gzip
        self.status = status
        self.attempts = attempts
        self.inDoubt = inDoubt
        self.lastHTTPStatus = lastHTTPStatus
        self.lastError = lastError
        self.lastErrorCode = lastErrorCode
        self.answerPrefix = answerPrefix
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
        self.supersededBy = supersededBy
        self.supersedes = supersedes
        self.fields = fields
        self.purpose = purpose
        self.consentScopes = consentScopes
        self.shape = shape
        self.fieldCounts = fieldCounts
        self.payloadPrunedAt = payloadPrunedAt
    }

    /// Whether the partner is still owed it (it did not succeed and nothing replaced it).
    public var isOwed: Bool { DeliveryStatus.owed.contains(status) }
}

/// One field of a feed as recorded with a delivery: the minimisation proof.
public struct FieldShape: Sendable, Hashable, Codable {
    public let name: String
    public let from: String
    public let form: String

    public init(name: String, from: String, form: String) {
        self.name = name
        self.from = from
        self.form = form
    }
}

/// What a delivery changes once acknowledged, as the builder recorded it: its encoded ``Manifest``
/// and ``ChangeSet``. Handed to ``DeliveryLog/finishAttempt(delivery:number:result:transition:at:contents:)``
/// by the thread that just recorded them, so that the delivered transaction does not read back
/// from the ledger the bytes it was given (a resend after a crash reads them from the ledger).
public struct DeliveryContents: Sendable {
    public let manifest: [UInt8]
    public let changes: [UInt8]

    public init(manifest: [UInt8], changes: [UInt8]) {
        self.manifest = manifest
        self.changes = changes
    }
}

/// A delivery about to be recorded as pending (its payload is already stored).
public struct NewDelivery: Sendable {
    public var id: String
    public var runID: String
    public var feed: String
    public var partner: String
    public var batch: Int
    public var bytes: Int
    public var sha256: String
    public var recordsRange: Range<Int>
    public var payloadPath: String
    public var contentType: String
    public var gzip: Bool
    public var createdAt: String
    public var fields: [String]
    public var purpose: String
    public var consentScopes: [String]
    /// The encoded ``Manifest`` and how many records it holds.
    public var manifest: [UInt8]
    public var recordCount: Int
    public var lastCustomer: Int64?
    public var shape: [FieldShape]
    public var fieldCounts: [Int]
    /// The encoded ``ChangeSet``: what it changes in what the partner holds once acknowledged.
    public var changes: [UInt8]
    public var noticeCount: Int
    /// The output name of the mapping's key field (what a deletion notice carries).
    public var keyField: String?

    public init(id: String, runID: String, feed: String, partner: String, batch: Int, bytes: Int, sha256: String,
                recordsRange: Range<Int>, payloadPath: String, contentType: String, gzip: Bool,
                createdAt: String, fields: [String], purpose: String, consentScopes: [String], manifest: [UInt8], recordCount: Int,
                lastCustomer: Int64?, shape: [FieldShape] = [], fieldCounts: [Int] = [], changes: [UInt8] = [],
                noticeCount: Int = 0, keyField: String? = nil) {
        self.keyField = keyField
        self.changes = changes
        self.noticeCount = noticeCount
        self.id = id
        self.runID = runID
        self.feed = feed
        self.partner = partner
        self.batch = batch
        self.bytes = bytes
        self.sha256 = sha256
        self.recordsRange = recordsRange
        self.payloadPath = payloadPath
        self.contentType = contentType
        self.gzip = gzip
        self.createdAt = createdAt
        self.fields = fields
        self.purpose = purpose
        self.consentScopes = consentScopes
        self.manifest = manifest
        self.recordCount = recordCount
        self.lastCustomer = lastCustomer
        self.shape = shape
        self.fieldCounts = fieldCounts
    }
}

/// How one attempt ended, as recorded.
public struct AttemptRecord: Sendable, Equatable {
    public var httpStatus: Int?
    public var curlCode: Int32
    public var error: String?
    public var durationMilliseconds: Int
    public var outcome: AttemptOutcome
    public var answerPrefix: [UInt8]
    /// The request may have been read and no answer came back.
    public var inDoubt: Bool

    public init(httpStatus: Int?, curlCode: Int32, error: String?, durationMilliseconds: Int, outcome: AttemptOutcome,
                answerPrefix: [UInt8], inDoubt: Bool) {
        self.httpStatus = httpStatus
        self.curlCode = curlCode
        self.error = error
        self.durationMilliseconds = durationMilliseconds
        self.outcome = outcome
        self.answerPrefix = answerPrefix
        self.inDoubt = inDoubt
    }
}

/// What an attempt did to its delivery, recorded in the same transaction as the attempt.
public enum DeliveryTransition: Sendable, Equatable {
    /// Another attempt follows.
    case stillPending
    /// A 2xx: delivered, its disclosures written, in one transaction.
    case delivered
    /// Ends `failed` (owed) for this run.
    case failed(code: String, message: String, inDoubt: Bool)
    /// Ends `rejected` (owed): the partner's permanent answer.
    case rejected(code: String, message: String)
}

/// Which deliveries to list.
public struct DeliveryQuery: Sendable, Equatable {
    public var statuses: [DeliveryStatus]?
    public var partner: String?
    public var run: String?
    public var feed: String?
    /// At most this many, newest first; nil for every row.
    public var limit: Int?

    public init(statuses: [DeliveryStatus]? = nil, partner: String? = nil, run: String? = nil, feed: String? = nil,
                limit: Int? = nil) {
        self.statuses = statuses
        self.partner = partner
        self.run = run
        self.feed = feed
        self.limit = limit
    }
}
