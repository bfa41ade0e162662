import ExportCore
import Foundation
import Ledger

/// Never sign over a rewritten history (docs/audit.md, "A ledger restored from a backup"): the
/// signer remembers the newest checkpoint it signed beside its key, outside the ledger and its
/// folder (`<key file>.last`, owner-only). Before every signature, and before a run, rerun or prune
/// sends or deletes anything, the ledger's log must extend that checkpoint and every checkpoint this
/// key signed that is kept in `checkpoints/`; otherwise nothing is signed or sent (`audit.rollback`,
/// exit 2). `audit accept-rollback` is the one way on, itself signed and recorded beside the key.
extension Audit {
    /// What `<key file>.last` holds: the newest checkpoint this key signed and the tree's perfect
    /// subtrees at its size (so a later check needs only the entries recorded since).
    struct LastSigned: Codable {
        var note: String
        /// Base64 of ``MerkleFrontier/encoded()`` at the checkpoint's size.
        var frontier: String
        /// The signing key's id (hex): a new key does not read an older key's record.
        var keyID: String
        var signedAt: String
        /// The newest delivery acknowledged then (nil: none yet).
        var newestDelivery: String?

        enum CodingKeys: String, CodingKey {
            case note, frontier
            case keyID = "key_id"
            case signedAt = "signed_at"
            case newestDelivery = "newest_delivery"
        }
    }

    /// A checkpoint this key signed that the log must extend.
    struct Anchor {
        let path: String
        let checkpoint: Checkpoint
        /// The tree at the checkpoint's size, when it is known (from `.last`).
        let frontier: MerkleFrontier?
        /// The newest delivery acknowledged when it was signed (from `.last`): its row must still be there.
        var newestDelivery: String? = nil
    }

    /// Where the newest signed checkpoint is remembered.
    public var lastSignedPath: String { files.lastSignedPath }
    /// Accepted rollbacks, one JSON line each (owner-only, beside the key).
    public var rollbacksPath: String { files.keyPath + ".rollbacks" }

    // MARK: - The check

    /// Throws `audit.rollback` when the ledger's log no longer extends a checkpoint this key signed
    /// (a ledger restored from a backup, rows deleted, a rewritten tree). Nothing to check without a key.
    public func checkHistory(_ ledger: any AuditLog) throws {
        guard let signer = try signer() else { return }
        try withKeyLock {
            try ledger.readSnapshot {
                let state = try ledger.logState()
                if let problem = try historyProblem(ledger, signer: signer, state: state) { throw ExportError.auditRollback(problem) }
            }
        }
    }

    /// Signs a checkpoint of the log as it stands — only when it extends every checkpoint this key
    /// signed — keeps it in the checkpoints folder (unless the newest one already says the same) and
    /// remembers it beside the key. Nil when there is no signing key.
    @discardableResult
    public func checkpoint(_ ledger: any AuditLog, at time: Date) throws -> Signed? {
        guard let signer = try signer() else {
            // A log that was being signed and no longer is: say so (a moved or deleted key).
            if let kept = try? stored(), !kept.isEmpty {
                throw ExportError.configuration("the disclosure log's signing key \(files.keyPath) is missing, so no checkpoint was "
                                                + "signed; restore it, or start a new key (docs/runbook.md, section 6)")
            }
            return nil
        }
        return try withKeyLock {
            let (state, delivered) = try ledger.readSnapshot { () throws -> (LogState, String?) in
                let state = try ledger.logState()
                if let problem = try historyProblem(ledger, signer: signer, state: state) { throw ExportError.auditRollback(problem) }
                return (state, try ledger.newestDelivered())
            }
            let checkpoint = Checkpoint(origin: Self.origin(name: signer.name), size: state.tree.size, root: state.tree.root,
                                        pruned: state.pruned.size)
            if let newest = try stored().last, let old = try? Checkpoint(note: newest.note, verifier: signer.verifier),
               old.sameTree(as: checkpoint) {
                // Nothing new to sign; the record beside the key still says so (a ledger from before it existed).
                return Signed(path: newest.path, note: newest.note,
                              warning: remembering(newest.note, tree: state.tree, delivered: delivered, signer: signer, at: time))
            }
            let note = try signer.sign(checkpoint.text)
            let path = try keep(note, size: checkpoint.size, at: time)
            return Signed(path: path, note: note,
                          warning: remembering(note, tree: state.tree, delivered: delivered, signer: signer, at: time))
        }
    }

