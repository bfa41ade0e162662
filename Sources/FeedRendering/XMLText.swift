import ExportCore

/// Makes any bytes fit for XML 1.0 text: invalid UTF-8, and characters XML 1.0 cannot carry
/// (control characters other than tab, line feed and carriage return, NUL included, and U+FFFE,
/// U+FFFF), become U+FFFD and are counted. Escaping of `& < >` is left to libxml2's writer.
///
/// Debian's libxml2 2.9.14 copies such characters through raw and reports success, which makes the
/// document not well-formed; this runs before every write.
public enum XMLText {
    /// Appends the sanitised `bytes` to `out`; returns how many characters were replaced.
    /// With `escape`, also escapes `&`, `<`, `>` and carriage return (as `&#13;`, so that it survives
    /// parsing), for text handed to the writer raw.
    public static func appendSanitised(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8], escape: Bool = false) -> Int {
        var replaced = 0
        var i = 0
        let n = bytes.count
        while i < n {
            // Runs of plain printable ASCII go in one copy.
            let end = escape ? ByteClass.plainRun(bytes, from: i, table: ByteClass.xmlEscaped)
                : ByteClass.plainRun(bytes, from: i, table: ByteClass.xmlRaw)
            if end > i {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<end]))
                i = end
                if i == n { break }
            }
            let b = bytes[i]
            if escape {
                switch b {
                case UInt8(ascii: "&"): out.append(contentsOf: [0x26, 0x61, 0x6D, 0x70, 0x3B]); i += 1; continue  // &amp;
                case UInt8(ascii: "<"): out.append(contentsOf: [0x26, 0x6C, 0x74, 0x3B]); i += 1; continue  // &lt;
                case UInt8(ascii: ">"): out.append(contentsOf: [0x26, 0x67, 0x74, 0x3B]); i += 1; continue  // &gt;
                case 0x0D: out.append(contentsOf: [0x26, 0x23, 0x31, 0x33, 0x3B]); i += 1; continue  // &#13;
                default: break
                }
            }
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

/// Byte classes for the renderers' fast paths: bytes that can be copied as they are.
enum ByteClass {
    /// 1 for printable ASCII that XML text can carry as is (escaping `&`, `<`, `>` excluded).
    static let xmlEscaped: [UInt8] = table { $0 >= 0x20 && $0 < 0x80 && $0 != UInt8(ascii: "&") && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }
    /// 1 for printable ASCII (the writer escapes).
    static let xmlRaw: [UInt8] = table { $0 >= 0x20 && $0 < 0x80 }
    /// 1 for printable ASCII a JSON string carries as is.
    static let json: [UInt8] = table { $0 >= 0x20 && $0 < 0x80 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }

    private static func table(_ plain: (UInt8) -> Bool) -> [UInt8] { (0...255).map { plain(UInt8($0)) ? 1 : 0 } }

    /// The end of the run of plain bytes starting at `start`.
    @inline(__always)
    static func plainRun(_ bytes: UnsafeRawBufferPointer, from start: Int, table: [UInt8]) -> Int {
        guard let base = bytes.baseAddress else { return start }
        let n = bytes.count
        return table.withUnsafeBufferPointer { plain in
            var i = start
            while i < n && plain[Int(base.load(fromByteOffset: i, as: UInt8.self))] != 0 { i &+= 1 }
            return i
        }
    }
}
