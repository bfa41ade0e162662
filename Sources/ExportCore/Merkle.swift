/// The Merkle tree of RFC 6962 / RFC 9162 §2.1 over SHA-256: leaf = SHA-256(0x00 ‖ bytes), node =
/// SHA-256(0x01 ‖ left ‖ right), and the tree of n leaves splits at the largest power of two below n.
/// docs/audit.md says how the disclosure log uses it.
public enum Merkle {
    public static let hashLength = 32

    public static func leafHash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256Hasher()
        withUnsafeBytes(of: UInt8(0)) { hasher.update($0) }
        hasher.update(bytes)
        return hasher.finalize { Array($0) }
    }

    public static func leafHash(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { leafHash($0) } }

    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256Hasher()
        withUnsafeBytes(of: UInt8(1)) { hasher.update($0) }
        hasher.update(left)
        hasher.update(right)
        return hasher.finalize { Array($0) }
    }

    /// The root of the empty tree: SHA-256 of nothing.
    public static var emptyRoot: [UInt8] { SHA256Hasher().finalize { Array($0) } }

    /// The ranges of leaves whose subtree hashes make the inclusion proof of leaf `index` in a tree of
    /// `size` leaves, in the proof's order (RFC 9162 §2.1.3.1: the sibling nearest the leaf first).
    public static func inclusionRanges(index: UInt64, size: UInt64) -> [Range<UInt64>] {
        precondition(index < size, "a leaf outside the tree has no proof")
        var ranges: [Range<UInt64>] = []
        var low: UInt64 = 0
        var high = size
        // Walk down from the root, keeping the sibling of the half that holds the leaf.
        while high - low > 1 {
            let split = low + largestPowerOfTwo(below: high - low)
            if index < split {
                ranges.append(split..<high)
                high = split
            } else {
                ranges.append(low..<split)
                low = split
            }
        }
        return ranges.reversed()
    }

    /// The root that an inclusion proof implies for a leaf (RFC 9162 §2.1.3.2); nil when the proof
    /// has the wrong length for the index and size.
    public static func root(fromProof proof: [[UInt8]], leafHash: [UInt8], index: UInt64, size: UInt64) -> [UInt8]? {
        guard index < size else { return nil }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { return nil }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? r : nil
    }

    /// The ranges of leaves whose subtree hashes make the consistency proof that the tree of `size`
    /// leaves extends the tree of its first `old` leaves (RFC 9162 §2.1.4.1), in the proof's order.
    /// Empty when `old` is 0 or `size` (nothing to prove).
    public static func consistencyRanges(old: UInt64, size: UInt64) -> [Range<UInt64>] {
        precondition(old <= size, "a tree extends only smaller trees")
        guard old > 0, old < size else { return [] }
        var ranges: [Range<UInt64>] = []
        // SUBPROOF(m, D[low:high], complete): `complete` while the old tree is a whole left part of this one.
        func subproof(_ m: UInt64, _ low: UInt64, _ high: UInt64, _ complete: Bool) {
            if m == high - low {
                if !complete { ranges.append(low..<high) }
                return
            }
            let k = largestPowerOfTwo(below: high - low)
            if m <= k {
                subproof(m, low, low + k, complete)
                ranges.append((low + k)..<high)
            } else {
                subproof(m - k, low + k, high, false)
                ranges.append(low..<(low + k))
            }
        }
        subproof(old, 0, size, true)
        return ranges
    }

    /// Whether `proof` shows that the tree of `size` leaves with root `root` extends the tree of
    /// `old` leaves with root `oldRoot` (RFC 9162 §2.1.4.2). Every tree extends the empty one.
    public static func verifyConsistency(old: UInt64, oldRoot: [UInt8], size: UInt64, root: [UInt8], proof: [[UInt8]]) -> Bool {
        guard old <= size, proof.allSatisfy({ $0.count == hashLength }) else { return false }
        if old == size { return proof.isEmpty && oldRoot == root }
        if old == 0 { return proof.isEmpty }
        var path = proof
        // The old tree is a perfect subtree of the new one: its root is the proof's first node.
        if old.nonzeroBitCount == 1 { path.insert(oldRoot, at: 0) }
        guard let first = path.first else { return false }
        var fn = old - 1
        var sn = size - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = first
        var sr = first
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == oldRoot && sr == root && sn == 0
    }

    /// The largest power of two strictly less than `n` (n ≥ 2).
    static func largestPowerOfTwo(below n: UInt64) -> UInt64 {
        UInt64(1) << (63 - (n - 1).leadingZeroBitCount)
    }
}

