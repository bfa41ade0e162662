import Foundation

/// A page of what a partner holds, in customer-id order: per customer the key value and the digest of
/// the record as the partner acknowledged them, back to back in flat buffers (a partner can hold
/// millions of customers; no value per row).
public struct HoldingsPage: Sendable {
    public var ids: [Int64] = []
    /// 16 bytes per customer (empty digest: unknown, from a ledger written before holdings existed).
    public var digests: [UInt8] = []
    public var digestLengths: [UInt8] = []
    public var keys: [UInt8] = []
    /// Where each customer's key ends in ``keys``.
    public var keyEnds: [Int] = []

    public init() {}

    public var count: Int { ids.count }

    public mutating func append(id: Int64, key: UnsafeRawBufferPointer, digest: UnsafeRawBufferPointer) {
        ids.append(id)
        let length = min(digest.count, ChangeSet.digestLength)
        digests.append(contentsOf: UnsafeRawBufferPointer(rebasing: digest[0..<length]))
        for _ in length..<ChangeSet.digestLength { digests.append(0) }
        digestLengths.append(UInt8(length))
        keys.append(contentsOf: key)
        keyEnds.append(keys.count)
    }

    /// The key of the i-th customer.
    public func key(at i: Int) -> ArraySlice<UInt8> { keys[(i == 0 ? 0 : keyEnds[i - 1])..<keyEnds[i]] }

    /// Whether the i-th customer's key is the key `text` (see ``KeyPacking/matches(_:text:)``).
    public func key(at i: Int, matches text: UnsafeRawBufferPointer) -> Bool {
        keys.withUnsafeBytes { all in
            KeyPacking.matches(UnsafeRawBufferPointer(rebasing: all[(i == 0 ? 0 : keyEnds[i - 1])..<keyEnds[i]]), text: text)
        }
    }

    /// Whether the i-th customer's digest is `digest` (an unknown digest equals nothing).
    public func digest(at i: Int, equals digest: UnsafeRawBufferPointer) -> Bool {
        guard digestLengths[i] == ChangeSet.digestLength, digest.count >= ChangeSet.digestLength else { return false }
        return digests.withUnsafeBytes { all in
            memcmp(all.baseAddress! + i * ChangeSet.digestLength, digest.baseAddress!, ChangeSet.digestLength) == 0
        }
    }
}
