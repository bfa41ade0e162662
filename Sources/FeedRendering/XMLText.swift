import ExportCore

/// Makes any bytes fit for XML 1.0 text: invalid UTF-8, and characters XML 1.0 cannot carry
/// (control characters other than tab, line feed and carriage return, NUL included, and U+FFFE,
/// U+FFFF), become U+FFFD and are counted. Escaping of `& < >` is left to libxml2's writer.
///
/// Debian's libxml2 2.9.14 copies such characters through raw and reports success, which makes the
/// document not well-formed; this runs before every write.
public enum XMLText {
    /// Appends the sanitised `bytes` to `out`; returns how many characters were replaced.
    public static func appendSanitised(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Int {
        var replaced = 0
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b >= 0x20 && b < 0x80 || b == 0x09 || b == 0x0A || b == 0x0D {
                out.append(b)
                i += 1
                continue
            }
            if b < 0x20 {
                out.append(contentsOf: UTF8Scan.replacement)
                replaced += 1
                i += 1
                continue
            }
            let length = UTF8Scan.sequenceLength(bytes, at: i)
            if length < 0 {
                out.append(contentsOf: UTF8Scan.replacement)
                replaced += 1
                i += -length
                continue
            }
            // U+FFFE and U+FFFF are the only non-characters XML 1.0 excludes among valid UTF-8 above ASCII.
            if length == 3 && b == 0xEF && bytes[i + 1] == 0xBF && (bytes[i + 2] == 0xBE || bytes[i + 2] == 0xBF) {
                out.append(contentsOf: UTF8Scan.replacement)
                replaced += 1
            } else {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + length)]))
            }
            i += length
        }
        return replaced
    }

    /// Whether `scalar` is a character XML 1.0 can carry.
    public static func isXMLCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }
}
