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

    /// Written on the stack, then one copy into `out` (as the log's leaves and the ledger's keys are:
    /// growing `out` by a generic sequence of zeros first showed in profiles).
    static func append(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let count = bytes.count * 2
        pairs.withUnsafeBufferPointer { table in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer in
                var k = 0
                for b in bytes {
                    buffer[k] = table[Int(b) &* 2]
                    buffer[k &+ 1] = table[Int(b) &* 2 &+ 1]
                    k &+= 2
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<count]))
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
