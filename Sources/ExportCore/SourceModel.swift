/// Where the logical fields contracts and mappings name live in the company's own database
/// (docs/design.md, "Your own schema"): `source.yaml`, or the canonical schema without it.
///
/// Logical names are the canonical schema's column names (``CustomerSchema``); a mapped source reads
/// only the columns its `fields` map (and its key), and never its `never_read` columns.
public struct SourceModel: Sendable, Equatable {
    public struct Customers: Sendable, Equatable {
        /// A table or a view; `schema.name` on PostgreSQL.
        public let table: String
        /// The column holding the customer id: integer values, unique.
        public let key: String
        /// Logical field → column (without `id`: that is ``key``).
        public let fields: [String: String]
        /// Columns never SELECTed, whatever a contract says.
        public let neverRead: Set<String>

        public init(table: String, key: String, fields: [String: String], neverRead: Set<String>) {
            self.table = table
            self.key = key
            self.fields = fields
            self.neverRead = Set(neverRead.map { $0.lowercased() })
        }
    }

    public struct Consents: Sendable, Equatable {
        public let table: String
        public let customer: String
        public let scope: String
        public let grantedAt: String
        public let withdrawnAt: String

        public init(table: String, customer: String, scope: String, grantedAt: String, withdrawnAt: String) {
            self.table = table
            self.customer = customer
            self.scope = scope
            self.grantedAt = grantedAt
            self.withdrawnAt = withdrawnAt
        }
    }

    public let customers: Customers
    public let consents: Consents
    /// Without `source.yaml`: the canonical tables, every logical field its own column.
    public let isCanonical: Bool

    public init(customers: Customers, consents: Consents) {
        self.customers = customers
        self.consents = consents
        isCanonical = false
    }

    private init(canonical: Void) {
        customers = Customers(table: "customers", key: "id", fields: [:], neverRead: [])
        consents = Consents(table: "consents", customer: "customer_id", scope: "scope", grantedAt: "granted_at",
                            withdrawnAt: "withdrawn_at")
        isCanonical = true
    }

    /// The canonical schema (docs/design.md, "Source data").
    public static let canonical = SourceModel(canonical: ())

    /// The column the logical field `name` is read from; nil when this source does not map it.
    public func column(_ name: String) -> String? {
        if name == "id" { return customers.key }
        if isCanonical { return name }
        return customers.fields[name]
    }

    /// Whether `column` of the customers table may never be read (built-in never-export columns, and
    /// this source's `never_read`).
    public func mayNotRead(_ column: String) -> Bool {
        NeverExport.contains(column.lowercased()) || customers.neverRead.contains(column.lowercased())
    }
}
