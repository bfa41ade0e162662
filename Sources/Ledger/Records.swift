/// The state of a delivery (DESIGN §5): `pending → delivered | failed | rejected | superseded`.
public enum DeliveryStatus: String, Sendable, CaseIterable {
    case pending
    case delivered
    /// Retries exhausted, or a set-up problem: an operator can rerun it.
    case failed
    /// The partner's permanent answer.
    case rejected
    /// Replaced by a newer delivery (or nothing left to send) before it was delivered.
    case superseded
}

/// One delivery as the ledger holds it.
public struct DeliveryRecord: Sendable {
    public let seq: Int64
    public let id: String
    public let runID: String
    public let partner: String
    public let batch: Int
    public let recordCount: Int
    public let bytes: Int
    public let sha256: String
    /// Where the records sit in the payload, without the envelope.
    public let recordsRange: Range<Int>
    /// Relative to the state folder.
    public let payloadPath: String
    public let contentType: String
    public let gzip: Bool
    public let status: DeliveryStatus
    public let attempts: Int
    /// A request left and no answer came back at least once.
    public let inDoubt: Bool
    public let lastHTTPStatus: Int?
    public let lastError: String?
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
}

/// One field of a feed as recorded with a delivery: the minimisation proof.
public struct FieldShape: Sendable, Equatable, Codable {
    public let name: String
    public let from: String
    public let form: String

    public init(name: String, from: String, form: String) {
        self.name = name
        self.from = from
        self.form = form
    }
}

/// A delivery about to be recorded as pending.
public struct NewDelivery: Sendable {
    public var id: String
    public var runID: String
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
    public var supersedes: String?
    public var shape: [FieldShape]
    public var fieldCounts: [Int]

    public init(id: String, runID: String, partner: String, batch: Int, bytes: Int, sha256: String, recordsRange: Range<Int>,
                payloadPath: String, contentType: String, gzip: Bool, createdAt: String, fields: [String], purpose: String,
                consentScopes: [String], manifest: [UInt8], recordCount: Int, supersedes: String? = nil, shape: [FieldShape] = [],
                fieldCounts: [Int] = []) {
        self.recordCount = recordCount
        self.shape = shape
        self.fieldCounts = fieldCounts
        self.id = id
        self.runID = runID
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
        self.supersedes = supersedes
    }
}

/// How one attempt ended, as recorded.
public struct AttemptResult: Sendable {
    public var httpStatus: Int?
    public var curlCode: Int32
    public var error: String?
    public var durationMilliseconds: Int
    /// delivered | retry | rejected | failed
    public var outcome: String
    public var answerPrefix: [UInt8]
    /// The request left and no answer came back.
    public var inDoubt: Bool

    public init(httpStatus: Int?, curlCode: Int32, error: String?, durationMilliseconds: Int, outcome: String,
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

/// One disclosure of one customer: who received what, when, why and under which consent.
public struct DisclosureRecord: Sendable {
    public let partner: String
    public let deliveryID: String
    public let fields: [String]
    public let purpose: String
    /// When the partner acknowledged the delivery (for unconfirmed ones: when it was superseded).
    public let disclosedAt: String
    public let consentScope: String
    public let consentGrantedAt: String
    /// False when the partner may have received it but never acknowledged it.
    public let confirmed: Bool
}

/// One run, as listed.
public struct RunRecord: Sendable {
    public let id: String
    public let startedAt: String
    public let finishedAt: String?
    public let trigger: String
    public let status: String
    public let partners: [String]
}

/// One partner's part of a run.
public struct RunPartnerRecord: Sendable {
    public var partner: String
    public var status: String
    public var eligible: Int
    public var records: Int
    public var rejected: Int
    public var deliveries: Int
    public var bytes: Int
    public var startedAt: String
    public var finishedAt: String?
    public var error: String?
    /// JSON.
    public var report: String?

    public init(partner: String, status: String, eligible: Int = 0, records: Int = 0, rejected: Int = 0, deliveries: Int = 0,
                bytes: Int = 0, startedAt: String, finishedAt: String? = nil, error: String? = nil, report: String? = nil) {
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
        self.report = report
    }
}

/// A delivery as one run saw it.
public struct RunDelivery: Sendable {
    public let delivery: DeliveryRecord
    /// Attempts this run made.
    public let attempts: Int
    public let retries: Int
    /// The partner acknowledged it in this run.
    public let deliveredInRun: Bool
}

/// A partner's totals across the ledger, for the metrics file.
public struct PartnerTotals: Sendable {
    public var recordsSent = 0
    public var bytesSent = 0
    public var deliveriesFailed = 0
    public var deliveriesRejected = 0
    public var retries = 0
    public var openFailures = 0
    public var lastRunStartedAt: String?
    public var lastRunFinishedAt: String?
    public var lastRunSucceeded = false
    public var lastRunRecords = 0
    public var lastSuccessAt: String?

    public init() {}
}