    /// A signed checkpoint, kept; `warning` when it could not be remembered beside the key.
    public struct Signed: Sendable {
        public let path: String
        public let note: String
        public let warning: ExportError?
    }

    /// Remembers the checkpoint (``remember(_:tree:delivered:signer:at:)``); a failure is a warning: the
    /// checkpoint is signed and kept, but the next rollback would go unseen until `.last` can be written.
    private func remembering(_ note: String, tree: MerkleFrontier, delivered: String?, signer: NoteSigner, at time: Date) -> ExportError? {
        do {
            try remember(note, tree: tree, delivered: delivered, signer: signer, at: time)
            return nil
        } catch {
            return ExportError.environment("the checkpoint was signed and kept, but \(lastSignedPath), the record of it that lets "
                                           + "a rolled-back ledger be refused, cannot be written (\(error)): make that folder writable "
                                           + "for this user, or set PARTNER_EXPORT_AUDIT_LAST_FILE to a writable file outside the state folder")
        }
    }

    /// Why the log as `state` holds it does not extend what this key signed, or nil when it does.
    /// Cheap when nothing is wrong: the newest checkpoint's tree from `.last`, then the entries since.
    func historyProblem(_ ledger: any AuditLog, signer: NoteSigner, state: LogState) throws -> String? {
        let anchors = try self.anchors(signer: signer)
        // One key, two roots for one size: it signed a fork (before this check existed).
        var bySize: [UInt64: Anchor] = [:]
        for anchor in anchors {
            if let other = bySize[anchor.checkpoint.size], other.checkpoint.root != anchor.checkpoint.root {
                return "\(other.path) and \(anchor.path) are both signed by this key for \(anchor.checkpoint.size) entries, with "
                    + "different roots: the key has signed two histories. " + Self.rollbackAdvice
            }
            if bySize[anchor.checkpoint.size]?.frontier == nil { bySize[anchor.checkpoint.size] = anchor }
        }
        let size = state.tree.size
        // Every checkpoint larger than the log: the entries it covered are gone.
        if let beyond = bySize.values.filter({ $0.checkpoint.size > size }).max(by: { $0.checkpoint.size < $1.checkpoint.size }) {
            return "the ledger's disclosure log holds \(size) entries, but \(beyond.path) was signed for \(beyond.checkpoint.size): "
                + "entries \(size)…\(beyond.checkpoint.size - 1) are not in this ledger (restored from a backup? rows deleted?); "
                + "the first entry missing: \(size). " + Self.rollbackAdvice
        }
        guard let newest = bySize.values.max(by: { $0.checkpoint.size < $1.checkpoint.size }) else { return nil }
        // A checkpoint over entries prune has removed since cannot be checked from rows (as audit verify says):
        // the log must only not have shrunk below it.
        if newest.checkpoint.size < state.pruned.size { return nil }
        // The rows behind the stored tree: the newest delivery it remembers is still in the ledger (a backup
        // restored with the newer tree state written back would keep the sizes and roots, not the rows).
        // (A prune that reached the checkpoint's size may have removed that delivery with the entries it held.)
        if let canary = newest.newestDelivery, state.pruned.size < newest.checkpoint.size, try !ledger.hasDelivered(canary) {
            return "the ledger's disclosure log says it holds \(size) entries, but delivery \(canary), acknowledged before "
                + "\(newest.path) was signed, is not in it: its rows were replaced by older ones (a backup restored under a newer "
                + "tree state?); the first entry where it can tell: \(state.pruned.size). " + Self.rollbackAdvice
        }
        if newest.checkpoint.size == size {
            if newest.checkpoint.root == state.tree.root { return nil }
            return try differs(newest, ledger: ledger, state: state, anchors: Array(bySize.values))
        }
        // The log grew since: the entries after the checkpoint must carry its tree to the ledger's.
        if let frontier = newest.frontier, frontier.size == newest.checkpoint.size, frontier.root == newest.checkpoint.root,
           state.pruned.size <= frontier.size {
            var tree = frontier
            var numbered = true
            try ledger.forEachLogLeaf(from: frontier.size) { row in
                guard numbered, row.index == Int64(tree.size) else {
                    numbered = false
                    return
                }
                tree.appendLeaf(row.leaf)
            }
            if numbered && tree == state.tree { return nil }
        } else if let roots = try? recomputedRoots(ledger, state: state, sizes: [newest.checkpoint.size]),
                  roots.tree == state.tree, roots.at[newest.checkpoint.size] == newest.checkpoint.root {
            return nil
        }
        return try differs(newest, ledger: ledger, state: state, anchors: Array(bySize.values))
    }

