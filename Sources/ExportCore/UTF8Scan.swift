/// Byte-level UTF-8 checks shared by the forms and the renderers.
///
/// Invalid UTF-8 is replaced by U+FFFD one "maximal subpart" at a time (Unicode §3.9, the W3C/WHATWG
/// practice that Swift's `String(decoding:as:)` follows), so every tool agrees on where the
/// replacement characters go.
public enum UTF8Scan {
    /// The UTF-8 bytes of U+FFFD REPLACEMENT CHARACTER.
    public static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]

    /// Length of the well-formed sequence that starts at `i` (1...4), or the negated length of the
    /// maximal invalid subpart there (-1...-3). `i` must be a valid index.
    @inlinable
    public static func sequenceLength(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Int {
        let b0 = bytes[i]
        if b0 < 0x80 { return 1 }
        let count = bytes.count
        @inline(__always) func byte(_ k: Int) -> UInt8? { i + k < count ? bytes[i + k] : nil }
        @inline(__always) func inRange(_ b: UInt8?, _ lo: UInt8, _ hi: UInt8) -> Bool {
            guard let b else { return false }
            return b >= lo && b <= hi
        }
        switch b0 {
        case 0xC2...0xDF:
            return inRange(byte(1), 0x80, 0xBF) ? 2 : -1
        case 0xE0...0xEF:
            let (lo, hi): (UInt8, UInt8) = b0 == 0xE0 ? (0xA0, 0xBF) : (b0 == 0xED ? (0x80, 0x9F) : (0x80, 0xBF))
            guard inRange(byte(1), lo, hi) else { return -1 }
            return inRange(byte(2), 0x80, 0xBF) ? 3 : -2
        case 0xF0...0xF4:
            let (lo, hi): (UInt8, UInt8) = b0 == 0xF0 ? (0x90, 0xBF) : (b0 == 0xF4 ? (0x80, 0x8F) : (0x80, 0xBF))
            guard inRange(byte(1), lo, hi) else { return -1 }
            guard inRange(byte(2), 0x80, 0xBF) else { return -2 }
            return inRange(byte(3), 0x80, 0xBF) ? 4 : -3
        default:
            return -1
        }
    }

    /// Decodes the scalar of a well-formed sequence of `length` bytes at `i`.
    @inlinable
    public static func scalarValue(_ bytes: UnsafeRawBufferPointer, at i: Int, length: Int) -> UInt32 {
        switch length {
        case 1: return UInt32(bytes[i])
        case 2: return (UInt32(bytes[i] & 0x1F) << 6) | UInt32(bytes[i + 1] & 0x3F)
        case 3:
            return (UInt32(bytes[i] & 0x0F) << 12) | (UInt32(bytes[i + 1] & 0x3F) << 6) | UInt32(bytes[i + 2] & 0x3F)
        default:
            return (UInt32(bytes[i] & 0x07) << 18) | (UInt32(bytes[i + 1] & 0x3F) << 12)
                | (UInt32(bytes[i + 2] & 0x3F) << 6) | UInt32(bytes[i + 3] & 0x3F)
        }
    }

    /// Whether every byte is ASCII.
    @inlinable
    public static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for b in bytes where b >= 0x80 { return false }
        return true
    }

    /// Decodes `bytes` as UTF-8, replacing invalid sequences with U+FFFD; returns how many were replaced.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> (string: String, replaced: Int) {
        var replaced = 0
        var i = 0
        while i < bytes.count {
            let n = sequenceLength(bytes, at: i)
            if n < 0 { replaced += 1; i += -n } else { i += n }
        }
        return (String(decoding: bytes, as: UTF8.self), replaced)
    }
}
