/// Why a customer is not selected for a partner. Checked in this order, and a customer is counted
/// under the first reason that applies: each consent scope in the contract's order (no row, then
/// withdrawn), then each filter in the contract's order.
public enum ExclusionReason: Sendable, Hashable, Comparable {
    /// No consent row for the scope: the customer never opted in.
    case noConsent(scope: String)
    /// A consent row exists but `withdrawn_at` is set (any value, even an empty one: fail closed).
    case consentWithdrawn(scope: String)
    /// The customer's value of `column` is not one the contract's filter permits (NULL never is).
    case filter(column: String)

    /// A stable key for reports: `no_consent:<scope>`, `consent_withdrawn:<scope>`, `filter:<column>`.
    public var key: String {
        switch self {
        case .noConsent(let scope): "no_consent:\(scope)"
        case .consentWithdrawn(let scope): "consent_withdrawn:\(scope)"
        case .filter(let column): "filter:\(column)"
        }
    }

    /// Every reason a contract can exclude for, in the order they are checked.
    public static func reasons(for contract: Contract) -> [ExclusionReason] {
        contract.consent.flatMap { [.noConsent(scope: $0), .consentWithdrawn(scope: $0)] }
            + contract.filters.map { .filter(column: $0.column) }
    }
}

/// How a partner's contract splits the customer base.
public struct EligibilityCounts: Sendable, Equatable {
    public let customers: Int
    public let eligible: Int
    /// Excluded customers by first reason, in checking order; reasons that excluded nobody are listed with 0.
    public let excluded: [(reason: ExclusionReason, count: Int)]

    public init(customers: Int, eligible: Int, excluded: [(reason: ExclusionReason, count: Int)]) {
        self.customers = customers
        self.eligible = eligible
        self.excluded = excluded
    }

    public var excludedTotal: Int { excluded.reduce(0) { $0 + $1.count } }

    public static func == (lhs: EligibilityCounts, rhs: EligibilityCounts) -> Bool {
        lhs.customers == rhs.customers && lhs.eligible == rhs.eligible
            && lhs.excluded.map(\.reason) == rhs.excluded.map(\.reason) && lhs.excluded.map(\.count) == rhs.excluded.map(\.count)
    }
}
