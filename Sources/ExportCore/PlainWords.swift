/// What the customer's report calls each field and form, in plain words: the one place they are
/// written. A contract's `wording:` may rename a field; the form's words always follow, so that a
/// report never hides that a value left in clear, or only as a hash.
public enum PlainWords {
    /// The customers table's columns that may leave, as the customer would name them.
    public static let fields: [String: String] = [
        "id": "your customer number",
        "first_name": "your first name",
        "last_name": "your last name",
        "email": "your e-mail address",
        "phone": "your phone number",
        "street": "your street address",
        "city": "your town or city",
        "region": "your region",
        "postal_code": "your postal code",
        "country": "your country",
        "account_status": "whether your account is open",
        "services": "the services you use with us",
        "created_at": "when you became a customer",
        "updated_at": "when your details last changed",
    ]

    /// "your e-mail address, as a one-way hash" for `email` in form `sha256`.
    public static func describe(field: String, form: Form, wording: [String: String] = [:]) -> String {
        let noun = wording[field] ?? fields[field] ?? "the field \(field)"
        switch form {
        case .clear: return noun
        case .initial: return "the first letter of \(noun)"
        case .prefix(let n): return "the first \(n) character\(n == 1 ? "" : "s") of \(noun)"
        case .year: return "the year of \(noun)"
        // Unkeyed: whoever already has a value can recognise it, so the words do not promise more.
        case .sha256: return "\(noun), as a one-way hash (a fingerprint: it does not show the value, but anyone who already knows the value can match it)"
        case .pseudonym: return "\(noun), replaced by a pseudonym (a code only we can link back to you)"
        }
    }

    /// Why a partner was told to forget the customer.
    public static func describe(reason: DeletionReason) -> String {
        switch reason {
        case .consentWithdrawn: "you withdrew your consent"
        case .erased: "your data was erased at your request or as the law requires"
        case .noLongerShared: "you no longer meet the conditions under which your data is shared with them"
        }
    }
}
