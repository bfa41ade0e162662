import ExportCore
import Foundation
import Postgres
import SQLite
import Synchronization

extension SQLLedger: DeliveryLog {
    static let deliveryColumns = """
        seq, id, run_id, feed, partner, batch, record_count, notice_count, last_customer, bytes, sha256, records_offset, records_length,
        payload_path, content_type, gzip, status, attempts, in_doubt, last_http_status, last_error, last_error_code, answer_prefix,
        created_at, delivered_at, superseded_by, supersedes, fields, purpose, consent_scopes, shape, field_counts, payload_pruned_at
        """

    public func createDelivery(_ new: NewDelivery, superseding old: DeliveryRecord?, at time: String) throws -> DeliveryRecord {
        try writeGuard?()
        return try checked {
            try database.transaction {
                try fenced()
                try database.prepare("""
                    INSERT INTO deliveries (id, run_id, feed, partner, batch, record_count, last_customer, bytes, sha256,
                      records_offset, records_length, payload_path, content_type, gzip, created_at, fields, purpose,
                      consent_scopes, manifest, supersedes, shape, field_counts, changes, notice_count, key_field)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).run([
                        .text(new.id), .text(new.runID), .text(new.feed), .text(new.partner), .integer(Int64(new.batch)),
                        .integer(Int64(new.recordCount)), optional(new.lastCustomer), .integer(Int64(new.bytes)), .text(new.sha256),
                        .integer(Int64(new.recordsRange.lowerBound)), .integer(Int64(new.recordsRange.count)),
                        .text(new.payloadPath), .text(new.contentType), .integer(new.gzip ? 1 : 0), .text(new.createdAt),
                        .text(Column.encode(new.fields)), .text(new.purpose), .text(Column.encode(new.consentScopes)),
                        .blob(new.manifest), optional(old?.id), .text(Column.encode(new.shape)), .text(Column.encode(new.fieldCounts)),
                        .blob(new.changes), .integer(Int64(new.noticeCount)), optional(new.keyField),
                    ])
                if let old {
                    guard try supersedeRow(old, by: new.id, reason: "replaced by \(new.id) (batch \(new.batch) rendered again)",
                                           at: time) else {
                        throw LedgerError.damaged("delivery \(old.id) cannot be superseded (it may have reached the partner)")
                    }
                }
            }
            guard let record = try delivery(new.id) else { throw LedgerError.damaged("the delivery \(new.id) vanished after it was recorded") }
            return record
        }
    }

    public func beginAttempt(delivery: DeliveryRecord, number: Int, run: String, at time: String) throws {
        try writeGuard?()
        try checked {
            try database.durably { try database.transaction {
                try fenced()
                try database.prepare("INSERT INTO attempts (delivery, number, run_id, started_at) VALUES (?, ?, ?, ?)")
                    .run([.integer(delivery.seq), .integer(Int64(number)), .text(run), .text(time)])
                try database.prepare("UPDATE deliveries SET attempts = ? WHERE seq = ?")
                    .run([.integer(Int64(number)), .integer(delivery.seq)])
            } }
        }
    }

    public func finishAttempt(delivery: DeliveryRecord, number: Int, result: AttemptRecord, transition: DeliveryTransition,
                              at time: String, contents: DeliveryContents?) throws {
        func recordAttempt() throws {
            try database.prepare("""
                UPDATE attempts SET duration_ms = ?, http_status = ?, curl_code = ?, error = ?, outcome = ?
                WHERE delivery = ? AND number = ?
                """).run([.integer(Int64(result.durationMilliseconds)), optional(result.httpStatus),
                          .integer(Int64(result.curlCode)), optional(result.error), .text(result.outcome.rawValue),
                          .integer(delivery.seq), .integer(Int64(number))])
        }
        let delivered = if case .delivered = transition { true } else { false }
        do {
            try checked { try finish() }
        } catch is AlreadySettled {
            // Another worker delivered it meanwhile (it took the item over while this one stalled): this
            // attempt's end is recorded, nothing else moves.
            try checked { try database.transaction { try recordAttempt() } }
        }

        func finish() throws {
            try database.transactionLockingLater {
                // What needs no writers' turn first, so that two workers' acknowledgements overlap there.
                let changes = delivered ? try contents?.changes ?? changeSet(delivery) : []
                if delivered { try applyRecordHoldings(delivery, changes: changes) }
                try database.takeWriteTurn()
                try recordAttempt()
                let status: DeliveryStatus
                var error: String?
                var code: String?
                var inDoubt = result.inDoubt
                var counts: [(Int, String)] = []
                switch transition {
                case .stillPending:
                    status = .pending
                    error = result.error
                    counts = [(1, CounterName.retries)]
                case .delivered:
                    status = .delivered
                    counts = [(delivery.recordCount, CounterName.recordsSent), (delivery.bytes, CounterName.bytesSent),
                              (1, CounterName.deliveriesDelivered)]
                case .failed(let failureCode, let message, let doubt):
                    (status, error, code, inDoubt) = (.failed, message, failureCode, doubt)
                    counts = [(1, CounterName.deliveriesFailed), (1, CounterName.errors(failureCode))]
                case .rejected(let failureCode, let message):
                    (status, error, code, inDoubt) = (.rejected, message, failureCode, false)
                    counts = [(1, CounterName.deliveriesRejected), (1, CounterName.errors(failureCode))]
                }
                // A definite answer (a refusal, an acknowledgement) clears the doubt; otherwise it stays once raised.
                let refused = switch transition {
                case .rejected, .delivered: true
                default: false
                }
                // Only a delivery still owed moves: one already delivered (by a worker that took it over and
                // resent it while this one stalled) keeps its status, and its disclosures are not written twice.
                try database.prepare("""
                    UPDATE deliveries SET status = ?, last_http_status = coalesce(?, last_http_status), last_error = ?,
                      last_error_code = ?, answer_prefix = ?, in_doubt = CASE WHEN ? = 1 THEN 0 WHEN ? = 1 THEN 1 ELSE in_doubt END,
                      delivered_at = ? WHERE seq = ? AND status IN ('pending', 'failed', 'rejected', 'held')
                    """).run([.text(status.rawValue), optional(result.httpStatus), optional(error), optional(code),
                              .blob(result.answerPrefix), .integer(refused ? 1 : 0), .integer(inDoubt ? 1 : 0),
                              status == .delivered ? .text(time) : .null, .integer(delivery.seq)])
                guard database.changes == 1 else { throw AlreadySettled() }
                for (value, name) in counts { try add(value, to: name, partner: delivery.partner) }
                if status == .delivered {
                    // The log's tree grows in the same transaction as its entries (docs/audit.md).
                    let log = try LogAppender(self)
                    try writeDisclosures(delivery, manifest: contents?.manifest, at: time, log: log)
                    try applyNotices(delivery, changes: changes, at: time, log: log)
                    try log.save()
                    try clearManifest(delivery)
                }
            }
        }
    }

    /// The delivery an attempt ended for is settled already (rolled back, then only the attempt is recorded).
    private struct AlreadySettled: Error {}

    public func markInDoubt(_ delivery: DeliveryRecord) throws {
        try checked { try database.prepare("UPDATE deliveries SET in_doubt = 1 WHERE seq = ?").run([.integer(delivery.seq)]) }
    }

    public func hold(_ delivery: DeliveryRecord, reason: String, code: String?) throws {
        try writeGuard?()
        try checked {
            try database.prepare("UPDATE deliveries SET status = 'held', last_error = ?, last_error_code = ? WHERE seq = ? "
                                 + "AND status IN ('pending', 'failed', 'rejected', 'held')")
                .run([.text(reason), code.map { .text($0) } ?? .null, .integer(delivery.seq)])
        }
    }

    public func fail(_ delivery: DeliveryRecord, error: ExportError) throws {
        try writeGuard?()
        try checked {
            try database.transaction {
                try fenced()
                try database.prepare("UPDATE deliveries SET status = 'failed', last_error = ?, last_error_code = ? WHERE seq = ? "
                                     + "AND status IN ('pending', 'failed', 'rejected', 'held')")
                    .run([.text(error.message), .text(error.code), .integer(delivery.seq)])
                guard database.changes == 1 else { return }
                try add(1, to: CounterName.deliveriesFailed, partner: delivery.partner)
                try add(1, to: CounterName.errors(error.code), partner: delivery.partner)
            }
        }
    }

    public func acknowledged(inRun run: String) throws -> Set<String> {
        try checked {
            let statement = try database.prepare("""
                SELECT d.id AS id FROM attempts AS a JOIN deliveries AS d ON d.seq = a.delivery
                WHERE a.run_id = ? AND a.outcome = 'delivered'
                """)
            try statement.bind([.text(run)])
            return Set(try statement.rows { try $0.text("id") })
        }
    }

    public func markAltered(_ delivery: DeliveryRecord, error: ExportError) throws {
        try writeGuard?()
        try checked {
            try database.prepare("UPDATE deliveries SET last_error = ?, last_error_code = ?, payload_pruned_at = NULL WHERE seq = ?")
                .run([.text(error.message), .text(error.code), .integer(delivery.seq)])
        }
    }

    public func supersede(_ delivery: DeliveryRecord, by successor: String?, reason: String, at time: String) throws -> Bool {
        try writeGuard?()
        return try checked { try database.transaction { try supersedeRow(delivery, by: successor, reason: reason, at: time) } }
    }

    /// Inside a transaction: supersedes the row unless it is in doubt or settled; its manifest goes,
    /// and its payload is recorded as removed (the caller deletes the file).
    func supersedeRow(_ delivery: DeliveryRecord, by successor: String?, reason: String, at time: String) throws -> Bool {
        try database.prepare("""
            UPDATE deliveries SET status = 'superseded', superseded_by = ?, last_error = ?, delivered_at = NULL,
              payload_pruned_at = CASE WHEN last_error_code = 'payload.mismatch' THEN NULL ELSE coalesce(payload_pruned_at, ?) END,
              manifest = ?, changes = ?
            WHERE seq = ? AND in_doubt = 0 AND status IN ('pending', 'failed', 'rejected', 'held')
            """).run([optional(successor), .text(reason), .text(time), .blob([]), .blob([]), .integer(delivery.seq)])
        return database.changes == 1
    }

    /// One row per customer and consent scope, read straight from the manifest's bytes (no string
    /// per row: a batch holds up to a million records).
    private func writeDisclosures(_ delivery: DeliveryRecord, manifest given: [UInt8]?, at time: String, log: LogAppender) throws {
        let manifest = try given ?? storedManifest(delivery)
        let rows = try DisclosureRows(database, delivery: delivery.seq)
        let leaves = LeafWriter(kind: .disclosure, partner: delivery.partner, delivery: delivery.id, fields: delivery.fields,
                                reason: nil, disclosedAt: time)
        let scopes = delivery.consentScopes.map { Array($0.utf8) }
        // A scope listed twice is one scope: the first index it has.
        let firstScope = scopes.indices.map { i in scopes.firstIndex(of: scopes[i]) ?? i }
        // The log's leaves are built and hashed on another core while this one inserts the rows (both
        // walk the manifest in the same order); the result is used when every row was inserted, which
        // is always but for a duplicate row, when the leaves are made again here for the rows that went in.
        let hashed = HashedLeaves(tree: log.tree)
        let group = DispatchGroup()
        DispatchQueue.global(qos: .userInitiated).async(group: group) {
            hashed.hash(manifest: manifest, scopes: scopes, leaves: leaves)
        }
        var ignored: Set<Int> = []
        var position = 0
        var next = log.next
        do {
            try manifest.withUnsafeBytes { raw in
                try Manifest.forEachGrant(in: raw) { id, scope, grant in
                    defer { position += 1 }
                    guard scope < scopes.count else { throw ManifestError() }
                    if try scopes[scope].withUnsafeBytes({
                        try rows.insert(customer: id, scope: $0, scopeIndex: firstScope[scope], grantedAt: grant, index: Int64(next))
                    }) {
                        next += 1
                    } else {
                        ignored.insert(position)
                    }
                }
            }
            try rows.finish()
        } catch {
            group.wait()
            throw error
        }
        group.wait()
        if ignored.isEmpty, let tree = hashed.result, tree.size == next {
            log.tree = tree
            return
        }
        position = 0
        try manifest.withUnsafeBytes { raw in
            try Manifest.forEachGrant(in: raw) { id, scope, grant in
                defer { position += 1 }
                guard !ignored.contains(position) else { return }
                log.append { index, leaf in
                    scopes[scope].withUnsafeBytes { leaves.write(index: index, customerID: id, scope: $0, grantedAt: grant, into: &leaf) }
                }
            }
        }
    }

    /// The manifest `createDelivery` recorded.
    private func storedManifest(_ delivery: DeliveryRecord) throws -> [UInt8] {
        let statement = try database.prepare("SELECT manifest FROM deliveries WHERE seq = ?")
        try statement.bind([.integer(delivery.seq)])
        return try withExtendedLifetime(statement) {
            guard try statement.step(), let bytes = statement.textBytes(0) else { throw ManifestError() }
            return Array(bytes)
        }
    }

    /// Once its customers are in `disclosures`, a delivery's manifest is personal data nothing needs: it
    /// goes, and so does its change set (applied to `holdings`).
    private func clearManifest(_ delivery: DeliveryRecord) throws {
        try database.prepare("UPDATE deliveries SET manifest = ?, changes = ? WHERE seq = ?").run([.blob([]), .blob([]), .integer(delivery.seq)])
    }

    /// What the partner now holds: each new or changed record's key and digest, and for each deletion
    /// notice, the customer's holding gone and the notice in the disclosure log (kind `deletion`).
    /// The delivery's change set (empty: nothing to apply).
    private func changeSet(_ delivery: DeliveryRecord) throws -> [UInt8] {
        let statement = try database.prepare("SELECT changes FROM deliveries WHERE seq = ?")
        try statement.bind([.integer(delivery.seq)])
        // The bytes belong to the statement: copied while it is certainly alive.
        return try withExtendedLifetime(statement) {
            guard try statement.step(), let bytes = statement.textBytes(0) else { throw ChangeSetError() }
            return Array(bytes)
        }
    }

    /// What the partner holds now of each record the delivery carried (its key and digest). Needs
    /// no writers' turn: these rows are the partner's holdings of this delivery's customers, which
    /// no other writer of the same moment touches (a partner is in one run at a time, and its shards
    /// hold other customers), and the staging rows are seen by this transaction alone.
    private func applyRecordHoldings(_ delivery: DeliveryRecord, changes: [UInt8]) throws {
        guard !changes.isEmpty else { return }
        let upsert = try HoldingRows(database, partner: delivery.partner)
        try changes.withUnsafeBytes { raw in
            try ChangeSet.walk(raw, record: { id, key, digest in
                try upsert.write(customer: id, key: key, digest: digest)
            }, notice: { _, _, _ in })
            try upsert.finish()
        }
    }

    /// The delivery's deletion notices: each customer forgotten, and its notice in the disclosure
    /// log (in the writers' turn: the log grows one entry after another).
    private func applyNotices(_ delivery: DeliveryRecord, changes: [UInt8], at time: String, log: LogAppender) throws {
        guard !changes.isEmpty else { return }
        // Only the holding the notice names: a notice for a key replaced by a new one (an e-mail key whose
        // address changed) must not forget the record just sent under the new key. An unknown key (a
        // ledger from before keys) is the one the notice names.
        let forget = try database.prepare("DELETE FROM holdings WHERE partner = ?1 AND customer_id = ?2 AND (key = ?3 OR length(key) = 0)")
        let notice = try database.prepare("""
            INSERT INTO disclosures (customer_id, delivery, scope, granted_at, confirmed, kind, reason, log_index)
            VALUES (?1, ?2, '', '', 1, 'deletion', ?3, ?4) ON CONFLICT DO NOTHING
            """)
        // A notice carries the key field alone.
        let keyStatement = try database.prepare("SELECT key_field FROM deliveries WHERE seq = ?")
        try keyStatement.bind([.integer(delivery.seq)])
        let keyField: String? = try keyStatement.rows { try $0.optionalText("key_field") }.first ?? nil
        let noticeLeaves = Dictionary(uniqueKeysWithValues: DeletionReason.allCases.map { reason in
            (reason, LeafWriter(kind: .deletion, partner: delivery.partner, delivery: delivery.id,
                                fields: keyField.map { [$0] } ?? [], reason: reason, disclosedAt: time))
        })
        let partner = Array(delivery.partner.utf8)
        try partner.withUnsafeBytes { partnerBytes in
            try forget.bindText(partnerBytes, at: 1)
        }
        try notice.bind(.integer(delivery.seq), at: 2)
        var notices = 0
        try changes.withUnsafeBytes { raw in
            // Every record's holding was written before (``applyRecordHoldings``): a notice forgets only what it names.
            try ChangeSet.walk(raw, record: { _, _, _ in }, notice: { id, reason, key in
                try forget.bind(.integer(id), at: 2)
                try forget.bindBlob(key, at: 3)
                try forget.step()
                forget.reset()
                try notice.bind(.integer(id), at: 1)
                try notice.bind(.text(reason.rawValue), at: 3)
                try notice.bind(.integer(Int64(log.next)), at: 4)
                try notice.step()
                notice.reset()
                if database.changes == 1, let leaves = noticeLeaves[reason] {
                    let none = UnsafeRawBufferPointer(start: nil, count: 0)
                    log.append { index, leaf in leaves.write(index: index, customerID: id, scope: none, grantedAt: none, into: &leaf) }
                }
                notices += 1
            })
        }
        try add(notices, to: CounterName.noticesSent, partner: delivery.partner)
    }

    public func manifest(of delivery: DeliveryRecord) throws -> Manifest {
        try checked {
            let statement = try database.prepare("SELECT manifest FROM deliveries WHERE seq = ?")
            try statement.bind([.integer(delivery.seq)])
            let bytes: [UInt8] = try withExtendedLifetime(statement) {
                guard try statement.step(), let bytes = statement.textBytes(0) else { throw ManifestError() }
                return Array(bytes)
            }
            // Emptied once disclosed or superseded: it holds nobody any more.
            return bytes.isEmpty ? Manifest(customerIDs: [], grants: []) : try Manifest(decoding: bytes)
        }
    }

    public func delivery(_ id: String) throws -> DeliveryRecord? {
        try select(where: "id = ?", [.text(id)]).first
    }

    public func deliveries(_ query: DeliveryQuery) throws -> [DeliveryRecord] {
        let (condition, arguments) = Self.condition(query)
        return try select(where: condition, arguments, order: "created_at DESC, seq DESC", limit: query.limit)
    }

    public func deliveryCount(_ query: DeliveryQuery) throws -> Int {
        let (condition, arguments) = Self.condition(query)
        return try checked { Int(try database.scalarInt("SELECT count(*) FROM deliveries WHERE \(condition)", arguments) ?? 0) }
    }

    public func owed(partner: String) throws -> [DeliveryRecord] {
        try select(where: "partner = ? AND status IN ('pending', 'failed', 'rejected', 'held')", [.text(partner)], order: "seq")
    }

    public func owedByPartner() throws -> [String: Int] {
        try checked {
            let statement = try database.prepare("SELECT partner, count(*) AS n FROM deliveries "
                                                 + "WHERE status IN ('pending', 'failed', 'rejected', 'held') GROUP BY partner")
            var result: [String: Int] = [:]
            try statement.forEachRow { result[try $0.text("partner")] = try $0.int("n") }
            return result
        }
    }

    static func condition(_ query: DeliveryQuery) -> (String, [Value]) {
        var conditions: [String] = []
        var arguments: [Value] = []
        if let statuses = query.statuses {
            conditions.append("status IN (\(statuses.map { _ in "?" }.joined(separator: ", ")))")
            arguments += statuses.map { .text($0.rawValue) }
        }
        if let partner = query.partner {
            conditions.append("partner = ?")
            arguments.append(.text(partner))
        }
        if let run = query.run {
            conditions.append("run_id = ?")
            arguments.append(.text(run))
        }
        if let feed = query.feed {
            conditions.append("feed = ?")
            arguments.append(.text(feed))
        }
        return (conditions.isEmpty ? "1 = 1" : conditions.joined(separator: " AND "), arguments)
    }

    func select(where condition: String, _ arguments: [Value], order: String = "seq", limit: Int? = nil) throws -> [DeliveryRecord] {
        try checked {
            let statement = try database.prepare("SELECT \(Self.deliveryColumns) FROM deliveries WHERE \(condition) "
                                                 + "ORDER BY \(order)" + (limit.map { " LIMIT \($0)" } ?? ""))
            try statement.bind(arguments)
            return try statement.rows(DeliveryRecord.init(row:))
        }
    }
}

extension DeliveryRecord {
    init(row: LedgerRow) throws {
        let offset = try row.int("records_offset")
        self.init(
            seq: try row.int64("seq"), id: try row.text("id"), runID: try row.text("run_id"), feed: try row.text("feed"),
            partner: try row.text("partner"), batch: try row.int("batch"), recordCount: try row.int("record_count"),
            noticeCount: try row.int("notice_count"), lastCustomer: try row.optionalInt64("last_customer"), bytes: try row.int("bytes"), sha256: try row.text("sha256"),
            recordsRange: offset..<(offset + (try row.int("records_length"))), payloadPath: try row.text("payload_path"),
            contentType: try row.text("content_type"), gzip: try row.bool("gzip"),
            status: try .decoded(try row.text("status"), column: "deliveries.status"), attempts: try row.int("attempts"),
            inDoubt: try row.bool("in_doubt"), lastHTTPStatus: try row.optionalInt("last_http_status"),
            lastError: try row.optionalText("last_error"), lastErrorCode: try row.optionalText("last_error_code"),
            answerPrefix: try row.bytes("answer_prefix"), createdAt: try row.text("created_at"),
            deliveredAt: try row.optionalText("delivered_at"), supersededBy: try row.optionalText("superseded_by"),
            supersedes: try row.optionalText("supersedes"),
            fields: try Column.decode([String].self, try row.optionalText("fields"), column: "deliveries.fields"),
            purpose: try row.text("purpose"),
            consentScopes: try Column.decode([String].self, try row.optionalText("consent_scopes"), column: "deliveries.consent_scopes"),
            shape: try Column.decode([FieldShape].self, try row.optionalText("shape"), column: "deliveries.shape"),
            fieldCounts: try Column.decode([Int].self, try row.optionalText("field_counts"), column: "deliveries.field_counts"),
            payloadPrunedAt: try row.optionalText("payload_pruned_at"))
    }
}

/// A delivery's log leaves, built and appended to a copy of the tree on another thread.
private final class HashedLeaves: Sendable {
    private let tree: MerkleFrontier
    private let outcome = Mutex<MerkleFrontier?>(nil)

    init(tree: MerkleFrontier) { self.tree = tree }

    /// The tree after every leaf, once `hash` is done (nil if the manifest could not be read).
    var result: MerkleFrontier? { outcome.withLock { $0 } }

    func hash(manifest: [UInt8], scopes: [[UInt8]], leaves: LeafWriter) {
        var tree = tree
        do {
            try manifest.withUnsafeBytes { raw in
                try Manifest.forEachGrant(in: raw) { id, scope, grant in
                    guard scope < scopes.count else { throw ManifestError() }
                    // Hashed where it is written (no copy of the leaf per entry).
                    scopes[scope].withUnsafeBytes { scope in
                        leaves.withLeaf(index: tree.size, customerID: id, scope: scope, grantedAt: grant) { tree.appendLeaf($0) }
                    }
                }
            }
            outcome.withLock { $0 = tree }
        } catch {
            outcome.withLock { $0 = nil }
        }
    }
}

/// A delivery's disclosure rows as they are written: on SQLite one prepared INSERT per row (a row
/// already there is left out, and takes no log index); on PostgreSQL one COPY for all of them, a
/// row the delivery repeats (the same customer and scope) left out here, before it is sent.
private final class DisclosureRows {
    /// Concrete, not `any LedgerStatement`: it runs once per row.
    private let statement: Statement?
    private let database: Database?
    private let copy: CopyIn?
    private var seen: Set<DisclosureKey> = []

    private struct DisclosureKey: Hashable {
        let customer: Int64
        let scope: Int
    }

    init(_ database: any LedgerSQL, delivery seq: Int64) throws {
        if let postgres = database as? PostgresSQL {
            self.database = nil
            statement = nil
            copy = try postgres.connection.copyIn("""
                COPY disclosures (delivery, customer_id, scope, granted_at, log_index) FROM STDIN (FORMAT binary)
                """)
            self.seq = seq
        } else {
            guard let sqlite = database as? Database else { throw LedgerError.damaged("the ledger's database is of no known kind") }
            self.database = sqlite
            let insert = try sqlite.prepare(
                "INSERT INTO disclosures (customer_id, delivery, scope, granted_at, confirmed, log_index) VALUES (?, ?, ?, ?, 1, ?) "
                + "ON CONFLICT DO NOTHING")
            try insert.bind(.integer(seq), at: 2)
            statement = insert
            copy = nil
            self.seq = seq
        }
    }

    private let seq: Int64

    /// Writes one row; false when it was already there (left out).
    func insert(customer: Int64, scope: UnsafeRawBufferPointer, scopeIndex: Int, grantedAt: UnsafeRawBufferPointer,
                index: Int64) throws -> Bool {
        if let copy {
            guard seen.insert(DisclosureKey(customer: customer, scope: scopeIndex)).inserted else { return false }
            try copy.startRow(fields: 5)
            copy.int64(seq)
            copy.int64(customer)
            copy.bytes(scope)
            copy.bytes(grantedAt)
            copy.int64(index)
            return true
        }
        guard let statement, let database else { return false }
        try statement.bind(.integer(customer), at: 1)
        try statement.bindText(scope, at: 3)
        try statement.bindText(grantedAt, at: 4)
        try statement.bind(.integer(index), at: 5)
        try statement.step()
        statement.reset()
        return database.changes == 1
    }

    func finish() throws {
        try copy?.finish()
    }
}

/// What a delivery's records change in `holdings`, as they are written: on SQLite one prepared upsert
/// per record; on PostgreSQL one COPY into the staging table `holdings_in` and one upsert from it
/// (the last of a customer's rows wins, as it would row by row). The staging table is the schema's,
/// not a temporary one: a role without the TEMP privilege can keep a ledger.
private final class HoldingRows {
    private let statement: Statement?
    private let postgres: PostgresSQL?
    private let partner: String
    private var copy: CopyIn?
    private var written: Int64 = 0

    init(_ database: any LedgerSQL, partner: String) throws {
        self.partner = partner
        if let postgres = database as? PostgresSQL {
            self.postgres = postgres
            statement = nil
        } else {
            postgres = nil
            guard let sqlite = database as? Database else { throw LedgerError.damaged("the ledger's database is of no known kind") }
            let upsert = try sqlite.prepare("""
                INSERT INTO holdings (partner, customer_id, key, digest) VALUES (?1, ?2, ?3, ?4)
                ON CONFLICT (partner, customer_id) DO UPDATE SET key = excluded.key, digest = excluded.digest
                """)
            try upsert.bind(.text(partner), at: 1)
            statement = upsert
        }
    }

    func write(customer: Int64, key: UnsafeRawBufferPointer, digest: UnsafeRawBufferPointer) throws {
        if let postgres {
            if copy == nil {
                copy = try postgres.connection.copyIn("COPY holdings_in (n, customer_id, key, digest) FROM STDIN (FORMAT binary)")
            }
            guard let copy else { return }
            written += 1
            try copy.startRow(fields: 4)
            copy.int64(written)
            copy.int64(customer)
            copy.bytes(key)
            copy.bytes(digest)
            return
        }
        guard let statement else { return }
        try statement.bind(.integer(customer), at: 2)
        try statement.bindBlob(key, at: 3)
        try statement.bindBlob(digest, at: 4)
        try statement.step()
        statement.reset()
    }

    /// Every row written so far is in `holdings`.
    func finish() throws {
        guard let postgres, let copy else { return }
        self.copy = nil
        try copy.finish()
        try postgres.prepare("""
            INSERT INTO holdings (partner, customer_id, key, digest)
            SELECT ?, customer_id, key, digest FROM (
              SELECT DISTINCT ON (customer_id) customer_id, key, digest FROM holdings_in ORDER BY customer_id, n DESC) AS latest
            ON CONFLICT (partner, customer_id) DO UPDATE SET key = excluded.key, digest = excluded.digest
            """).run([.text(partner)])
        // DELETE, not TRUNCATE: a role with plain row privileges may run it.
        try postgres.execute("DELETE FROM holdings_in")
    }
}
