/// Which customers a delivery holds and under which consents, in feed order; stored compactly with
/// the delivery and turned into disclosure rows when the partner acknowledges it.
public struct Manifest: Sendable, Equatable {
    public var customerIDs: [Int64]
    /// For each record, `granted_at` of each consent scope, in the contract's scope order.
    public var grants: [[String]]

    public init(customerIDs: [Int64], grants: [[String]]) {
        self.customerIDs = customerIDs
        self.grants = grants
    }

    /// varint(count) varint(scopes) then per record: zigzag-varint(id delta), per scope: varint(length) bytes.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        let scopes = grants.first?.count ?? 0
        Self.putVarint(UInt64(customerIDs.count), &out)
        Self.putVarint(UInt64(scopes), &out)
        var previous: Int64 = 0
        for (i, id) in customerIDs.enumerated() {
            let delta = id &- previous
            Self.putVarint(UInt64(bitPattern: (delta << 1) ^ (delta >> 63)), &out)
            previous = id
            for k in 0..<scopes {
                let grant = i < grants.count && k < grants[i].count ? Array(grants[i][k].utf8) : []
                Self.putVarint(UInt64(grant.count), &out)
                out.append(contentsOf: grant)
            }
        }
        return out
    }

    public init(decoding bytes: [UInt8]) throws {
        var i = 0
        func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard i < bytes.count, shift < 64 else { throw ManifestError() }
                let b = bytes[i]
                i += 1
                value |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return value }
                shift += 7
            }
        }
        let count = Int(try varint())
        let scopes = Int(try varint())
        guard count <= bytes.count, scopes <= 64 else { throw ManifestError() }
        var ids: [Int64] = []
        var grants: [[String]] = []
        ids.reserveCapacity(count)
        var previous: Int64 = 0
        for _ in 0..<count {
            let zigzag = try varint()
            let delta = Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
            previous = previous &+ delta
            ids.append(previous)
            var row: [String] = []
            for _ in 0..<scopes {
                let length = Int(try varint())
                guard i + length <= bytes.count else { throw ManifestError() }
                row.append(String(decoding: bytes[i..<(i + length)], as: UTF8.self))
                i += length
            }
            grants.append(row)
        }
        guard i == bytes.count else { throw ManifestError() }
        customerIDs = ids
        self.grants = grants
    }

    private static func putVarint(_ value: UInt64, _ out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}

public struct ManifestError: Error, CustomStringConvertible {
    public var description: String { "a delivery's manifest in the ledger is damaged" }
}
