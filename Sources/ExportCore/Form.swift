/// A form (transform) a field is sent in, from most to least revealing (docs/design.md, "Contracts and mappings").
public enum Form: Sendable, Hashable {
    /// The value as stored (lists stay lists).
    case clear
    /// The first character and a dot.
    case initial
    /// The first N characters.
    case prefix(Int)
    /// The year of a timestamp, as a number.
    case year
    /// Hex SHA-256 of the normalised value.
    case sha256
    /// Hex HMAC-SHA256 of the value under the partner's key.
    case pseudonym

    /// The largest N accepted in `prefixN`.
    public static let maximumPrefix = 64

    /// Parses a form name as written in YAML: `clear`, `initial`, `prefix3`, `year`, `sha256`, `pseudonym`.
    public init?(name: String) {
        switch name {
        case "clear": self = .clear
        case "initial": self = .initial
        case "year": self = .year
        case "sha256": self = .sha256
        case "pseudonym": self = .pseudonym
        default:
            guard name.hasPrefix("prefix"), name.count > 6 else { return nil }
            let digits = name.dropFirst(6)
            guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.first != "0",
                  let n = Int(digits), (1...Form.maximumPrefix).contains(n) else { return nil }
            self = .prefix(n)
        }
    }

    /// The name as written in YAML.
    public var name: String {
        switch self {
        case .clear: "clear"
        case .initial: "initial"
        case .prefix(let n): "prefix\(n)"
        case .year: "year"
        case .sha256: "sha256"
        case .pseudonym: "pseudonym"
        }
    }

    /// Whether the form replaces the value by one that stands for it (a hash, a keyed pseudonym): the
    /// data is pseudonymised, not anonymised — still personal data, still its category (docs/privacy.md).
    public var isPseudonymising: Bool { self == .sha256 || self == .pseudonym }

    /// Whether this form can be applied to a field of `type`.
    ///
    /// `year` applies to timestamps; `initial`, `prefixN`, `sha256` and `pseudonym` to text (an
    /// integer id is hashed as its decimal text); lists only `clear`.
    public func applies(to type: FieldType) -> Bool {
        switch (self, type) {
        case (.clear, _): true
        case (.year, .timestamp): true
        case (.initial, .text), (.prefix, .text): true
        case (.sha256, .text), (.sha256, .integer): true
        case (.pseudonym, .text), (.pseudonym, .integer): true
        default: false
        }
    }

    /// The forms that can apply to `type`, for messages.
    public static func names(applicableTo type: FieldType) -> [String] {
        switch type {
        case .integer: ["clear", "sha256", "pseudonym"]
        case .text: ["clear", "initial", "prefixN", "sha256", "pseudonym"]
        case .timestamp: ["clear", "year"]
        case .list: ["clear"]
        }
    }
}

extension Form: CustomStringConvertible {
    public var description: String { name }
}