    static let rollbackAdvice = "Nothing was signed or sent. If this ledger was restored on purpose, 'partner-export audit "
        + "accept-rollback --to SIZE --reason TEXT' records that and goes on (docs/runbook.md, 'A ledger restored from a backup'); "
        + "otherwise run 'partner-export audit verify' and treat it as tampering"

    /// The message for a log that does not extend `anchor`: from the rows, the last checkpoint that
    /// still holds says from which entry on the history differs.
    private func differs(_ anchor: Anchor, ledger: any AuditLog, state: LogState, anchors: [Anchor]) throws -> String {
        let sizes = Set(anchors.map(\.checkpoint.size).filter { $0 <= state.tree.size && $0 >= state.pruned.size })
        var from = state.pruned.size
        if let roots = try? recomputedRoots(ledger, state: state, sizes: sizes) {
            for other in anchors where roots.at[other.checkpoint.size] == other.checkpoint.root {
                from = max(from, other.checkpoint.size)
            }
        }
        return "the ledger's disclosure log (\(state.tree.size) entries) does not extend \(anchor.path) (\(anchor.checkpoint.size) "
            + "entries, signed by this key): an entry was altered, removed or inserted, or the ledger was restored from another "
            + "history; the first entry where it can tell: \(from). " + Self.rollbackAdvice
    }

    /// The tree recomputed from the rows (from the pruned prefix's state on) and its roots at `sizes`.
    func recomputedRoots(_ ledger: any AuditLog, state: LogState, sizes: Set<UInt64>) throws
        -> (tree: MerkleFrontier, at: [UInt64: [UInt8]]) {
        var tree = state.pruned
        var roots: [UInt64: [UInt8]] = [:]
        if sizes.contains(tree.size) { roots[tree.size] = tree.root }
        try ledger.forEachLogLeaf(from: state.pruned.size) { row in
            guard row.index == Int64(tree.size) else { throw ExportError.ledgerDamaged("the log's entries are not numbered 0, 1, 2…") }
            tree.appendLeaf(row.leaf)
            if sizes.contains(tree.size) { roots[tree.size] = tree.root }
        }
        return (tree, roots)
    }

    /// The checkpoints this key signed: the one remembered beside it, and every kept one of this log.
    func anchors(signer: NoteSigner) throws -> [Anchor] {
        let origin = Self.origin(name: signer.name)
        var anchors: [Anchor] = []
        if let last = try lastSigned(signer: signer) { anchors.append(last) }
        for kept in try stored() {
            guard let checkpoint = try? Checkpoint(note: kept.note, verifier: signer.verifier), checkpoint.origin == origin else { continue }
            anchors.append(Anchor(path: kept.path, checkpoint: checkpoint, frontier: nil))
        }
        return anchors
    }

    /// The checkpoint remembered beside the key, when it is this key's.
    func lastSigned(signer: NoteSigner) throws -> Anchor? {
        guard let data = FileManager.default.contents(atPath: lastSignedPath) else { return nil }
        let record: LastSigned
        do {
            record = try JSONDecoder().decode(LastSigned.self, from: data)
        } catch {
            throw ExportError.auditRollback("\(lastSignedPath), the record of the newest checkpoint this key signed, cannot be "
                                            + "read; nothing was signed or sent. Restore it from a backup of the key's folder, or "
                                            + "accept the ledger as it is: " + Self.rollbackAdvice)
        }
        // A record of an earlier key (rotated, docs/runbook.md): not this key's history.
        guard record.keyID == signer.verifier.keyIDHex else { return nil }
        guard let checkpoint = try? Checkpoint(note: record.note, verifier: signer.verifier),
              let bytes = Data(base64Encoded: record.frontier), let frontier = try? MerkleFrontier(decoding: Array(bytes)),
              frontier.size == checkpoint.size, frontier.root == checkpoint.root else {
            throw ExportError.auditRollback("\(lastSignedPath) does not hold a checkpoint this key signed (altered?); nothing was "
                                            + "signed or sent. " + Self.rollbackAdvice)
        }
        return Anchor(path: lastSignedPath, checkpoint: checkpoint, frontier: frontier, newestDelivery: record.newestDelivery)
    }

