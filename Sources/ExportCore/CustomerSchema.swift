/// The type of a `customers` column, which decides the forms it can be sent in.
public enum FieldType: String, Sendable, Hashable {
    /// `id`: an integer; hashed and pseudonymised as its decimal text.
    case integer
    /// Free text.
    case text
    /// An RFC 3339 timestamp stored as text.
    case timestamp
    /// A JSON array of strings stored as text (`services`).
    case list
}

/// One column of the canonical `customers` table (docs/design.md, "Source data").
public struct CustomerColumn: Sendable, Hashable {
    public let name: String
    public let type: FieldType
}

/// The canonical `customers` schema: the field names contracts and mappings use.
public enum CustomerSchema {
    /// Every column of `customers`, in schema order, never-export columns included so that they
    /// can be recognised and refused by name.
    public static let columns: [CustomerColumn] = [
        .init(name: "id", type: .integer),
        .init(name: "first_name", type: .text),
        .init(name: "last_name", type: .text),
        .init(name: "email", type: .text),
        .init(name: "phone", type: .text),
        .init(name: "street", type: .text),
        .init(name: "city", type: .text),
        .init(name: "region", type: .text),
        .init(name: "postal_code", type: .text),
        .init(name: "country", type: .text),
        .init(name: "card_number", type: .text),
        .init(name: "card_expiry", type: .text),
        .init(name: "account_status", type: .text),
        .init(name: "services", type: .list),
        .init(name: "created_at", type: .timestamp),
        .init(name: "updated_at", type: .timestamp),
    ]

    private static let byName: [String: CustomerColumn] = Dictionary(
        uniqueKeysWithValues: columns.map { ($0.name, $0) })

    /// The column called `name`, or nil when `customers` has no such column.
    public static func column(named name: String) -> CustomerColumn? { byName[name] }

    /// The names of all columns, for messages.
    public static var columnNames: [String] { columns.map(\.name) }
}
