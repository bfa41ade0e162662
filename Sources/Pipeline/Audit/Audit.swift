import ExportCore
import Foundation
import Ledger

/// The tamper-evident disclosure log's operations (docs/audit.md): the signing key, signed
/// checkpoints kept beside the ledger, verification from the rows themselves, and inclusion proofs.
public struct Audit {
    /// Where the signing key and the checkpoints live.
    public struct Files: Sendable {
        public var keyPath: String
        public var checkpointsFolder: String
        /// Where the newest signed checkpoint is remembered (``Audit/lastSignedPath``).
        public var lastSignedPath: String

        /// `audit.key` and `checkpoints/` in the state folder; `PARTNER_EXPORT_AUDIT_KEY_FILE` moves the key,
        /// `PARTNER_EXPORT_AUDIT_LAST_FILE` the record of the newest checkpoint (default: beside the key).
        public init(stateFolder: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
            keyPath = environment["PARTNER_EXPORT_AUDIT_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
                ?? Paths.join(stateFolder, "audit.key")
            checkpointsFolder = Paths.join(stateFolder, "checkpoints")
            lastSignedPath = environment["PARTNER_EXPORT_AUDIT_LAST_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? keyPath + ".last"
        }
    }

    public let files: Files

    public init(files: Files) { self.files = files }

    // MARK: - The key

    /// Makes the signing key (refusing to replace one: old checkpoints are verified with it).
    public func initialize(name: String) throws -> NoteVerifier {
        let signer = try NoteSigner(name: name, key: try Ed25519Key.generate())
        guard !FileManager.default.fileExists(atPath: files.keyPath) else {
            throw ExportError.configuration("\(files.keyPath) already holds a signing key; to rotate it, move it away first "
                                            + "(keep its verifier key: the checkpoints it signed stay verifiable with it)")
        }
        try PrivateFile.create(files.keyPath, contents: Array((signer.encoded + "\n").utf8))
        return signer.verifier
    }

    /// The signing key, or nil when `audit init` has not been run.
    public func signer() throws -> NoteSigner? {
        guard FileManager.default.fileExists(atPath: files.keyPath) else { return nil }
        let text: String
        do {
            text = try String(contentsOfFile: files.keyPath, encoding: .utf8)
        } catch {
            throw ExportError.configuration("the audit signing key \(files.keyPath) cannot be read")
        }
        do {
            return try NoteSigner(encoded: text)
        } catch {
            throw ExportError.configuration("the audit signing key \(files.keyPath) is not a signer key: \(error)")
        }
    }

    public static func origin(name: String) -> String { "partner-export/\(name)" }

    // MARK: - Checkpoints

    /// The kept checkpoints, oldest first: by the tree size each names (the log only grows), then by
    /// name (the time they were signed).
    public func stored() throws -> [(path: String, note: String)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: files.checkpointsFolder) else { return [] }
        let notes = try names.filter { $0.hasSuffix(".txt") }.sorted().map { name in
            let path = Paths.join(files.checkpointsFolder, name)
            return (path: path, note: try Self.read(path))
        }
        func size(_ note: String) -> UInt64 { note.split(separator: "\n").dropFirst().first.flatMap { UInt64($0) } ?? 0 }
        return notes.enumerated().sorted { (size($0.element.note), $0.offset) < (size($1.element.note), $1.offset) }.map(\.element)
    }

    /// A checkpoint is a few hundred bytes: a file over this is not one (and is never read whole).
    public static let checkpointLimit = 64 << 10

    /// A checkpoint file's text: a regular file of at most ``checkpointLimit`` bytes of UTF-8.
    static func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw ExportError.usage("the checkpoint \(path) cannot be read: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw ExportError.usage("the checkpoint \(path) is not a regular file")
        }
        guard info.st_size <= Self.checkpointLimit else {
            throw ExportError.usage("\(path) holds \(info.st_size) bytes: a checkpoint is a few hundred bytes (at most \(Self.checkpointLimit / 1024) KiB "
                                    + "are read); is it the right file?")
        }
        var bytes = [UInt8](repeating: 0, count: Self.checkpointLimit + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ExportError.usage("the checkpoint \(path) cannot be read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            count += n
        }
        guard count <= Self.checkpointLimit, let text = String(validating: bytes[..<count], as: UTF8.self) else {
            throw ExportError.usage("the checkpoint \(path) is not a checkpoint (not UTF-8 text of at most \(Self.checkpointLimit / 1024) KiB)")
        }
        return text
    }

    // MARK: - Verification

