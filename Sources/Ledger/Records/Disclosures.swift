import ExportCore

/// One disclosure of one customer: who received what, when, why and under which consent.
public struct DisclosureRecord: Sendable, Equatable {
    public let partner: String
    public let deliveryID: String
    public let fields: [String]
    public let purpose: String
    /// When the partner acknowledged the delivery.
    public let disclosedAt: String
    public let consentScope: String
    public let consentGrantedAt: String
    /// False for rows an earlier version wrote for a delivery that may have been received and was
    /// superseded unacknowledged; this version resends such deliveries instead.
    public let confirmed: Bool
    /// A disclosure of data, or a deletion notice the partner acknowledged.
    public let kind: DisclosureKind
    /// Why the partner was told to forget the customer (deletions).
    public let reason: DeletionReason?
    /// Its place in the tamper-evident log (docs/audit.md).
    public var logIndex: Int64?
    /// What the delivery carried, field by field (name, source column, form); empty for deliveries
    /// of a version that did not record it.
    public var shape: [FieldShape] = []

    public init(partner: String, deliveryID: String, fields: [String], purpose: String, disclosedAt: String, consentScope: String,
                consentGrantedAt: String, confirmed: Bool, kind: DisclosureKind = .disclosure, reason: DeletionReason? = nil) {
        self.kind = kind
        self.reason = reason
        self.partner = partner
        self.deliveryID = deliveryID
        self.fields = fields
        self.purpose = purpose
        self.disclosedAt = disclosedAt
        self.consentScope = consentScope
        self.consentGrantedAt = consentGrantedAt
        self.confirmed = confirmed
    }
}

/// What a row of the disclosure log records.
public enum DisclosureKind: String, Sendable, Codable, CaseIterable {
    /// Data sent and acknowledged.
    case disclosure
    /// A deletion notice sent and acknowledged: the partner was told to forget the customer.
    case deletion
}
