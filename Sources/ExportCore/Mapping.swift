/// A partner's mapping (`mappings/<id>.yaml`): the feed's shape.
///
/// A mapping may send less than its contract allows, never more; values of this type only exist
/// after they were checked against their contract.
public struct Mapping: Sendable {
    public let partner: String
    /// XML root element.
    public let root: String
    /// XML record element.
    public let record: String
    /// Optional XML namespace of the feed.
    public let namespace: String?
    /// Output fields, in output order.
    public let fields: [MappedField]
    /// The output name of the field a partner identifies a customer by (docs/design.md, "Change
    /// feeds and deletion notices"): `key:`, or the first field from `id`.
    public let key: String?

    public init(partner: String, root: String = "feed", record: String = "customer", namespace: String? = nil,
                fields: [MappedField], key: String? = nil) {
        self.partner = partner
        self.root = root
        self.record = record
        self.namespace = namespace
        self.fields = fields
        self.key = key ?? Self.defaultKey(fields)
    }

    /// The first field from `id` in a form that stays the same for a customer.
    public static func defaultKey(_ fields: [MappedField]) -> String? {
        fields.first { $0.from == "id" && Self.stableForms.contains($0.form) }?.name
    }

    /// The forms a key may take: the same value for the same customer on every run.
    public static let stableForms: [Form] = [.clear, .sha256, .pseudonym]
    /// The columns a key may come from.
    public static let keyColumns = ["id", "email"]

    /// Where the key field sits in ``fields``.
    public var keyIndex: Int? { key.flatMap { key in fields.firstIndex { $0.name == key } } }
}

/// One output field of a mapping.
public struct MappedField: Sendable, Hashable {
    /// Output name (JSON key, XML element).
    public let name: String
    /// Source column of `customers`.
    public let from: String
    public let form: Form
    /// XML element of each list item (lists only).
    public let item: String
    /// A NULL source value rejects the record instead of rendering as null / absent.
    public let required: Bool

    public init(name: String, from: String, form: Form = .clear, item: String = "item", required: Bool = false) {
        self.name = name
        self.from = from
        self.form = form
        self.item = item
        self.required = required
    }
}

/// A partner whose contract and mapping were loaded and checked against each other.
public struct Partner: Sendable {
    public let contract: Contract
    public let mapping: Mapping

    public var id: String { contract.id }

    public init(contract: Contract, mapping: Mapping) {
        self.contract = contract
        self.mapping = mapping
    }

    /// Fields the contract allows that the mapping does not send.
    public var allowedButNotSent: [AllowedField] {
        let sent = Set(mapping.fields.map(\.from))
        return contract.allow.filter { !sent.contains($0.field) }
    }
}
