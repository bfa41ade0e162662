import ExportCore
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
        Varint.put(UInt64(customerIDs.count), &out)
        Varint.put(UInt64(scopes), &out)
        var previous: Int64 = 0
        for (i, id) in customerIDs.enumerated() {
            Varint.putSigned(id &- previous, &out)
            previous = id
            for k in 0..<scopes {
                let grant = i < grants.count && k < grants[i].count ? Array(grants[i][k].utf8) : []
                Varint.put(UInt64(grant.count), &out)
                out.append(contentsOf: grant)
            }
        }
        return out
    }

    public init(decoding bytes: [UInt8]) throws {
        var ids: [Int64] = []
        var grants: [[String]] = []
        try bytes.withUnsafeBytes { raw in
            try Self.walk(raw, record: { id in
                ids.append(id)
                grants.append([])
            }, grant: { _, grant in
                grants[grants.count - 1].append(String(decoding: grant, as: UTF8.self))
            })
        }
        customerIDs = ids
        self.grants = grants
    }

    /// Calls `body` with each (customer id, scope index, granted_at bytes) of an encoded manifest,
    /// without building strings.
    public static func forEachGrant(in bytes: UnsafeRawBufferPointer,
                                    _ body: (Int64, Int, UnsafeRawBufferPointer) throws -> Void) throws {
        var current: Int64 = 0
        try walk(bytes, record: { current = $0 }, grant: { scope, grant in try body(current, scope, grant) })
    }

    /// Reads an encoded manifest: `record` for each customer, then `grant` for each of its scopes.
    private static func walk(_ bytes: UnsafeRawBufferPointer, record: (Int64) throws -> Void,
                             grant: (Int, UnsafeRawBufferPointer) throws -> Void) throws {
        var reader = Varint.Reader(bytes: bytes, damaged: ManifestError())
        let count = try reader.varint()
        let scopes = try reader.varint()
        guard count <= UInt64(bytes.count), scopes <= 64 else { throw ManifestError() }
        var previous: Int64 = 0
        for _ in 0..<count {
            previous = previous &+ (try reader.signed())
            try record(previous)
            for scope in 0..<Int(scopes) {
                try grant(scope, try reader.take(try reader.length()))
            }
        }
        guard reader.atEnd else { throw ManifestError() }
    }

    /// Appends one record's consent grants (one per scope) in the manifest's wire form, so that a
    /// batch's grants live in one byte buffer instead of a string per record.
    ///
    /// A grant is kept as the text a UTF-8 reader sees: invalid sequences and NUL become U+FFFD
    /// (docs/decisions.md), so that the disclosure row, its log leaf (valid UTF-8 JSON, which any
    /// verifier parses) and a PostgreSQL ledger (whose text cannot hold either) all say the same.
    public static func appendGrant(_ grant: UnsafeRawBufferPointer, to stream: inout [UInt8]) {
        guard !isReadable(grant) else {
            Varint.put(UInt64(grant.count), &stream)
            stream.append(contentsOf: grant)
            return
        }
        var clean: [UInt8] = []
        clean.reserveCapacity(grant.count + 6)
        var i = 0
        while i < grant.count {
            let n = UTF8Scan.sequenceLength(grant, at: i)
            if n < 0 || grant[i] == 0 {
                clean.append(contentsOf: UTF8Scan.replacement)
                i += max(1, -n)
            } else {
                clean.append(contentsOf: UnsafeRawBufferPointer(rebasing: grant[i..<(i + n)]))
                i += n
            }
        }
        Varint.put(UInt64(clean.count), &stream)
        stream.append(contentsOf: clean)
    }

    /// Valid UTF-8 without NUL (almost always: ASCII timestamps).
    static func isReadable(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0 { return false }
            if bytes[i] < 0x80 {
                i += 1
                continue
            }
            let n = UTF8Scan.sequenceLength(bytes, at: i)
            if n < 0 { return false }
            i += n
        }
        return true
    }

    /// Encodes a manifest from customer ids and the grants of each record, as ``appendGrant(_:to:)``
    /// wrote them (`scopes` per record, records in the ids' order).
    public static func encoded(customerIDs: [Int64], scopes: Int, grantStream: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(customerIDs.count * 4 + grantStream.count + 8)
        Varint.put(UInt64(customerIDs.count), &out)
        Varint.put(UInt64(scopes), &out)
        var previous: Int64 = 0
        var position = 0
        for id in customerIDs {
            Varint.putSigned(id &- previous, &out)
            previous = id
            for _ in 0..<scopes {
                // Copy this grant: its varint length, then its bytes.
                var length = 0
                var shift = 0
                let start = position
                while position < grantStream.count {
                    let b = grantStream[position]
                    position += 1
                    length |= Int(b & 0x7F) << shift
                    shift += 7
                    if b < 0x80 { break }
                }
                position += length
                out.append(contentsOf: grantStream[start..<min(position, grantStream.count)])
            }
        }
        return out
    }
}

public struct ManifestError: Error, CustomStringConvertible {
    public var description: String { "a delivery's manifest in the ledger is damaged" }
}
