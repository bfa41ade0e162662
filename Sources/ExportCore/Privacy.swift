/// Privacy as code (docs/privacy.md): what each column *is* (catalog.yaml), what each contract uses it
/// *for* and on which legal basis (its `data_use`, `legal_basis`, `recipient`, `retention_days`), and
/// which combinations the company never allows (policy.yaml). Names are the fideslang taxonomy's.
extension Taxonomy {
    private static let categoryKeys = Set(dataCategories.map(\.key))
    private static let useKeys = Set(dataUses.map(\.key))

    public static func isCategory(_ key: String) -> Bool { categoryKeys.contains(key) }
    public static func isUse(_ key: String) -> Bool { useKeys.contains(key) }

    public static func categoryName(_ key: String) -> String? { dataCategories.first { $0.key == key }?.name }
    public static func useName(_ key: String) -> String? { dataUses.first { $0.key == key }?.name }

    /// Whether `name` is `prefix` or below it (`user.contact` covers `user.contact.email`), as Fides matches.
    public static func covers(_ prefix: String, _ name: String) -> Bool {
        name == prefix || name.hasPrefix(prefix + ".")
    }

    /// Categories GDPR Art. 9 (and Art. 10, criminal records) calls special: sent only on explicit consent.
    public static let specialCategories = ["user.biometric", "user.health_and_medical", "user.demographic.political_opinion",
                                           "user.demographic.race_ethnicity", "user.demographic.religious_belief",
                                           "user.demographic.sexual_orientation", "user.criminal_history",
                                           "user.authorization.biometric"]

    public static func isSpecial(_ category: String) -> Bool { specialCategories.contains { covers($0, category) } }
}

/// The lawful bases of GDPR Art. 6(1), and Art. 9(2)(a)'s explicit consent for special categories.
public enum LegalBasis: String, Sendable, CaseIterable, Codable {
    case consent
    case contract
    case legalObligation = "legal_obligation"
    case vitalInterests = "vital_interests"
    case publicTask = "public_task"
    case legitimateInterests = "legitimate_interests"
    case explicitConsent = "explicit_consent"

    /// The article, for the record of processing.
    public var article: String {
        switch self {
        case .consent: "Art. 6(1)(a)"
        case .contract: "Art. 6(1)(b)"
        case .legalObligation: "Art. 6(1)(c)"
        case .vitalInterests: "Art. 6(1)(d)"
        case .publicTask: "Art. 6(1)(e)"
        case .legitimateInterests: "Art. 6(1)(f)"
        case .explicitConsent: "Art. 6(1)(a) and 9(2)(a)"
        }
    }
}

/// catalog.yaml: the controller, and each column's data category.
public struct Catalog: Sendable {
    public struct Controller: Sendable, Equatable, Codable {
        public let name: String
        public let contact: String
        public let dpo: String?

        public init(name: String, contact: String, dpo: String?) {
            self.name = name
            self.contact = contact
            self.dpo = dpo
        }
    }

    public struct Entry: Sendable, Equatable {
        public let category: String
        /// Art. 9 data: marked in the catalog, or a special category of the taxonomy.
        public let special: Bool

        public init(category: String, special: Bool) {
            self.category = category
            self.special = special
        }
    }

    public let controller: Catalog.Controller
    /// Field (the name contracts use) → entry.
    public let columns: [String: Entry]

    public init(controller: Catalog.Controller, columns: [String: Entry]) {
        self.controller = controller
        self.columns = columns
    }

    public func entry(_ field: String) -> Entry? { columns[field] }
}

/// policy.yaml: rules that deny categories for uses, unless a legal basis.
public struct Policy: Sendable {
    public struct Rule: Sendable, Equatable {
        public let name: String
        public let categories: [String]
        public let uses: [String]
        public let unless: [LegalBasis]
        /// Where it is written (policy.yaml), for messages.
        public let line: Int?

        public init(name: String, categories: [String], uses: [String], unless: [LegalBasis], line: Int?) {
            self.name = name
            self.categories = categories
            self.uses = uses
            self.unless = unless
            self.line = line
        }

        /// Whether the rule denies `category` for `use` under `basis`. Enforcement fails closed: a name
        /// matches a rule's when either covers the other, so a broad label (`user.contact`, a data use of
        /// `marketing`) cannot slip past a narrow rule (`user.contact.email`, `marketing.advertising.third_party`).
        /// Explicit consent satisfies a rule that accepts consent.
        public func denies(category: String, use: String, basis: LegalBasis) -> Bool {
            let overlaps = { (a: String, b: String) in Taxonomy.covers(a, b) || Taxonomy.covers(b, a) }
            let excused = unless.contains(basis) || (basis == .explicitConsent && unless.contains(.consent))
            return categories.contains { overlaps($0, category) } && uses.contains { overlaps($0, use) } && !excused
        }
    }

    public let rules: [Rule]

    public init(rules: [Rule]) { self.rules = rules }
}

/// A contract's place in the record of processing: what for, on which basis, to whom, for how long.
public struct ProcessingTerms: Sendable, Equatable {
    public struct Recipient: Sendable, Equatable, Codable {
        public let legalName: String
        /// ISO 3166-1 alpha-2.
        public let country: String
        public let dpaURL: String?

        public init(legalName: String, country: String, dpaURL: String?) {
            self.legalName = legalName
            self.country = country
            self.dpaURL = dpaURL
        }

        enum CodingKeys: String, CodingKey {
            case legalName = "legal_name", country, dpaURL = "dpa_url"
        }
    }

    public let dataUse: String?
    public let legalBasis: LegalBasis?
    public let recipient: Recipient?
    public let retentionDays: Int?

    public init(dataUse: String? = nil, legalBasis: LegalBasis? = nil, recipient: Recipient? = nil, retentionDays: Int? = nil) {
        self.dataUse = dataUse
        self.legalBasis = legalBasis
        self.recipient = recipient
        self.retentionDays = retentionDays
    }

    public static let none = ProcessingTerms()
}
