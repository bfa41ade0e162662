#if canImport(Glibc)
import Glibc
#endif

/// How the ledger stores a key value (in holdings and change sets): lower-case hex of even length — a
/// `sha256` or `pseudonym` key — as its raw bytes after a 0xFF marker (half the size; 0xFF never
/// begins UTF-8 text), anything else as its UTF-8 bytes. Empty means unknown (a ledger from before
/// keys were kept).
public enum KeyPacking {
    static let marker: UInt8 = 0xFF

    public static func pack(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let count = text.count
        guard count > 0 && count % 2 == 0 else {
            out.append(contentsOf: text)
            return
        }
        // One pass on the stack: check and convert together, then one copy into `out` (this runs once
        // per record; appending per byte, or growing by a generic sequence, showed in profiles).
        let packed = nibbles.withUnsafeBufferPointer { table in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count / 2 + 1) { buffer -> Bool in
                buffer[0] = marker
                var invalid: UInt8 = 0
                var i = 0
                var j = 1
                while i < count {
                    // Branch-free: a table look-up per character, anything not lower-case hex flagged in the high bits.
                    let high = table[Int(text[i])]
                    let low = table[Int(text[i &+ 1])]
                    invalid |= high | low
                    buffer[j] = high << 4 | low & 0x0F
                    i &+= 2
                    j &+= 1
                }
                guard invalid & 0xF0 == 0 else { return false }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<(count / 2 + 1)]))
                return true
            }
        }
        if !packed { out.append(contentsOf: text) }
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

    /// Whether a stored key is the key `text` (no allocation; this runs once per record held).
    public static func matches(_ stored: UnsafeRawBufferPointer, text: UnsafeRawBufferPointer) -> Bool {
        guard let first = stored.first, first == marker else {
            return stored.count == text.count && (stored.isEmpty || memcmp(stored.baseAddress!, text.baseAddress!, stored.count) == 0)
        }
        guard text.count == (stored.count - 1) * 2 else { return false }
        var i = 0
        var j = 1
        while j < stored.count {
            let high = text[i]
            let low = text[i + 1]
            guard isHex(high), isHex(low), nibble(high) << 4 | nibble(low) == stored[j] else { return false }
            i += 2
            j += 1
        }
        return true
    }

    public static func matches(_ stored: [UInt8], text: UnsafeRawBufferPointer) -> Bool {
        stored.withUnsafeBytes { matches($0, text: text) }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Each byte's value as a lower-case hex digit, or 0xF0 when it is not one.
    private static let nibbles: [UInt8] = (0..<256).map { b in
        let byte = UInt8(b)
        return isHex(byte) ? nibble(byte) : 0xF0
    }

    private static func isHex(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) }

    private static func nibble(_ b: UInt8) -> UInt8 { b <= 0x39 ? b - 0x30 : b - 0x61 + 10 }
}
