/// How the ledger stores a key value (in holdings and change sets): lower-case hex of even length — a
/// `sha256` or `pseudonym` key — as its raw bytes after a 0xFF marker (half the size; 0xFF never
/// begins UTF-8 text), anything else as its UTF-8 bytes. Empty means unknown (a ledger from before
/// keys were kept).
public enum KeyPacking {
    static let marker: UInt8 = 0xFF

    public static func pack(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        guard !text.isEmpty, text.count % 2 == 0, text.allSatisfy(isHex) else {
            out.append(contentsOf: text)
            return
        }
        out.append(marker)
        var i = 0
        while i < text.count {
            out.append(nibble(text[i]) << 4 | nibble(text[i + 1]))
            i += 2
        }
    }

    public static func pack(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        text.withUnsafeBytes { pack($0, into: &out) }
        return out
    }

    /// The key's text from its stored form.
    public static func unpack<Stored: Collection<UInt8>>(_ stored: Stored) -> [UInt8] {
        guard stored.first == marker else { return Array(stored) }
        var out: [UInt8] = []
        out.reserveCapacity((stored.count - 1) * 2)
        for byte in stored.dropFirst() {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return out
    }

    /// Whether a stored key is the key `text` (no allocation).
    public static func matches<Stored: Collection<UInt8>>(_ stored: Stored, text: UnsafeRawBufferPointer) -> Bool {
        guard stored.first == marker else { return stored.elementsEqual(text) }
        guard text.count == (stored.count - 1) * 2 else { return false }
        var i = 0
        for byte in stored.dropFirst() {
            guard isHex(text[i]), isHex(text[i + 1]), nibble(text[i]) << 4 | nibble(text[i + 1]) == byte else { return false }
            i += 2
        }
        return true
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private static func isHex(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) }

    private static func nibble(_ b: UInt8) -> UInt8 { b <= 0x39 ? b - 0x30 : b - 0x61 + 10 }
}
