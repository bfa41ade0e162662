/// Why one record could not be rendered. The record is left out on its own; the rest of the feed goes out.
///
/// Reasons name fields and limits, never values.
public enum RejectionReason: Sendable, Hashable {
    /// A list column (`services`) that is not a JSON array of strings.
    case malformedList(field: String)
    /// A NULL in a field the mapping marks `required`.
    case requiredValueMissing(field: String)
    /// A `year` form on a value that is not an RFC 3339 timestamp.
    case invalidTimestamp(field: String)
    /// A record larger than the partner's `max_bytes` on its own.
    case tooLarge(bytes: Int, limit: Int)
    /// The rendered record does not conform to the partner's XSD.
    case schemaViolation(String)

    /// A stable code for scripts and for counting by reason.
    public var code: String {
        switch self {
        case .malformedList: "malformed_list"
        case .requiredValueMissing: "required_value_missing"
        case .invalidTimestamp: "invalid_timestamp"
        case .tooLarge: "too_large"
        case .schemaViolation: "schema_violation"
        }
    }
}

extension RejectionReason: CustomStringConvertible {
    public var description: String {
        switch self {
        case .malformedList(let field): "\(field) is not a JSON array of strings"
        case .requiredValueMissing(let field): "\(field) is NULL but the mapping marks it required"
        case .invalidTimestamp(let field): "\(field) is not an RFC 3339 timestamp, so it has no year"
        case .tooLarge(let bytes, let limit): "the record alone is \(bytes) bytes, over the batch limit max_bytes \(limit)"
        case .schemaViolation(let detail): "does not conform to the partner's XSD: \(detail)"
        }
    }
}

/// A record left out of a feed, by customer id and reason.
public struct RejectedRecord: Sendable, Hashable {
    public let customerID: Int64
    public let reason: RejectionReason

    public init(customerID: Int64, reason: RejectionReason) {
        self.customerID = customerID
        self.reason = reason
    }
}
