import ExportCore
import SQLite

/// The tamper-evident disclosure log (docs/audit.md): every row of `disclosures` is an entry with a
/// leaf index; the tree's state (`log_state`) is updated in the transaction that writes the entries.
extension SQLLedger: AuditLog {
    public func logState() throws -> LogState {
        try checked { try logState(forUpdate: false) }
    }

    /// The tree's state; `forUpdate`: locked until the transaction ends, for the transaction that grows it.
    func logState(forUpdate: Bool) throws -> LogState {
        do {
            let statement = try database.prepare("SELECT frontier, pruned FROM log_state WHERE id = 1" + (forUpdate ? database.forUpdate : ""))
            defer { statement.reset() }
            return try withExtendedLifetime(statement) {
                guard try statement.step(), let tree = statement.textBytes(0), let pruned = statement.textBytes(1) else {
                    throw LedgerError.damaged("the ledger \(location) has no state for its disclosure log")
                }
                return LogState(tree: try MerkleFrontier(decoding: Array(tree)), pruned: try MerkleFrontier(decoding: Array(pruned)))
            }
        }
    }

    /// Every entry from index `from` on, in index order, as its leaf bytes; rows without an index
    /// (which no version writes) come first, with `index` nil.
    public func forEachLogLeaf(from: UInt64, _ body: (LogLeafRow) throws -> Void) throws {
        try checked { try leaves(from: from, before: nil, body) }
    }

    func leaves(from: UInt64, before: UInt64?, _ body: (LogLeafRow) throws -> Void) throws {
        do {
            let statement = try database.prepareStreaming("""
                SELECT x.log_index, x.kind, x.customer_id, x.scope, x.granted_at, x.reason, x.delivery,
                       d.partner, d.id, d.fields, d.key_field, d.delivered_at
                FROM disclosures AS x JOIN deliveries AS d ON d.seq = x.delivery
                WHERE (x.log_index IS NULL OR x.log_index >= ?1) AND (CAST(?2 AS BIGINT) IS NULL OR x.log_index < ?2) ORDER BY x.log_index NULLS FIRST
                """)
            try statement.bind([.integer(Int64(bitPattern: from)), before.map { .integer(Int64(bitPattern: $0)) } ?? .null])
            var writers = LeafWriters()
            var leaf: [UInt8] = []
            while try statement.step() {
                let index: Int64? = statement.isNull(0) ? nil : statement.int64(0)
                let writer = try writers.writer(for: statement)
                leaf.removeAll(keepingCapacity: true)
                let empty = UnsafeRawBufferPointer(start: nil, count: 0)
                writer.write(index: UInt64(bitPattern: index ?? -1), customerID: statement.int64(2),
                             scope: statement.textBytes(3) ?? empty, grantedAt: statement.textBytes(4) ?? empty, into: &leaf)
                try leaf.withUnsafeBytes { try body(LogLeafRow(index: index, customerID: statement.int64(2), leaf: $0)) }
            }
            statement.reset()
        }
    }

    public func newestDelivered() throws -> String? {
        try checked {
            try database.prepare("SELECT id FROM deliveries WHERE status = 'delivered' ORDER BY delivered_at DESC, seq DESC LIMIT 1")
                .firstRowBound([]) { try $0.text("id") }
        }
    }

    public func hasDelivered(_ id: String) throws -> Bool {
        try checked { (try database.scalarInt("SELECT count(*) FROM deliveries WHERE id = ? AND status = 'delivered'", [.text(id)]) ?? 0) > 0 }
    }

    public func readSnapshot<T>(_ body: () throws -> T) throws -> T {
        try checked { try database.readSnapshot(body) }
    }

    public func logRows(before index: UInt64) throws -> (count: Int, firstCustomer: Int64?) {
        try checked {
            let statement = try database.prepare("SELECT count(*), min(customer_id) FROM disclosures WHERE log_index < ?1")
            try statement.bind([.integer(Int64(bitPattern: index))])
            return try withExtendedLifetime(statement) {
                guard try statement.step() else { return (0, nil) }
                return (Int(statement.int64(0)), statement.isNull(1) ? nil : statement.int64(1))
            }
        }
    }

