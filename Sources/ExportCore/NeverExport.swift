/// The one place that owns what may never leave the house.
///
/// Cardholder data and internal logs are never exported in any form, whatever a contract says.
/// Configuration validation rejects every reference to them, and the source adapter refuses to
/// build a query that would read them (defence in depth: see ``SourceColumns``).
public enum NeverExport {
    /// Columns of `customers` that hold cardholder data.
    public static let columns: Set<String> = ["card_number", "card_expiry"]
    /// Tables that are internal only.
    public static let tables: Set<String> = ["customer_logs"]

    /// Whether `name` is a never-export column or table.
    public static func contains(_ name: String) -> Bool {
        columns.contains(name) || tables.contains(name)
    }

    /// The plain sentence that explains a refusal, without any value.
    public static func reason(for name: String) -> String {
        if tables.contains(name) {
            return "'\(name)' is internal only and can never be exported, whatever the contract says"
        }
        return "'\(name)' is cardholder data and can never be exported in any form, whatever the contract says"
    }
}