    /// Writes `.last` (a new file renamed over the old one): the checkpoint just signed, with its tree.
    func remember(_ note: String, tree: MerkleFrontier, delivered: String?, signer: NoteSigner, at time: Date) throws {
        let record = LastSigned(note: note, frontier: Data(tree.encoded()).base64EncodedString(), keyID: signer.verifier.keyIDHex,
                                signedAt: Timestamps.rfc3339(time), newestDelivery: delivered)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let temporary = lastSignedPath + ".new"
        unlink(temporary)
        try PrivateFile.create(temporary, contents: Array(try encoder.encode(record)) + [0x0A])
        guard rename(temporary, lastSignedPath) == 0 else {
            unlink(temporary)
            throw ExportError.environment("cannot write \(lastSignedPath): \(String(cString: strerror(errno)))")
        }
    }

    /// Keeps a signed note in the checkpoints folder; returns its path.
    func keep(_ note: String, size: UInt64, at time: Date) throws -> String {
        try PrivateFile.makeFolder(files.checkpointsFolder)
        let stamp = Timestamps.identifier("checkpoint", at: time)
        var path = Paths.join(files.checkpointsFolder, "\(stamp)-\(size).txt")
        var n = 1
        while FileManager.default.fileExists(atPath: path) {
            n += 1
            path = Paths.join(files.checkpointsFolder, "\(stamp)-\(size)-\(n).txt")
        }
        try PrivateFile.create(path, contents: Array(note.utf8))
        return path
    }