    /// Inside prune's transaction: the entries before `boundary` go into the pruned prefix's state.
    func prunePrefix(before boundary: UInt64) throws {
        var state = try logState()
        guard boundary > state.pruned.size else { return }
        try leaves(from: state.pruned.size, before: boundary) { row in
            guard let index = row.index, index == Int64(state.pruned.size) else {
                throw LedgerError.damaged("the disclosure log of \(location) is not numbered 0, 1, 2…: run 'partner-export audit verify' before pruning")
            }
            state.pruned.append(leafHash: Merkle.leafHash(row.leaf))
        }
        guard state.pruned.size == boundary else {
            throw LedgerError.damaged("the disclosure log of \(location) misses entries before \(boundary): run 'partner-export audit verify'")
        }
        try database.prepare("UPDATE log_state SET pruned = ? WHERE id = 1").run([.blob(state.pruned.encoded())])
    }

    /// Recomputes `log_state` from the rows (the migration that brings the log, over the rows already there).
    func buildLogState() throws {
        var tree = MerkleFrontier()
        try leaves(from: 0, before: nil) { row in
            guard let index = row.index, index == Int64(tree.size) else {
                throw LedgerError.damaged("the disclosure rows of \(location) cannot be numbered for the log")
            }
            tree.append(leafHash: Merkle.leafHash(row.leaf))
        }
        try database.prepare("INSERT INTO log_state (id, frontier, pruned) VALUES (1, ?, ?) "
                             + "ON CONFLICT (id) DO UPDATE SET frontier = excluded.frontier, pruned = excluded.pruned")
            .run([.blob(tree.encoded()), .blob(MerkleFrontier().encoded())])
    }

    /// Inside the transaction that writes entries: the tree as it stands, appended to, saved once.
    final class LogAppender {
        private let ledger: SQLLedger
        private var state: LogState
        private var leaf: [UInt8] = []

        init(_ ledger: SQLLedger) throws {
            self.ledger = ledger
            state = try ledger.logState(forUpdate: true)
        }

        /// The index the next entry gets.
        var next: UInt64 { state.tree.size }

        /// The tree as it stands (set when a delivery's leaves were hashed elsewhere).
        var tree: MerkleFrontier {
            get { state.tree }
            set { state.tree = newValue }
        }

        /// Appends the entry `write` writes (given its index) to the tree.
        func append(_ write: (UInt64, inout [UInt8]) -> Void) {
            leaf.removeAll(keepingCapacity: true)
            write(next, &leaf)
            leaf.withUnsafeBytes { state.tree.appendLeaf($0) }
        }

        func save() throws {
            try ledger.database.prepare("UPDATE log_state SET frontier = ? WHERE id = 1").run([.blob(state.tree.encoded())])
        }
    }
}

/// One leaf writer per delivery, kind and reason (the rows of a delivery come together).
private struct LeafWriters {
    private var cache: [String: LeafWriter] = [:]
    private var seq: Int64?

    mutating func writer(for statement: any LedgerStatement) throws -> LeafWriter {
        let delivery = statement.int64(6)
        if delivery != seq {
            cache.removeAll(keepingCapacity: true)
            seq = delivery
        }
        let kindText = statement.string(1) ?? ""
        let reasonText = statement.string(5)
        let cacheKey = kindText + "|" + (reasonText ?? "")
        if let writer = cache[cacheKey] { return writer }
        let kind: DisclosureKind = try .decoded(kindText, column: "disclosures.kind")
        let reason: DeletionReason? = try reasonText.map { try .decoded($0, column: "disclosures.reason") }
        let fields = kind == .deletion ? [statement.string(10)].compactMap { $0 }
            : try Column.decode([String].self, statement.string(9), column: "deliveries.fields")
        let writer = LeafWriter(kind: kind, partner: statement.string(7) ?? "", delivery: statement.string(8) ?? "", fields: fields,
                                reason: reason, disclosedAt: statement.string(11))
        cache[cacheKey] = writer
        return writer
    }
}