    /// What `audit verify` found.
    public struct Verification: Sendable {
        public var entries: UInt64 = 0
        public var pruned: UInt64 = 0
        public var root: [UInt8] = []
        /// One line per checkpoint that holds.
        public var held: [String] = []
        /// One line per problem, saying which checkpoint or entry.
        public var problems: [String] = []
        /// Checkpoints about entries that were pruned (not checkable from the rows).
        public var unchecked: [String] = []
        /// Rollbacks accepted on purpose (`audit accept-rollback`), as the signed checkpoints record them.
        public var rollbacks: [String] = []

        public var ok: Bool { problems.isEmpty }
    }

    /// Recomputes the tree from the rows and checks it against the stored tree state, every kept
    /// checkpoint and every one in `extra` (files).
    public func verify(_ ledger: any AuditLog, extra: [String], verifier given: NoteVerifier? = nil) throws -> Verification {
        // The stored tree and the rows read in one snapshot: a run committing meanwhile is not "rows changed".
        try ledger.readSnapshot { try verifyInSnapshot(ledger, extra: extra, verifier: given) }
    }

    private func verifyInSnapshot(_ ledger: any AuditLog, extra: [String], verifier given: NoteVerifier?) throws -> Verification {
        var result = Verification()
        // The kept checkpoints with the signing key's verifier; those given with `--key`'s, if given (a
        // rotated-out key's checkpoints stay verifiable with its verifier key).
        let own = try signer()?.verifier
        guard own != nil || given != nil else {
            throw ExportError.configuration("no verifier key: run 'partner-export audit init' (or pass --key VERIFIER)")
        }
        var notes: [(path: String, note: String, verifier: NoteVerifier)] = []
        if let own { notes += try stored().map { ($0.path, $0.note, own) } }
        if let verifier = given ?? own { notes += try extra.map { ($0, try Self.read($0), verifier) } }
        var checkpoints: [(path: String, checkpoint: Checkpoint)] = []
        for (path, note, verifier) in notes {
            let origin = Self.origin(name: verifier.name)
            do {
                let checkpoint = try Checkpoint(note: note, verifier: verifier)
                guard checkpoint.origin == origin else {
                    result.problems.append("checkpoint \(path) is of another log (\(checkpoint.origin), not \(origin))")
                    continue
                }
                checkpoints.append((path, checkpoint))
                if let rollback = Self.acceptedRollback(checkpoint) {
                    result.rollbacks.append("\(path): the log went back from \(rollback.from) entries to \(checkpoint.size), because: "
                                            + rollback.reason)
                }
            } catch let error as SignedNoteError {
                result.problems.append("checkpoint \(path) is not a valid checkpoint of this log: \(error.description)")
            }
        }
        let state = try ledger.logState()
        result.pruned = state.pruned.size
        // The roots at every size a checkpoint names, recomputed from the rows in index order.
        let sizes = Set(checkpoints.map(\.checkpoint.size))
        var roots: [UInt64: [UInt8]] = [:]
        var tree = state.pruned
        if sizes.contains(tree.size) { roots[tree.size] = tree.root }
        var broken: String?
        try ledger.forEachLogLeaf(from: state.pruned.size) { row in
            guard broken == nil else { return }
            guard let index = row.index else {
                broken = "a disclosure row of customer \(row.customerID) has no place in the log (inserted by hand?)"
                return
            }
            if index < Int64(tree.size) {
                broken = "entry \(index) appears twice (customer \(row.customerID)): rows were inserted or renumbered"
                return
            }
            if index > Int64(tree.size) {
                broken = "entries \(tree.size)…\(index - 1) are missing: rows were deleted (the first missing entry: \(tree.size))"
                return
            }
            tree.append(leafHash: Merkle.leafHash(row.leaf))
            if sizes.contains(tree.size) { roots[tree.size] = tree.root }
        }
        result.entries = tree.size
        result.root = tree.root
        if let broken { result.problems.append(broken) }
        // Rows numbered below what the ledger says was pruned are read by nothing else: they were put there.
        let strays = try ledger.logRows(before: state.pruned.size)
        if strays.count > 0 {
            result.problems.append("\(strays.count) disclosure row(s) (the first of customer \(strays.firstCustomer ?? 0)) are numbered "
                                   + "before entry \(state.pruned.size), inside the pruned part of the log or below 0: they were inserted")
        }
        if broken == nil, tree != state.tree {
            result.problems.append(tree.size < state.tree.size
                ? "the ledger's stored tree counts \(state.tree.size) entries, its rows give \(tree.size): entries from \(tree.size) on are missing"
                : "the ledger's stored tree (\(state.tree.size) entries) does not match its rows (\(tree.size) entries): "
                    + "rows were changed after they were recorded")
        }
        // A prune is signed: a pruned prefix no checkpoint of this key records is rows deleted by hand.
        if state.pruned.size > 0, !checkpoints.contains(where: { $0.checkpoint.pruned == state.pruned.size }) {
            result.problems.append("the ledger says its first \(state.pruned.size) entries were pruned, but no checkpoint of this log "
                                   + "records that prune: if 'partner-export prune' did not remove them, rows were deleted")
        }
        // Each checkpoint against the recomputed tree; where one fails, the last one that holds
        // before it says from where the rows differ.
        let ordered = checkpoints.sorted { $0.checkpoint.size < $1.checkpoint.size }
        var goodBelow = state.pruned.size
        for (path, checkpoint) in ordered {
            if broken != nil, checkpoint.size > tree.size {
                result.unchecked.append("checkpoint \(path) (\(checkpoint.size) entries) cannot be checked past the problem above")
            } else if checkpoint.size < state.pruned.size {
                result.unchecked.append("checkpoint \(path) (\(checkpoint.size) entries) covers only entries prune removed")
            } else if checkpoint.size > tree.size {
                result.problems.append("checkpoint \(path) signed \(checkpoint.size) entries; the ledger's rows give \(tree.size): "
                                       + "entries from \(tree.size) on were removed (or the rows stop being readable there)")
            } else if roots[checkpoint.size] != checkpoint.root {
                result.problems.append("checkpoint \(path) (\(checkpoint.size) entries) does not match the rows: an entry was "
                                       + "altered, removed, reordered or inserted; the first entry where it can tell: \(goodBelow)")
            } else {
                goodBelow = max(goodBelow, checkpoint.size)
                result.held.append("checkpoint \(path): \(checkpoint.size) entries, root matches")
            }
        }
        return result
    }