    /// Runs `body` holding an exclusive lock on the signing key's file: two processes signing with one
    /// key (two workers on one machine) check and write `.last` one after the other, so neither reads
    /// a log older than the checkpoint the other just remembered.
    func withKeyLock<T>(_ body: () throws -> T) throws -> T {
        let fd = open(files.keyPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ExportError.configuration("the audit signing key \(files.keyPath) cannot be opened") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw ExportError.environment("cannot lock \(files.keyPath): \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    // MARK: - Accepting a rollback

    /// What `audit accept-rollback` did.
    public struct RollbackAcceptance: Sendable {
        /// The newest checkpoint of the history the ledger no longer extends.
        public let abandoned: (path: String, size: UInt64)
        public let size: UInt64
        /// The signed checkpoint that records the acceptance.
        public let checkpoint: String
        /// Where the kept checkpoints of the abandoned history went (nil: none were kept).
        public let movedTo: String?
        public let moved: Int
    }

    /// Accepts the ledger's log as it is (a backup restored on purpose): checks that `size` is its
    /// size and that its rows give its own tree, moves the kept checkpoints it does not extend aside
    /// (never deleted), signs a checkpoint that records the rollback and why, and appends the record
    /// to `<key file>.rollbacks`.
    public func acceptRollback(_ ledger: any AuditLog, size expected: UInt64, reason: String, by user: String,
                               at time: Date) throws -> RollbackAcceptance {
        let reason = Self.oneLine(reason)
        guard !reason.isEmpty else { throw ExportError.usage("--reason: say why the ledger was restored (it is signed and kept)") }
        guard let signer = try signer() else {
            throw ExportError.configuration("no signing key at \(files.keyPath): nothing was ever signed, so there is no rollback to accept")
        }
        return try withKeyLock {
            let (state, roots, problem) = try ledger.readSnapshot { () throws -> (LogState, (tree: MerkleFrontier, at: [UInt64: [UInt8]]), String?) in
                let state = try ledger.logState()
                let problem = try historyProblem(ledger, signer: signer, state: state)
                let sizes = Set(try self.anchors(signer: signer).map { $0.checkpoint.size })
                let roots: (tree: MerkleFrontier, at: [UInt64: [UInt8]])
                do {
                    roots = try recomputedRoots(ledger, state: state, sizes: sizes)
                } catch {
                    throw ExportError.ledgerDamaged("the ledger's disclosure log cannot be recomputed from its rows (\(error)): a rollback "
                                                    + "is accepted only over a ledger whose rows give its own tree; run 'partner-export audit verify'")
                }
                return (state, roots, problem)
            }
            guard expected == state.tree.size else {
                throw ExportError.usage("--to \(expected): the ledger's disclosure log holds \(state.tree.size) entries; to go on from "
                                        + "it as it is, say --to \(state.tree.size)")
            }
            guard problem != nil else {
                throw ExportError.usage("the ledger's disclosure log (\(state.tree.size) entries) extends every checkpoint this key signed: "
                                        + "there is no rollback to accept")
            }
            guard roots.tree == state.tree else {
                throw ExportError.ledgerDamaged("the ledger's rows do not give its own stored tree: a rollback is accepted only over a "
                                                + "ledger that holds together; run 'partner-export audit verify'")
            }
            // What the log no longer extends: kept checkpoints are moved aside; the newest is named in the record.
            let anchors = try self.anchors(signer: signer)
            let abandoned = anchors.filter { $0.checkpoint.size >= state.pruned.size && roots.at[$0.checkpoint.size] != $0.checkpoint.root }
            guard let newest = abandoned.max(by: { $0.checkpoint.size < $1.checkpoint.size }) else {
                throw ExportError.internalFailure("no checkpoint found that the log does not extend")
            }
            let stamp = Timestamps.identifier("rolled-back", at: time)
            let folder = Paths.join(files.checkpointsFolder, stamp)
            var moved = 0
            for anchor in abandoned where anchor.path != lastSignedPath {
                if moved == 0 { try PrivateFile.makeFolder(folder) }
                let name = URL(fileURLWithPath: anchor.path).lastPathComponent
                guard rename(anchor.path, Paths.join(folder, name)) == 0 else {
                    throw ExportError.environment("cannot move \(anchor.path) to \(folder): \(String(cString: strerror(errno)))")
                }
                moved += 1
            }
            let root = Data(newest.checkpoint.root).base64EncodedString()
            let checkpoint = Checkpoint(origin: Self.origin(name: signer.name), size: state.tree.size, root: state.tree.root,
                                        pruned: state.pruned.size,
                                        extensions: ["rollback-accepted from \(newest.checkpoint.size) \(root)", "rollback-reason \(reason)"])
            let note = try signer.sign(checkpoint.text)
            let path = try keep(note, size: checkpoint.size, at: time)
            try remember(note, tree: state.tree, delivered: try ledger.readSnapshot { try ledger.newestDelivered() }, signer: signer, at: time)
            try journal(RollbackRecord(at: Timestamps.rfc3339(time), by: user, fromSize: newest.checkpoint.size, fromRoot: root,
                                       toSize: state.tree.size, toRoot: Data(state.tree.root).base64EncodedString(), reason: reason,
                                       checkpoint: path, movedTo: moved > 0 ? folder : nil))
            return RollbackAcceptance(abandoned: (newest.path, newest.checkpoint.size), size: state.tree.size, checkpoint: path,
                                      movedTo: moved > 0 ? folder : nil, moved: moved)
        }
    }

    /// One accepted rollback, as `<key file>.rollbacks` keeps it.
    struct RollbackRecord: Codable {
        var at: String
        var by: String
        var fromSize: UInt64
        var fromRoot: String
        var toSize: UInt64
        var toRoot: String
        var reason: String
        var checkpoint: String
        var movedTo: String?

        enum CodingKeys: String, CodingKey {
            case at, by, reason, checkpoint
            case fromSize = "from_size"
            case fromRoot = "from_root"
            case toSize = "to_size"
            case toRoot = "to_root"
            case movedTo = "moved_to"
        }
    }

    private func journal(_ record: RollbackRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let line = Array(try encoder.encode(record)) + [0x0A]
        let fd = open(rollbacksPath, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ExportError.environment("cannot write \(rollbacksPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(fd) == 0 else {
            throw ExportError.environment("cannot write \(rollbacksPath): \(String(cString: strerror(errno)))")
        }
    }

    /// A reason as one line of printable text (it becomes a line of a signed note), at most 500 characters.
    static func oneLine(_ text: String) -> String {
        let scalars = text.unicodeScalars.map { scalar -> Character in
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned: " "
            default: Character(scalar)
            }
        }
        let words = String(scalars).split(whereSeparator: { $0 == " " })
        return String(words.joined(separator: " ").prefix(500))
    }
}
