/// A strict parser for the `services` column: a JSON array of strings (RFC 8259), nothing else.
///
/// Items are appended unescaped to a byte buffer. Bytes that are not valid UTF-8 are copied as they
/// are (the renderers replace them and count them); escaped lone surrogates become U+FFFD.
enum JSONStringList {
    struct Malformed: Error {}

    /// Parses `input` and appends each item's bytes to `out`, recording each item's range in `items`.
    /// Returns how many lone surrogates were replaced.
    static func parse(_ input: UnsafeRawBufferPointer, into out: inout [UInt8], items: inout [Range<Int>]) throws -> Int {
        var replaced = 0
        var i = 0
        let n = input.count
        func skipWhitespace() {
            while i < n, input[i] == 0x20 || input[i] == 0x09 || input[i] == 0x0A || input[i] == 0x0D { i += 1 }
        }
        skipWhitespace()
        guard i < n, input[i] == UInt8(ascii: "[") else { throw Malformed() }
        i += 1
        skipWhitespace()
        if i < n, input[i] == UInt8(ascii: "]") {
            i += 1
            skipWhitespace()
            guard i == n else { throw Malformed() }
            return 0
        }
        while true {
            skipWhitespace()
            guard i < n, input[i] == UInt8(ascii: "\"") else { throw Malformed() }
            i += 1
            let start = out.count
            replaced += try parseString(input, &i, into: &out)
            items.append(start..<out.count)
            skipWhitespace()
            guard i < n else { throw Malformed() }
            if input[i] == UInt8(ascii: ",") { i += 1; continue }
            if input[i] == UInt8(ascii: "]") { i += 1; break }
            throw Malformed()
        }
        skipWhitespace()
        guard i == n else { throw Malformed() }
        return replaced
    }

    /// Parses the rest of a string whose opening quote was consumed.
    private static func parseString(_ input: UnsafeRawBufferPointer, _ i: inout Int, into out: inout [UInt8]) throws -> Int {
        var replaced = 0
        let n = input.count
        while i < n {
            let b = input[i]
            if b == UInt8(ascii: "\"") { i += 1; return replaced }
            if b < 0x20 { throw Malformed() }  // raw control characters are not allowed in JSON strings
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            i += 1
            guard i < n else { throw Malformed() }
            let e = input[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(input, &i)
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    if i + 1 < n, input[i] == UInt8(ascii: "\\"), input[i + 1] == UInt8(ascii: "u") {
                        var j = i + 2
                        let low = try hex4(input, &j)
                        if (0xDC00...0xDFFF).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            i = j
                        } else {
                            scalar = 0xFFFD
                            replaced += 1
                        }
                    } else {
                        scalar = 0xFFFD
                        replaced += 1
                    }
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    scalar = 0xFFFD
                    replaced += 1
                }
                appendUTF8(scalar, to: &out)
            default:
                throw Malformed()
            }
        }
        throw Malformed()
    }

    private static func hex4(_ input: UnsafeRawBufferPointer, _ i: inout Int) throws -> UInt32 {
        guard i + 4 <= input.count else { throw Malformed() }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = input[i]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw Malformed()
            }
            value = value << 4 | digit
            i += 1
        }
        return value
    }

    static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (scalar >> 6)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (scalar >> 12)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (scalar >> 18)))
            out.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }
}
