/// How a value is normalised before the `sha256` form hashes it.
///
/// - e-mail: trimmed and lower-cased (the convention ad platforms match on);
/// - phone: `+` and the E.164 digits, everything else dropped;
/// - other text: trimmed and lower-cased, like e-mail;
/// - integer (`id`): its decimal text.
///
/// Trimming removes Unicode white space at both ends; lower-casing is Unicode's full, locale-free
/// mapping. A value that normalises to nothing has no hash: it renders as null, so a partner never
/// matches customers on an empty value.
public enum Normalisation: Sendable, Hashable {
    case email
    case phone
    case text

    /// The normalisation the `sha256` form uses for `column`.
    public static func forColumn(_ column: String) -> Normalisation {
        switch column {
        case "email": .email
        case "phone": .phone
        default: .text
        }
    }

    /// Appends the normalised form of `value` to `out`; returns how many invalid UTF-8 sequences
    /// were replaced on the way.
    func append(normalising value: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Int {
        switch self {
        case .phone:
            var digits = 0
            let start = out.count
            out.append(UInt8(ascii: "+"))
            for b in value where b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                out.append(b)
                digits += 1
            }
            if digits == 0 { out.removeSubrange(start...) }
            return 0
        case .email, .text:
            if UTF8Scan.isASCII(value) {
                var lo = 0
                var hi = value.count
                while lo < hi, Self.isASCIIWhitespace(value[lo]) { lo += 1 }
                while hi > lo, Self.isASCIIWhitespace(value[hi - 1]) { hi -= 1 }
                for i in lo..<hi {
                    let b = value[i]
                    out.append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
                }
                return 0
            }
            let (string, replaced) = UTF8Scan.decode(value)
            let scalars = string.unicodeScalars
            guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
                  let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return replaced }
            out.append(contentsOf: String(scalars[first...last]).lowercased().utf8)
            return replaced
        }
    }

    private static func isASCIIWhitespace(_ b: UInt8) -> Bool {
        b == 0x20 || (b >= 0x09 && b <= 0x0D)
    }
}
