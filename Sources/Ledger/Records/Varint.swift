/// LEB128 varints and zigzag-encoded signed deltas.
enum Varint {
    static func put(_ value: UInt64, _ out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func putSigned(_ value: Int64, _ out: inout [UInt8]) {
        put(UInt64(bitPattern: (value << 1) ^ (value >> 63)), &out)
    }

    /// Reads varints and byte runs; damaged input (a truncation, an overlong varint, a length past the
    /// end) throws `damaged`, never traps.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        let damaged: any Error
        var position = 0

        init(bytes: UnsafeRawBufferPointer, damaged: any Error) {
            self.bytes = bytes
            self.damaged = damaged
        }

        var atEnd: Bool { position == bytes.count }

        mutating func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard position < bytes.count, shift < 64 else { throw damaged }
                let b = bytes[position]
                position += 1
                value |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return value }
                shift += 7
            }
        }

        mutating func signed() throws -> Int64 {
            let zigzag = try varint()
            return Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
        }

        /// A length that must fit in what is left (damaged bytes never make it trap).
        mutating func length() throws -> Int {
            let value = try varint()
            guard value <= UInt64(bytes.count - position) else { throw damaged }
            return Int(value)
        }

        mutating func take(_ count: Int) throws -> UnsafeRawBufferPointer {
            guard count >= 0, count <= bytes.count - position else { throw damaged }
            defer { position += count }
            return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
        }
    }
}
