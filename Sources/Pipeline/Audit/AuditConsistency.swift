import ExportCore
import Foundation
import Ledger

/// Consistency proofs (RFC 9162 §2.1.4): that a later checkpoint's tree extends an earlier one's, so
/// that anyone holding two checkpoints (a partner's copy, the privacy officer's) can tell an honest
/// log from a fork with the verifier key alone (`tools/verify_consistency.py`).
extension Audit {
    /// The proof that `new` extends `old`, with both checkpoints.
    public struct Consistency: Sendable {
        public struct End: Sendable {
            public let path: String
            public let note: String
            public let checkpoint: Checkpoint
        }

        public let old: End
        public let new: End
        public let proof: [[UInt8]]
    }

    /// Computes, from the ledger's rows, the proof that checkpoint `newPath` (default: the newest kept
    /// one) extends checkpoint `oldPath`; both must be this log's, signed by its key (or `verifier`'s).
    /// Throws `audit.inconsistent` (exit 1) when the log does not extend `old`.
    public func consistency(_ ledger: any AuditLog, old oldPath: String, new newPath: String?,
                            verifier given: NoteVerifier? = nil) throws -> Consistency {
        guard let verifier = try given ?? signer()?.verifier else {
            throw ExportError.configuration("no verifier key: run 'partner-export audit init' (or pass --key VERIFIER)")
        }
        func end(_ path: String) throws -> Consistency.End {
            let note = try Self.read(path)
            let checkpoint: Checkpoint
            do {
                checkpoint = try Checkpoint(note: note, verifier: verifier)
            } catch {
                throw ExportError.usage("\(path) is not a checkpoint signed by \(verifier.name)'s key \(verifier.keyIDHex): \(error)")
            }
            guard checkpoint.origin == Self.origin(name: verifier.name) else {
                throw ExportError.usage("\(path) is a checkpoint of another log (\(checkpoint.origin), not \(Self.origin(name: verifier.name)))")
            }
            return Consistency.End(path: path, note: note, checkpoint: checkpoint)
        }
        let old = try end(oldPath)
        guard let newest = try newPath ?? stored().last?.path else {
            throw ExportError.configuration("no checkpoint is kept yet to prove against: 'partner-export audit checkpoint' signs one")
        }
        let new = try end(newest)
        guard old.checkpoint.size <= new.checkpoint.size else {
            throw ExportError.usage("\(old.path) covers \(old.checkpoint.size) entries, more than \(new.path) (\(new.checkpoint.size)): "
                                    + "give the older checkpoint first")
        }
        return try ledger.readSnapshot {
            let state = try ledger.logState()
            guard new.checkpoint.size <= state.tree.size else {
                throw ExportError.auditInconsistent("\(new.path) was signed for \(new.checkpoint.size) entries, but the ledger's log holds "
                                                    + "\(state.tree.size): entries from \(state.tree.size) on are not in it")
            }
            guard old.checkpoint.size >= state.pruned.size else {
                throw ExportError.usage("\(old.path) covers only \(old.checkpoint.size) entries, and prune removed the first "
                                        + "\(state.pruned.size): its part of the log can no longer be proven from the rows")
            }
            let ranges = Merkle.consistencyRanges(old: old.checkpoint.size, size: new.checkpoint.size)
            var builder = try ProofBuilder(proofs: [ranges, [0..<old.checkpoint.size], [0..<new.checkpoint.size]], pruned: state.pruned)
            try ledger.forEachLogLeaf(from: state.pruned.size) { row in
                guard let index = row.index, index >= 0, UInt64(index) < new.checkpoint.size else { return }
                try builder.add(index: UInt64(index), leafHash: Merkle.leafHash(row.leaf))
            }
            guard let proof = builder.proof(0), let oldRoot = builder.proof(1)?.first, let newRoot = builder.proof(2)?.first else {
                throw ExportError.ledgerDamaged("the log's rows stop before entry \(new.checkpoint.size): run 'partner-export audit verify'")
            }
            guard newRoot == new.checkpoint.root else {
                throw ExportError.auditInconsistent("the ledger's rows do not give the root \(new.path) signed for \(new.checkpoint.size) "
                                                    + "entries: the log changed after it was signed (run 'partner-export audit verify')")
            }
            guard oldRoot == old.checkpoint.root,
                  Merkle.verifyConsistency(old: old.checkpoint.size, oldRoot: old.checkpoint.root, size: new.checkpoint.size,
                                           root: new.checkpoint.root, proof: proof) else {
                throw ExportError.auditInconsistent("the log signed in \(new.path) (\(new.checkpoint.size) entries) does not extend \(old.path) "
                                                    + "(\(old.checkpoint.size) entries): its first \(old.checkpoint.size) entries are "
                                                    + "not the ones \(old.path) signed (a fork, or a ledger rolled back and grown again)")
            }
            return Consistency(old: old, new: new, proof: proof)
        }
    }
}
