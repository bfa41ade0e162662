/// Lower-case hex encoding into a byte buffer.
enum Hex {
    /// "000102…ff": two characters per byte value.
    private static let pairs: [UInt8] = {
        let digits = Array("0123456789abcdef".utf8)
        var table: [UInt8] = []
        table.reserveCapacity(512)
        for b in 0..<256 {
            table.append(digits[b >> 4])
            table.append(digits[b & 0x0F])
        }
        return table
    }()

    static func append(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: bytes.count * 2))
        out.withUnsafeMutableBufferPointer { buffer in
            pairs.withUnsafeBufferPointer { table in
                var k = start
                for b in bytes {
                    buffer[k] = table[Int(b) &* 2]
                    buffer[k &+ 1] = table[Int(b) &* 2 &+ 1]
                    k &+= 2
                }
            }
        }
    }

    static func append<Bytes: Sequence>(_ bytes: Bytes, to out: inout [UInt8]) where Bytes.Element == UInt8 {
        Array(bytes).withUnsafeBytes { append($0, to: &out) }
    }

    static func string<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        append(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// Decimal digits without going through String.
public enum DecimalText {
    /// Calls `body` with the decimal text of `n`.
    public static func withDigits<R>(_ n: Int64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var value = n.magnitude
            var i = 20
            repeat {
                i -= 1
                buffer[i] = UInt8(truncatingIfNeeded: value % 10) &+ 48
                value /= 10
            } while value > 0
            if n < 0 {
                i -= 1
                buffer[i] = UInt8(ascii: "-")
            }
            return try body(UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[i..<20]))
        }
    }

    /// Appends the decimal text of `n`.
    public static func append(_ n: Int, to out: inout [UInt8]) {
        withDigits(Int64(n)) { out.append(contentsOf: $0) }
    }
}
