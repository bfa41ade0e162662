import ExportCore

/// `preview PARTNER --json`: what a partner would get. Customer values appear only in `samples`,
/// masked unless the operator asked for `--reveal`.
public struct PreviewDocument: Codable, Equatable, Sendable {
    public var partner: String
    public var name: String
    public var purpose: String
    public var format: String
    public var consent: [String]
    public var customers: Int
    public var eligible: Int
    public var rendered: Int
    /// Every rejected record, by customer id and reason (at most 100,000 listed; all counted).
    public var rejected: [Rejection]
    public var rejectedCount: Int
    /// Excluded customers by first reason (`no_consent:<scope>`, `consent_withdrawn:<scope>`, `filter:<column>`).
    public var excluded: [String: Int]
    public var fields: [Field]
    public var allowedNotSent: [AllowedReport]
    public var replacedCharacters: Int
    public var samplesMasked: Bool
    /// Output name → value (masked: `*** (N chars)`, `****`, `[N items]`).
    public var samples: [[String: SampleValueJSON]]
    public var out: Output?
    /// `snapshot` or `changes`, and the output name of the key field.
    public var mode: String = "snapshot"
    public var key: String?
    /// Records against what the partner holds (every record is new without a ledger) and the
    /// deletion notices due, by reason.
    public var new = 0
    public var changed = 0
    public var unchanged = 0
    public var noticesDue: [String: Int] = [:]

    public struct Rejection: Codable, Equatable, Sendable {
        public var customerID: Int64
        public var reason: String
        public var code: String

        public init(customerID: Int64, reason: String, code: String) {
            self.customerID = customerID
            self.reason = reason
            self.code = code
        }

        enum CodingKeys: String, CodingKey {
            case reason, code
            case customerID = "customer_id"
        }
    }

    public struct Field: Codable, Equatable, Sendable {
        public var name: String
        public var from: String
        public var form: String
        public var allowedForms: [String]
        public var required: Bool

        public init(name: String, from: String, form: String, allowedForms: [String], required: Bool) {
            self.name = name
            self.from = from
            self.form = form
            self.allowedForms = allowedForms
            self.required = required
        }

        enum CodingKeys: String, CodingKey {
            case name, from, form, required
            case allowedForms = "allowed_forms"
        }
    }

    public struct Output: Codable, Equatable, Sendable {
        public var path: String
        public var records: Int
        public var bytes: Int

        public init(path: String, records: Int, bytes: Int) {
            self.path = path
            self.records = records
            self.bytes = bytes
        }
    }

    public init(partner: String, name: String, purpose: String, format: String, consent: [String], customers: Int, eligible: Int,
                rendered: Int, rejected: [Rejection], rejectedCount: Int, excluded: [String: Int], fields: [Field],
                allowedNotSent: [AllowedReport], replacedCharacters: Int, samplesMasked: Bool,
                samples: [[String: SampleValueJSON]], out: Output?) {
        self.partner = partner
        self.name = name
        self.purpose = purpose
        self.format = format
        self.consent = consent
        self.customers = customers
        self.eligible = eligible
        self.rendered = rendered
        self.rejected = rejected
        self.rejectedCount = rejectedCount
        self.excluded = excluded
        self.fields = fields
        self.allowedNotSent = allowedNotSent
        self.replacedCharacters = replacedCharacters
        self.samplesMasked = samplesMasked
        self.samples = samples
        self.out = out
    }

    enum CodingKeys: String, CodingKey {
        case partner, name, purpose, format, consent, customers, eligible, rendered, rejected, excluded, fields, samples, out,
             mode, key, new, changed, unchanged
        case noticesDue = "notices_due"
        case rejectedCount = "rejected_count"
        case allowedNotSent = "allowed_not_sent"
        case replacedCharacters = "replaced_characters"
        case samplesMasked = "samples_masked"
    }
}

/// A sample value in `preview --json`: null, text, a number or a list of texts.
public enum SampleValueJSON: Codable, Equatable, Sendable {
    case null
    case text(String)
    case number(Int)
    case list([String])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let number = try? c.decode(Int.self) {
            self = .number(number)
        } else if let text = try? c.decode(String.self) {
            self = .text(text)
        } else {
            self = .list(try c.decode([String].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .text(let text): try c.encode(text)
        case .number(let number): try c.encode(number)
        case .list(let items): try c.encode(items)
        }
    }
}

/// `run --dry-run --json`: what each partner's feeds would be; nothing sent, nothing recorded.
public struct DryRunDocument: Codable, Equatable, Sendable {
    public var run: String
    public var dryRun: Bool
    public var folder: String
    public var partners: [Partner]

