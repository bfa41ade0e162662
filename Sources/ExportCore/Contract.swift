/// A partner's contract (`partners/<id>.yaml`): the legal limit of what the partner may receive.
///
/// Values of this type only exist after validation (see `ExportConfig`): every field it allows is a
/// column of `customers` that may be exported, in forms that apply to the field's type.
public struct Contract: Sendable {
    public let id: String
    public let name: String
    public let purpose: String
    /// Consent scopes that must all be in force for a customer to be selected.
    public let consent: [String]
    /// Field → the forms the contract permits, in the order the contract lists them.
    public let allow: [AllowedField]
    /// Extra selection filters: customers outside them are not selected.
    public let filters: [Filter]
    public let format: FeedFormat
    /// Path of the XSD every XML feed is validated against, relative to the config folder.
    public let xsd: String?
    public let delivery: DeliverySettings
    /// 5-field cron expression (UTC) used by `run --due`.
    public let schedule: String?
    /// Whether every run sends every eligible record, or only what changed.
    public let mode: FeedMode
    /// A run that would send deletion notices for more than this share (percent) of the customers the
    /// partner holds is held for that partner (`run --allow-deletions` sends them).
    public let maxDeletionsPercent: Double
    /// How the customer's report names fields (field → words), over the standard ones (``PlainWords``).
    public let wording: [String: String]
    /// `data_use`, `legal_basis`, `recipient`, `retention_days` (docs/privacy.md).
    public let terms: ProcessingTerms

    public init(
        id: String, name: String, purpose: String, consent: [String], allow: [AllowedField],
        filters: [Filter], format: FeedFormat, xsd: String?, delivery: DeliverySettings, schedule: String?,
        mode: FeedMode = .snapshot, maxDeletionsPercent: Double = 10, wording: [String: String] = [:], terms: ProcessingTerms = .none
    ) {
        self.terms = terms
        self.wording = wording
        self.mode = mode
        self.maxDeletionsPercent = maxDeletionsPercent
        self.id = id
        self.name = name
        self.purpose = purpose
        self.consent = consent
        self.allow = allow
        self.filters = filters
        self.format = format
        self.xsd = xsd
        self.delivery = delivery
        self.schedule = schedule
    }

    /// The forms the contract permits for `field`, or nil when the field is not allowed at all.
    public func allowedForms(for field: String) -> [Form]? {
        allow.first { $0.field == field }?.forms
    }
}

/// One entry of a contract's `allow`.
public struct AllowedField: Sendable, Hashable {
    public let field: String
    public let forms: [Form]

    public init(field: String, forms: [Form]) {
        self.field = field
        self.forms = forms
    }
}

/// One selection filter: the customer's `column` must hold one of `values`.
public struct Filter: Sendable, Hashable {
    public let column: String
    public let values: [String]

    public init(column: String, values: [String]) {
        self.column = column
        self.values = values
    }
}

/// The feed format of a partner.
public enum FeedFormat: String, Sendable, Hashable {
    case json
    case xml

    public var contentType: String {
        switch self {
        case .json: "application/json"
        case .xml: "application/xml"
        }
    }

    public var fileExtension: String { rawValue }
}

/// What a partner's run sends (docs/design.md, "Change feeds and deletion notices").
public enum FeedMode: String, Sendable, Hashable, Codable {
    /// Every eligible record, every run (plus the deletion notices due).
    case snapshot
    /// Only records that are new or whose bytes changed since the version the partner acknowledged
    /// (plus the deletion notices due).
    case changes
}

/// Why a partner must forget a customer it received.
public enum DeletionReason: String, Sendable, Hashable, CaseIterable, Codable {
    /// A consent scope the contract needs is withdrawn (or its row is gone).
    case consentWithdrawn = "consent_withdrawn"
    /// The customer's row is no longer in the source.
    case erased
    /// Anything else: a filter, the account status, a narrowed contract.
    case noLongerShared = "no_longer_shared"

    /// Its number in the ledger's compact encoding.
    public var code: UInt8 {
        switch self {
        case .consentWithdrawn: 0
        case .erased: 1
        case .noLongerShared: 2
        }
    }

    public init?(code: UInt8) {
        switch code {
        case 0: self = .consentWithdrawn
        case 1: self = .erased
        case 2: self = .noLongerShared
        default: return nil
        }
    }
}

/// One deletion notice: the customer, the key value the partner knows them by, and why.
public struct DeletionNotice: Sendable, Hashable {
    public let customerID: Int64
    /// The key field's value as it was sent (UTF-8).
    public let key: [UInt8]
    public let reason: DeletionReason

    public init(customerID: Int64, key: [UInt8], reason: DeletionReason) {
        self.customerID = customerID
        self.key = key
        self.reason = reason
    }
}
