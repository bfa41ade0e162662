import ExportCore
import Foundation
import Testing

@Suite("Merkle tree and signed notes")
struct MerkleTests {
    /// The leaves and roots of the RFC 6962 reference implementation's tests (certificate-transparency).
    static let leaves: [[UInt8]] = [[], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
                                    [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
                                    Array(0x60...0x6f)]
    static let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// RFC 6962's MTH, written from its definition (recursive), to check the incremental tree against.
    static func mth(_ hashes: ArraySlice<[UInt8]>) -> [UInt8] {
        if hashes.isEmpty { return Merkle.emptyRoot }
        if hashes.count == 1 { return hashes.first! }
        var k = 1
        while k * 2 < hashes.count { k *= 2 }
        return Merkle.nodeHash(mth(hashes.prefix(k)), mth(hashes.dropFirst(k)))
    }

    @Test("roots of the RFC 6962 test vectors, sizes 0 to 8")
    func vectorRoots() {
        var tree = MerkleFrontier()
        #expect(Self.hex(tree.root) == Self.roots[0])
        for (i, leaf) in Self.leaves.enumerated() {
            tree.append(leafHash: Merkle.leafHash(leaf))
            #expect(Self.hex(tree.root) == Self.roots[i + 1], "size \(i + 1)")
        }
    }

    @Test("inclusion proofs: the reference vectors, and every leaf of every tree up to 8 proves its root")
    func inclusionProofs() {
        let hashes = Self.leaves.map(Merkle.leafHash)
        func proof(_ index: UInt64, _ size: UInt64) -> [[UInt8]] {
            Merkle.inclusionRanges(index: index, size: size).map { Self.mth(hashes[Int($0.lowerBound)..<Int($0.upperBound)]) }
        }
        #expect(proof(0, 8).map(Self.hex) == ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                                             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                                             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"])
        #expect(proof(5, 8).map(Self.hex) == ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                                             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                                             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"])
        for size in UInt64(1)...8 {
            for index in 0..<size {
                let root = Merkle.root(fromProof: proof(index, size), leafHash: hashes[Int(index)], index: index, size: size)
                #expect(root.map(Self.hex) == Self.roots[Int(size)], "leaf \(index) of \(size)")
                // A proof for another leaf, or a tampered one, leads elsewhere.
                var bad = proof(index, size)
                if !bad.isEmpty {
                    bad[0][0] ^= 1
                    #expect(Merkle.root(fromProof: bad, leafHash: hashes[Int(index)], index: index, size: size).map(Self.hex) != Self.roots[Int(size)])
                }
            }
        }
    }

    @Test("consistency proofs: the RFC 6962 reference vectors, every pair of sizes up to 40 verifies, and a fork or a wrong size does not")
    func consistencyProofs() {
        let hashes = Self.leaves.map(Merkle.leafHash)
        func proof(_ old: UInt64, _ size: UInt64, _ leaves: [[UInt8]]) -> [[UInt8]] {
            Merkle.consistencyRanges(old: old, size: size).map { Self.mth(leaves[Int($0.lowerBound)..<Int($0.upperBound)]) }
        }
        // The certificate-transparency reference implementation's vectors (sizes as leaf counts).
        #expect(proof(1, 1, hashes).isEmpty)
        #expect(proof(1, 8, hashes).map(Self.hex) == ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                                                      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                                                      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"])
        #expect(proof(6, 8, hashes).map(Self.hex) == ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                                                      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                                                      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"])
        #expect(proof(2, 5, hashes).map(Self.hex) == ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                                                      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"])
        // Every pair of sizes of a 40-leaf log: the proof verifies against the recomputed roots; a
        // root of another history (one leaf changed before the old size) or another size does not.
        let many = (0..<40).map { Merkle.leafHash([UInt8($0), UInt8(truncatingIfNeeded: $0 &* 7)]) }
        var forked = many
        for size in UInt64(0)...40 {
            for old in UInt64(0)...size {
                let p = proof(old, size, many)
                let oldRoot = Self.mth(many.prefix(Int(old)))
                let root = Self.mth(many.prefix(Int(size)))
                #expect(Merkle.verifyConsistency(old: old, oldRoot: oldRoot, size: size, root: root, proof: p), "\(old) → \(size)")
                guard old > 0 else { continue }
                forked[Int(old) - 1] = Merkle.leafHash([0xff])
                let forkedRoot = Self.mth(forked.prefix(Int(size)))
                forked[Int(old) - 1] = many[Int(old) - 1]
                #expect(!Merkle.verifyConsistency(old: old, oldRoot: oldRoot, size: size, root: forkedRoot, proof: p), "fork \(old) → \(size)")
                if old < size {
                    #expect(!Merkle.verifyConsistency(old: old, oldRoot: oldRoot, size: size - 1,
                                                      root: Self.mth(many.prefix(Int(size) - 1)), proof: p) || p.isEmpty,
                            "wrong size \(old) → \(size)")
                    var bad = p
                    if !bad.isEmpty {
                        bad[bad.count - 1][0] ^= 1
                        #expect(!Merkle.verifyConsistency(old: old, oldRoot: oldRoot, size: size, root: root, proof: bad))
                    }
                }
            }
        }
        // A smaller tree never extends a larger one; a proof of equal sizes is empty.
        #expect(!Merkle.verifyConsistency(old: 5, oldRoot: Self.mth(many.prefix(5)), size: 4, root: Self.mth(many.prefix(4)), proof: []))
        #expect(!Merkle.verifyConsistency(old: 4, oldRoot: Self.mth(many.prefix(4)), size: 4, root: Self.mth(many.prefix(4)),
                                          proof: [Self.mth(many.prefix(4))]))
    }

    @Test("the incremental tree equals a from-scratch recomputation after appends in batches of any size; its state round-trips")
    func incremental() throws {
        var state: UInt64 = 99
        var hashes: [[UInt8]] = []
        var tree = MerkleFrontier()
        for _ in 0..<60 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            for _ in 0..<Int(state >> 59) {
                hashes.append(Merkle.leafHash(withUnsafeBytes(of: UInt64(hashes.count)) { Array($0) }))
                tree.append(leafHash: hashes.last!)
            }
            #expect(tree.root == Self.mth(hashes[...]), "size \(hashes.count)")
            #expect(try MerkleFrontier(decoding: tree.encoded()) == tree)
        }
        #expect(hashes.count > 300)
        #expect(throws: MerkleError.self) { try MerkleFrontier(decoding: Array(tree.encoded().dropLast())) }
        // A prefix's subtrees appended as subtrees give the same tree as its leaves.
        var prefix = MerkleFrontier()
        for hash in hashes.prefix(13) { prefix.append(leafHash: hash) }
        var rebuilt = MerkleFrontier()
        for (size, node) in zip(prefix.subtreeSizes, prefix.nodes) { rebuilt.append(subtree: node, leaves: size) }
        for hash in hashes.dropFirst(13) { rebuilt.append(leafHash: hash) }
        #expect(rebuilt == tree)
    }

    @Test("signed notes: C2SP key ids and verifier keys, a signature that verifies, and every alteration refused")
    func signedNotes() throws {
        let signer = try NoteSigner(name: "log.example", key: try Ed25519Key.generate())
        let round = try NoteSigner(encoded: signer.encoded)
        #expect(round.key.seed == signer.key.seed && round.keyID == signer.keyID)
        let verifier = try NoteVerifier(encoded: signer.verifier.encoded)
        #expect(verifier == signer.verifier)
        var hasher = SHA256Hasher()
        hasher.update(Array("log.example".utf8) + [0x0A, 0x01] + signer.key.publicKey)
        #expect(signer.keyID == hasher.finalize { Array($0.prefix(4)) })
        let checkpoint = Checkpoint(origin: "partner-export/log.example", size: 7, root: Array(repeating: 9, count: 32))
        let note = try signer.sign(checkpoint.text)
        #expect(note.hasPrefix("partner-export/log.example\n7\n") && note.contains("\n\n\u{2014} log.example "))
        #expect(try Checkpoint(note: note, verifier: verifier) == checkpoint)
        // After a prune, the extension line says how much of the log is gone.
        let afterPrune = Checkpoint(origin: checkpoint.origin, size: 7, root: checkpoint.root, pruned: 3)
        #expect(afterPrune.text.hasSuffix("\npruned 3\n") && !checkpoint.text.contains("pruned"))
        #expect(try Checkpoint(note: try signer.sign(afterPrune.text), verifier: verifier) == afterPrune)
        #expect(throws: SignedNoteError.self) { try Checkpoint(note: note.replacingOccurrences(of: "\n7\n", with: "\n8\n"), verifier: verifier) }
        let other = try NoteSigner(name: "log.example", key: try Ed25519Key.generate())
        #expect(throws: SignedNoteError.self) { try Checkpoint(note: try other.sign(checkpoint.text), verifier: verifier) }
        #expect(throws: SignedNoteError.self) { try NoteVerifier(encoded: "log.example+00000000+" + Data([1] + signer.key.publicKey).base64EncodedString()) }
        #expect(throws: SignedNoteError.self) { try NoteSigner(name: "two words", key: signer.key) }
    }
}