/// A tree of `size` leaves kept as its perfect subtrees, largest first (one per set bit of `size`):
/// enough to append a leaf and to give the root, in a few hundred bytes whatever the size. This is
/// the tree's state the ledger keeps, updated in the transaction that records its entries. Appending
/// allocates nothing (the subtrees sit back to back in one buffer): it runs once per entry recorded.
public struct MerkleFrontier: Equatable, Sendable {
    public private(set) var size: UInt64 = 0
    /// The perfect subtrees' hashes, 32 bytes each, largest (leftmost) first.
    private var storage: [UInt8] = []

    public init() {}

    /// The perfect subtrees' hashes, largest (leftmost) first.
    public var nodes: [[UInt8]] {
        stride(from: 0, to: storage.count, by: Merkle.hashLength).map { Array(storage[$0..<($0 + Merkle.hashLength)]) }
    }

    public mutating func append(leafHash: [UInt8]) {
        append(subtree: leafHash, leaves: 1)
    }

    /// Appends the leaf whose bytes are `leaf` (hashing them as RFC 6962 says).
    public mutating func appendLeaf(_ leaf: UnsafeRawBufferPointer) {
        var hasher = SHA256Hasher()
        withUnsafeBytes(of: UInt8(0)) { hasher.update($0) }
        hasher.update(leaf)
        hasher.finalize { digest in storage.append(contentsOf: digest) }
        carry(from: 0)
        size += 1
    }

    /// Appends a perfect subtree of `leaves` leaves (a power of two); the tree's size must be a
    /// multiple of it (as when a range starts on the subtree's boundary).
    public mutating func append(subtree hash: [UInt8], leaves: UInt64) {
        precondition(leaves.nonzeroBitCount == 1 && size % leaves == 0 && hash.count == Merkle.hashLength,
                     "a subtree must start on its own boundary")
        storage.append(contentsOf: hash)
        carry(from: UInt64(leaves.trailingZeroBitCount))
        size += leaves
    }

    /// Merges the newest subtree with the equal-sized ones to its left, as binary addition carries.
    private mutating func carry(from height: UInt64) {
        var height = height
        while (size >> height) & 1 == 1 {
            let n = storage.count
            var hasher = SHA256Hasher()
            withUnsafeBytes(of: UInt8(1)) { hasher.update($0) }
            storage.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[(n - 2 * Merkle.hashLength)..<n])) }
            hasher.finalize { digest in
                storage.withUnsafeMutableBytes {
                    $0.baseAddress!.advanced(by: n - 2 * Merkle.hashLength).copyMemory(from: digest.baseAddress!, byteCount: Merkle.hashLength)
                }
            }
            storage.removeLast(Merkle.hashLength)
            height += 1
        }
    }

    /// The tree's root (RFC 6962 MTH).
    public var root: [UInt8] {
        let nodes = self.nodes
        guard var hash = nodes.last else { return Merkle.emptyRoot }
        for node in nodes.dropLast().reversed() { hash = Merkle.nodeHash(node, hash) }
        return hash
    }

    /// The subtrees' sizes, largest first (the set bits of `size`).
    public var subtreeSizes: [UInt64] {
        (0..<64).reversed().compactMap { bit in (size >> UInt64(bit)) & 1 == 1 ? UInt64(1) << UInt64(bit) : nil }
    }

    /// 8 bytes of size (big-endian) then the hashes.
    public func encoded() -> [UInt8] {
        withUnsafeBytes(of: size.bigEndian) { Array($0) } + storage
    }

    public init(decoding bytes: [UInt8]) throws {
        guard bytes.count >= 8 else { throw MerkleError.damagedState }
        let size = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard bytes.count == 8 + size.nonzeroBitCount * Merkle.hashLength else { throw MerkleError.damagedState }
        self.size = size
        storage = Array(bytes[8...])
    }
}

public enum MerkleError: Error, CustomStringConvertible {
    case damagedState

    public var description: String { "the ledger's stored Merkle tree state is damaged" }
}