    /// The rollback a checkpoint records as accepted (its extension lines), if any.
    static func acceptedRollback(_ checkpoint: Checkpoint) -> (from: UInt64, reason: String)? {
        guard let line = checkpoint.extensions.first(where: { $0.hasPrefix("rollback-accepted from ") }),
              let from = line.split(separator: " ").dropFirst(2).first.flatMap({ UInt64($0) }) else { return nil }
        let reason = checkpoint.extensions.first { $0.hasPrefix("rollback-reason ") }.map { String($0.dropFirst(16)) } ?? ""
        return (from, reason)
    }

    // MARK: - Receipts

    /// An entry's receipt: its leaf, and its inclusion proof in the tree of the newest checkpoint.
    public struct Receipt: Sendable {
        public let leafIndex: UInt64
        public let leaf: [UInt8]
        public let treeSize: UInt64
        public let rootHash: [UInt8]
        public let inclusionProof: [[UInt8]]
        public let checkpoint: String
    }

    /// Receipts for the entries at `indices` against the newest kept checkpoint (entries recorded
    /// after it have none yet). One pass over the log's rows.
    public func receipts(_ ledger: any AuditLog, indices: [UInt64]) throws -> [UInt64: Receipt] {
        try ledger.readSnapshot { try receiptsInSnapshot(ledger, indices: indices) }
    }