    public struct Partner: Codable, Equatable, Sendable {
        public var partner: String
        /// rendered | failed
        public var status: String
        public var deliveries: Int
        public var records: Int
        public var eligible: Int
        public var rejectedRecords: Int
        public var bytes: Int
        public var folder: String
        public var error: ErrorReport?
        /// Deletion notices the feeds carry, and by reason.
        public var notices = 0
        public var noticesByReason: [String: Int] = [:]
        /// The first rejected records, by customer id and reason (not part of the JSON: `preview --json` lists them all).
        public var firstRejections: [(customerID: Int64, reason: String)] = []

        public static func == (a: Partner, b: Partner) -> Bool {
            a.partner == b.partner && a.status == b.status && a.deliveries == b.deliveries && a.records == b.records
                && a.eligible == b.eligible && a.rejectedRecords == b.rejectedRecords && a.bytes == b.bytes && a.folder == b.folder
                && a.error == b.error && a.notices == b.notices && a.noticesByReason == b.noticesByReason
        }

        public init<R: Sequence>(partner: String, status: String, deliveries: Int, records: Int, eligible: Int, rejectedRecords: Int,
                                 bytes: Int, folder: String, error: ErrorReport?, rejected: R)
            where R.Element == ExportCore.RejectedRecord {
            self.init(partner: partner, status: status, deliveries: deliveries, records: records, eligible: eligible,
                      rejectedRecords: rejectedRecords, bytes: bytes, folder: folder, error: error)
            firstRejections = rejected.prefix(5).map { ($0.customerID, $0.reason.description) }
        }

        public init(partner: String, status: String, deliveries: Int, records: Int, eligible: Int, rejectedRecords: Int, bytes: Int,
                    folder: String, error: ErrorReport?) {
            self.partner = partner
            self.status = status
            self.deliveries = deliveries
            self.records = records
            self.eligible = eligible
            self.rejectedRecords = rejectedRecords
            self.bytes = bytes
            self.folder = folder
            self.error = error
        }

        enum CodingKeys: String, CodingKey {
            case partner, status, deliveries, records, eligible, bytes, folder, error, notices
            case rejectedRecords = "rejected_records"
            case rejected
            case noticesByReason = "notices_by_reason"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            partner = try c.decode(String.self, forKey: .partner)
            status = try c.decode(String.self, forKey: .status)
            deliveries = try c.decode(Int.self, forKey: .deliveries)
            records = try c.decode(Int.self, forKey: .records)
            eligible = try c.decode(Int.self, forKey: .eligible)
            rejectedRecords = try c.decode(Int.self, forKey: .rejectedRecords)
            bytes = try c.decode(Int.self, forKey: .bytes)
            folder = try c.decode(String.self, forKey: .folder)
            error = try c.decodeIfPresent(ErrorReport.self, forKey: .error)
            notices = try c.decodeIfPresent(Int.self, forKey: .notices) ?? 0
            noticesByReason = try c.decodeIfPresent([String: Int].self, forKey: .noticesByReason) ?? [:]
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(partner, forKey: .partner)
            try c.encode(status, forKey: .status)
            try c.encode(deliveries, forKey: .deliveries)
            try c.encode(records, forKey: .records)
            try c.encode(eligible, forKey: .eligible)
            try c.encode(rejectedRecords, forKey: .rejectedRecords)
            try c.encode(rejectedRecords, forKey: .rejected)
            try c.encode(bytes, forKey: .bytes)
            try c.encode(folder, forKey: .folder)
            try c.encode(error, forKey: .error)
            try c.encode(notices, forKey: .notices)
            try c.encode(noticesByReason, forKey: .noticesByReason)
        }
    }

    public init(run: String, folder: String, partners: [Partner]) {
        self.run = run
        dryRun = true
        self.folder = folder
        self.partners = partners
    }

    enum CodingKeys: String, CodingKey {
        case run, folder, partners
        case dryRun = "dry_run"
    }
}