    private func receiptsInSnapshot(_ ledger: any AuditLog, indices: [UInt64]) throws -> [UInt64: Receipt] {
        guard let signer = try signer() else {
            throw ExportError.configuration("no signing key, so no checkpoint: run 'partner-export audit init', then a run")
        }
        guard let newest = try stored().last else {
            throw ExportError.configuration("no checkpoint yet: 'partner-export audit checkpoint' signs one")
        }
        let checkpoint = try Checkpoint(note: newest.note, verifier: signer.verifier)
        let state = try ledger.logState()
        let wanted = indices.filter { $0 < checkpoint.size && $0 >= state.pruned.size }
        guard !wanted.isEmpty else { return [:] }
        var builder = try ProofBuilder(inclusionOf: wanted, size: checkpoint.size, pruned: state.pruned)
        var leaves: [UInt64: [UInt8]] = [:]
        let wantedSet = Set(wanted)
        try ledger.forEachLogLeaf(from: state.pruned.size) { row in
            guard let index = row.index, index >= 0, UInt64(index) < checkpoint.size else { return }
            let position = UInt64(index)
            let hash = Merkle.leafHash(row.leaf)
            if wantedSet.contains(position) { leaves[position] = Array(row.leaf) }
            try builder.add(index: position, leafHash: hash)
        }
        var receipts: [UInt64: Receipt] = [:]
        for (p, index) in wanted.enumerated() {
            guard let leaf = leaves[index], let proof = builder.proof(p),
                  Merkle.root(fromProof: proof, leafHash: Merkle.leafHash(leaf), index: index, size: checkpoint.size) == checkpoint.root else {
                throw ExportError.ledger("the log's rows do not match its newest checkpoint \(newest.path): run 'partner-export audit verify'")
            }
            receipts[index] = Receipt(leafIndex: index, leaf: leaf, treeSize: checkpoint.size, rootHash: checkpoint.root,
                                      inclusionProof: proof, checkpoint: newest.note)
        }
        return receipts
    }
}

/// Subtree hashes over given ranges of leaves, for several proofs at once, in one pass over the
/// leaves: inclusion proofs (RFC 9162 §2.1.3.1), consistency proofs (§2.1.4.1) and roots. Each
/// range's hash is built as the leaves stream by; subtrees over the pruned prefix come from its
/// stored state.
struct ProofBuilder {
    private struct Item {
        let range: Range<UInt64>
        let proof: Int
        let slot: Int
        var tree = MerkleFrontier()
    }

    private var items: [Item] = []
    private var order: [Int] = []
    private var next = 0
    private var active: [Int] = []
    private var expected: UInt64
    private let proofCount: Int

    /// `proofs[p]` lists the ranges whose hashes make proof `p`, in order.
    init(proofs: [[Range<UInt64>]], pruned: MerkleFrontier) throws {
        expected = pruned.size
        proofCount = proofs.count
        // Where each stored subtree of the pruned prefix sits.
        var prunedNodes: [(start: UInt64, leaves: UInt64, hash: [UInt8])] = []
        var start: UInt64 = 0
        for (leaves, hash) in zip(pruned.subtreeSizes, pruned.nodes) {
            prunedNodes.append((start, leaves, hash))
            start += leaves
        }
        for (p, ranges) in proofs.enumerated() {
            for (slot, range) in ranges.enumerated() {
                var item = Item(range: range, proof: p, slot: slot)
                for node in prunedNodes where node.start < range.upperBound && node.start + node.leaves > range.lowerBound {
                    guard node.start >= range.lowerBound, node.start + node.leaves <= range.upperBound else {
                        throw ExportError.ledger("the pruned part of the log cannot give this proof")
                    }
                    item.tree.append(subtree: node.hash, leaves: node.leaves)
                }
                items.append(item)
            }
        }
        order = items.indices.sorted { items[$0].range.lowerBound < items[$1].range.lowerBound }
    }

    /// Inclusion proofs for the leaves at `indices` in the tree of `size` leaves.
    init(inclusionOf indices: [UInt64], size: UInt64, pruned: MerkleFrontier) throws {
        try self.init(proofs: indices.map { Merkle.inclusionRanges(index: $0, size: size) }, pruned: pruned)
    }

    /// The leaves must come in index order, each once.
    mutating func add(index: UInt64, leafHash: [UInt8]) throws {
        guard index == expected else { throw ExportError.ledger("the log's entries are not numbered 0, 1, 2…: run 'partner-export audit verify'") }
        expected += 1
        while next < order.count, items[order[next]].range.lowerBound <= index {
            if items[order[next]].range.upperBound > index { active.append(order[next]) }
            next += 1
        }
        active.removeAll { items[$0].range.upperBound <= index }
        for i in active where items[i].range.contains(index) { items[i].tree.append(leafHash: leafHash) }
    }

    /// Proof `p`'s hashes, once every leaf of its ranges came.
    func proof(_ p: Int) -> [[UInt8]]? {
        guard p < proofCount else { return nil }
        let mine = items.filter { $0.proof == p }.sorted { $0.slot < $1.slot }
        guard mine.allSatisfy({ $0.tree.size == UInt64($0.range.count) }) else { return nil }
        return mine.map(\.tree.root)
    }
}

/// Owner-only files and folders, never replacing what is there.
enum PrivateFile {
    static func create(_ path: String, contents: [UInt8]) throws {
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ExportError.configuration("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == contents.count, fsync(fd) == 0 else {
            unlink(path)
            throw ExportError.configuration("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func makeFolder(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw ExportError.configuration("cannot create the folder \(path): \(String(cString: strerror(errno)))")
        }
    }
}
