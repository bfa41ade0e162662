import Foundation
import SQLite

/// The tool's own state database (DESIGN §5): runs, deliveries, attempts and disclosures.
///
/// WAL with full sync: a process killed at any instant keeps every committed transaction. A delivery
/// is marked delivered, and its disclosures written, in one transaction. One connection per thread.
public final class Ledger {
    let database: Database
    public let path: String

    /// Opens (creating when missing, mode 0600 in a 0700 folder) and migrates the ledger at `path`.
    public init(path: String) throws {
        self.path = path
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty && !FileManager.default.fileExists(atPath: folder) {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        if !FileManager.default.fileExists(atPath: path) {
            let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            if fd >= 0 { close(fd) }
        }
        chmod(path, 0o600)
        database = try Database(path: path, mode: .readWrite)
        // WAL; commits are durable against a killed process, and the one that must survive a power cut
        // too — an attempt about to leave — is synced to disk on its own (see beginAttempt).
        try database.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                             + "PRAGMA cache_size = -1024;")
        try migrate()
    }

    private func migrate() throws {
        let version = Int(try database.scalarInt("PRAGMA user_version") ?? 0)
        guard version < Schema.migrations.count else {
            if version > Schema.migrations.count {
                throw LedgerError("the ledger \(path) was written by a newer partner-export (schema \(version)); upgrade first")
            }
            return
        }
        try database.transaction {
            for (index, sql) in Schema.migrations.enumerated() where index >= version {
                try database.execute(sql)
            }
            try database.execute("PRAGMA user_version = \(Schema.migrations.count)")
        }
    }

    /// The folder the ledger lives in: payloads, the lock and metrics go beside it.
    public var folder: String {
        let folder = (path as NSString).deletingLastPathComponent
        return folder.isEmpty ? "." : folder
    }

    // MARK: - Runs

    public func startRun(id: String, trigger: String, partners: [String], at time: String) throws {
        try database.prepare("INSERT INTO runs (id, started_at, trigger, partners) VALUES (?, ?, ?, ?)")
            .run([.text(id), .text(time), .text(trigger), .text(JSON.encode(partners))])
    }

    public func finishRun(id: String, status: String, at time: String) throws {
        try database.prepare("UPDATE runs SET status = ?, finished_at = ? WHERE id = ?").run([.text(status), .text(time), .text(id)])
    }

    /// Runs left `running` by a process that died (the caller holds the lock, so none is alive).
    @discardableResult
    public func markInterruptedRuns(at time: String) throws -> Int {
        try database.prepare("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'").run([.text(time)])
        return database.changes
    }

    public func recordPartner(run: String, _ record: RunPartnerRecord) throws {
        try database.prepare("""
            INSERT INTO run_partners (run_id, partner, status, eligible, records, rejected, deliveries, bytes, started_at,
                                      finished_at, error, report)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (run_id, partner) DO UPDATE SET status = excluded.status, eligible = excluded.eligible,
              records = excluded.records, rejected = excluded.rejected, deliveries = excluded.deliveries,
              bytes = excluded.bytes, finished_at = excluded.finished_at, error = excluded.error, report = excluded.report
            """).run([.text(run), .text(record.partner), .text(record.status), .integer(Int64(record.eligible)),
                      .integer(Int64(record.records)), .integer(Int64(record.rejected)), .integer(Int64(record.deliveries)),
                      .integer(Int64(record.bytes)), .text(record.startedAt), optional(record.finishedAt),
                      optional(record.error), optional(record.report)])
    }

    public func runs(limit: Int = 50) throws -> [RunRecord] {
        let statement = try database.prepare("SELECT id, started_at, finished_at, trigger, status, partners FROM runs "
                                             + "ORDER BY started_at DESC, id DESC LIMIT ?")
        try statement.bind([.integer(Int64(limit))])
        var runs: [RunRecord] = []
        while try statement.step() {
            runs.append(RunRecord(id: statement.string(0) ?? "", startedAt: statement.string(1) ?? "", finishedAt: statement.string(2),
                                  trigger: statement.string(3) ?? "", status: statement.string(4) ?? "",
                                  partners: JSON.decodeStrings(statement.string(5))))
        }
        return runs
    }

    public func run(_ id: String) throws -> RunRecord? {
        let statement = try database.prepare("SELECT id, started_at, finished_at, trigger, status, partners FROM runs WHERE id = ?")
        try statement.bind([.text(id)])
        guard try statement.step() else { return nil }
        return RunRecord(id: statement.string(0) ?? "", startedAt: statement.string(1) ?? "", finishedAt: statement.string(2),
                         trigger: statement.string(3) ?? "", status: statement.string(4) ?? "",
                         partners: JSON.decodeStrings(statement.string(5)))
    }

    /// When `partner`'s last run (manual or scheduled, not a rerun) finished, whatever its outcome.
    public func lastCompletedRun(partner: String) throws -> String? {
        let statement = try database.prepare("""
            SELECT max(p.finished_at) FROM run_partners AS p JOIN runs AS r ON r.id = p.run_id
            WHERE p.partner = ? AND p.finished_at IS NOT NULL AND r.trigger != 'rerun'
            """)
        try statement.bind([.text(partner)])
        guard try statement.step() else { return nil }
        return statement.string(0)
    }

    /// The deliveries a run created or attempted, with what the run did to each.
    public func runDeliveries(run: String) throws -> [RunDelivery] {
        let attempts = try database.prepare("""
            SELECT delivery, count(*), sum(outcome = 'retry'), max(outcome = 'delivered') FROM attempts WHERE run_id = ? GROUP BY delivery
            """)
        try attempts.bind([.text(run)])
        var byDelivery: [Int64: (Int, Int, Bool)] = [:]
        while try attempts.step() {
            byDelivery[attempts.int64(0)] = (Int(attempts.int64(1)), Int(attempts.int64(2)), attempts.int64(3) != 0)
        }
        let seqs = byDelivery.keys.map(String.init).joined(separator: ",")
        let records = try deliveries(where: "run_id = ?" + (seqs.isEmpty ? "" : " OR seq IN (\(seqs))"), [.text(run)])
        return records.map { record in
            let (count, retries, delivered) = byDelivery[record.seq] ?? (0, 0, false)
            return RunDelivery(delivery: record, attempts: count, retries: retries, deliveredInRun: delivered)
        }
    }

    /// Totals per partner across the whole ledger, for metrics.
    public func partnerTotals() throws -> [String: PartnerTotals] {
        var totals: [String: PartnerTotals] = [:]
        let delivered = try database.prepare("""
            SELECT partner, coalesce(sum(record_count), 0), coalesce(sum(bytes), 0) FROM deliveries
            WHERE status = 'delivered' GROUP BY partner
            """)
        while try delivered.step() {
            totals[delivered.string(0) ?? "", default: PartnerTotals()].recordsSent = Int(delivered.int64(1))
            totals[delivered.string(0) ?? "", default: PartnerTotals()].bytesSent = Int(delivered.int64(2))
        }
        let outcomes = try database.prepare("""
            SELECT d.partner, a.outcome, count(*) FROM attempts AS a JOIN deliveries AS d ON d.seq = a.delivery
            WHERE a.outcome IN ('failed', 'rejected', 'retry') GROUP BY d.partner, a.outcome
            """)
        while try outcomes.step() {
            let partner = outcomes.string(0) ?? ""
            let count = Int(outcomes.int64(2))
            switch outcomes.string(1) {
            case "failed": totals[partner, default: PartnerTotals()].deliveriesFailed = count
            case "rejected": totals[partner, default: PartnerTotals()].deliveriesRejected = count
            default: totals[partner, default: PartnerTotals()].retries = count
            }
        }
        let open = try database.prepare("SELECT partner, count(*) FROM deliveries WHERE status IN ('failed', 'rejected') GROUP BY partner")
        while try open.step() { totals[open.string(0) ?? "", default: PartnerTotals()].openFailures = Int(open.int64(1)) }
        let last = try database.prepare("""
            SELECT p.partner, p.status, p.started_at, p.finished_at, p.records FROM run_partners AS p
            JOIN runs AS r ON r.id = p.run_id WHERE p.finished_at IS NOT NULL ORDER BY p.finished_at
            """)
        while try last.step() {
            let partner = last.string(0) ?? ""
            var entry = totals[partner, default: PartnerTotals()]
            let succeeded = ["delivered", "nothing-to-send"].contains(last.string(1) ?? "")
            entry.lastRunStartedAt = last.string(2)
            entry.lastRunFinishedAt = last.string(3)
            entry.lastRunSucceeded = succeeded
            entry.lastRunRecords = Int(last.int64(4))
            if succeeded { entry.lastSuccessAt = last.string(3) }
            totals[partner] = entry
        }
        return totals
    }

    public func runPartners(run: String) throws -> [RunPartnerRecord] {
        let statement = try database.prepare("""
            SELECT partner, status, eligible, records, rejected, deliveries, bytes, started_at, finished_at, error, report
            FROM run_partners WHERE run_id = ? ORDER BY partner
            """)
        try statement.bind([.text(run)])
        var result: [RunPartnerRecord] = []
        while try statement.step() {
            result.append(RunPartnerRecord(
                partner: statement.string(0) ?? "", status: statement.string(1) ?? "", eligible: Int(statement.int64(2)),
                records: Int(statement.int64(3)), rejected: Int(statement.int64(4)), deliveries: Int(statement.int64(5)),
                bytes: Int(statement.int64(6)), startedAt: statement.string(7) ?? "", finishedAt: statement.string(8),
                error: statement.string(9), report: statement.string(10)))
        }
        return result
    }

    // MARK: - Deliveries

    /// Records a pending delivery (its payload file is already on disk) with its manifest.
    @discardableResult
    public func createDelivery(_ new: NewDelivery) throws -> DeliveryRecord {
        try database.transaction {
            try database.prepare("""
                INSERT INTO deliveries (id, run_id, partner, batch, record_count, bytes, sha256, records_offset, records_length,
                  payload_path, content_type, gzip, created_at, fields, purpose, consent_scopes, manifest, supersedes, shape,
                  field_counts)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).run([
                    .text(new.id), .text(new.runID), .text(new.partner), .integer(Int64(new.batch)),
                    .integer(Int64(new.recordCount)), .integer(Int64(new.bytes)), .text(new.sha256),
                    .integer(Int64(new.recordsRange.lowerBound)), .integer(Int64(new.recordsRange.count)), .text(new.payloadPath), .text(new.contentType), .integer(new.gzip ? 1 : 0),
                    .text(new.createdAt), .text(JSON.encode(new.fields)), .text(new.purpose), .text(JSON.encode(new.consentScopes)),
                    .blob(new.manifest), optional(new.supersedes), .text(JSON.encode(new.shape)),
                    .text(JSON.encode(new.fieldCounts)),
                ])
        }
        guard let record = try delivery(new.id) else { throw LedgerError("the delivery \(new.id) vanished after it was recorded") }
        return record
    }

    /// Records that attempt `number` is about to go out (so that a crash leaves it in doubt, never forgotten).
    /// This commit is synced to disk (with everything written before it, the delivery's own row
    /// included) before the request may leave, even across a power cut.
    public func beginAttempt(delivery: DeliveryRecord, number: Int, run: String, at time: String) throws {
        try database.execute("PRAGMA synchronous = FULL")
        defer { try? database.execute("PRAGMA synchronous = NORMAL") }
        try database.transaction {
            try database.prepare("INSERT INTO attempts (delivery, number, run_id, started_at) VALUES (?, ?, ?, ?)")
                .run([.integer(delivery.seq), .integer(Int64(number)), .text(run), .text(time)])
            try database.prepare("UPDATE deliveries SET attempts = ? WHERE seq = ?").run([.integer(Int64(number)), .integer(delivery.seq)])
        }
    }

    /// Records how attempt `number` ended and, in the same transaction, the delivery's new status:
    /// `delivered` (with every disclosure), `rejected`, `failed`, or still `pending` (a retry follows).
    public func finishAttempt(delivery: DeliveryRecord, number: Int, result: AttemptResult, status: DeliveryStatus,
                              error: String?, at time: String) throws {
        try database.transaction {
            try database.prepare("""
                UPDATE attempts SET duration_ms = ?, http_status = ?, curl_code = ?, error = ?, outcome = ?
                WHERE delivery = ? AND number = ?
                """).run([.integer(Int64(result.durationMilliseconds)), optional(result.httpStatus),
                          .integer(Int64(result.curlCode)), optional(result.error), .text(result.outcome),
                          .integer(delivery.seq), .integer(Int64(number))])
            try database.prepare("""
                UPDATE deliveries SET status = ?, last_http_status = coalesce(?, last_http_status), last_error = ?,
                  answer_prefix = ?, in_doubt = in_doubt OR ?, delivered_at = ? WHERE seq = ?
                """).run([.text(status.rawValue), optional(result.httpStatus), optional(error), .blob(result.answerPrefix),
                          .integer(result.inDoubt ? 1 : 0), status == .delivered ? .text(time) : .null, .integer(delivery.seq)])
            if status == .delivered {
                try writeDisclosures(delivery, confirmed: true)
                try clearManifest(delivery)
            }
        }
    }

    /// Marks a delivery in doubt: a request of it left and no answer was recorded (a run died mid-request).
    public func markInDoubt(_ delivery: DeliveryRecord) throws {
        try database.prepare("UPDATE deliveries SET in_doubt = 1 WHERE seq = ?").run([.integer(delivery.seq)])
    }

    /// Marks a delivery failed without an attempt (its payload could not be sent at all).
    public func markFailed(_ delivery: DeliveryRecord, error: String) throws {
        try database.prepare("UPDATE deliveries SET status = 'failed', last_error = ? WHERE seq = ?")
            .run([.text(error), .integer(delivery.seq)])
    }

    /// Marks a delivery superseded by `successor` (nil: nothing left to send). If a request of it may
    /// have reached the partner, its records are kept as unconfirmed disclosures: the accounting
    /// never misses a disclosure that may have happened, and its payload stays for the retention
    /// period (what the partner may hold). Otherwise nothing will ever send or read its payload again,
    /// so the payload is recorded as removed and the caller deletes the file. Returns whether it may.
    @discardableResult
    public func markSuperseded(_ delivery: DeliveryRecord, by successor: String?, reason: String, at time: String) throws -> Bool {
        try database.transaction {
            try database.prepare("UPDATE deliveries SET status = 'superseded', superseded_by = ?, last_error = ?, "
                                 + "delivered_at = NULL WHERE seq = ?")
                .run([optional(successor), .text(reason), .integer(delivery.seq)])
            if delivery.inDoubt {
                try database.prepare("UPDATE deliveries SET delivered_at = ? WHERE seq = ?").run([.text(time), .integer(delivery.seq)])
                try writeDisclosures(delivery, confirmed: false)
            }
            try clearManifest(delivery)
            guard !delivery.inDoubt else { return false }
            try database.prepare("UPDATE deliveries SET payload_pruned_at = coalesce(payload_pruned_at, ?) WHERE seq = ?")
                .run([.text(time), .integer(delivery.seq)])
            return true
        }
    }

    /// One row per customer and consent scope, read straight from the manifest's bytes (no string
    /// per row: a batch holds up to a million records).
    private func writeDisclosures(_ delivery: DeliveryRecord, confirmed: Bool) throws {
        let statement = try database.prepare("SELECT manifest FROM deliveries WHERE seq = ?")
        try statement.bind([.integer(delivery.seq)])
        guard try statement.step(), let bytes = statement.textBytes(0) else { throw ManifestError() }
        let manifest = Array(bytes)
        let insert = try database.prepare(
            "INSERT OR IGNORE INTO disclosures (customer_id, delivery, scope, granted_at, confirmed) VALUES (?, ?, ?, ?, ?)")
        try insert.bind(.integer(delivery.seq), at: 2)
        try insert.bind(.integer(confirmed ? 1 : 0), at: 5)
        let scopes = delivery.consentScopes.map { Array($0.utf8) }
        try manifest.withUnsafeBytes { raw in
            try Manifest.forEachGrant(in: raw) { id, scope, grant in
                guard scope < scopes.count else { throw ManifestError() }
                try insert.bind(.integer(id), at: 1)
                try scopes[scope].withUnsafeBytes { try insert.bindText($0, at: 3) }
                try insert.bindText(grant, at: 4)
                try insert.step()
                insert.reset()
            }
        }
    }

    /// Once its customers are in `disclosures` (or it was superseded), a delivery's manifest is not
    /// needed any more: it is personal data, so it goes.
    private func clearManifest(_ delivery: DeliveryRecord) throws {
        try database.prepare("UPDATE deliveries SET manifest = x'' WHERE seq = ?").run([.integer(delivery.seq)])
    }

    public func manifest(of delivery: DeliveryRecord) throws -> Manifest {
        let statement = try database.prepare("SELECT manifest FROM deliveries WHERE seq = ?")
        try statement.bind([.integer(delivery.seq)])
        guard try statement.step(), let bytes = statement.textBytes(0) else { throw ManifestError() }
        return try Manifest(decoding: Array(bytes))
    }

    public func delivery(_ id: String) throws -> DeliveryRecord? {
        try deliveries(where: "id = ?", [.text(id)]).first
    }

    /// Deliveries matching optional filters, newest first.
    public func deliveries(statuses: [DeliveryStatus]? = nil, partner: String? = nil, run: String? = nil,
                           limit: Int = 10_000) throws -> [DeliveryRecord] {
        var conditions: [String] = []
        var arguments: [Value] = []
        if let statuses {
            conditions.append("status IN (\(statuses.map { _ in "?" }.joined(separator: ", ")))")
            arguments += statuses.map { .text($0.rawValue) }
        }
        if let partner { conditions.append("partner = ?"); arguments.append(.text(partner)) }
        if let run { conditions.append("run_id = ?"); arguments.append(.text(run)) }
        return try deliveries(where: conditions.isEmpty ? "1" : conditions.joined(separator: " AND "), arguments,
                              order: "created_at DESC, seq DESC", limit: limit)
    }

    /// Pending deliveries of `partner`, oldest first (left by a run that did not finish).
    public func pendingDeliveries(partner: String) throws -> [DeliveryRecord] {
        try deliveries(where: "partner = ? AND status = 'pending'", [.text(partner)], order: "seq")
    }

    private func deliveries(where condition: String, _ arguments: [Value], order: String = "seq",
                            limit: Int = 1_000_000) throws -> [DeliveryRecord] {
        let statement = try database.prepare("""
            SELECT seq, id, run_id, partner, batch, record_count, bytes, sha256, records_offset, payload_path, content_type, gzip,
              status, attempts, in_doubt, last_http_status, last_error, answer_prefix, created_at, delivered_at, superseded_by,
              supersedes, fields, purpose, consent_scopes, shape, field_counts, payload_pruned_at, records_length
            FROM deliveries WHERE \(condition) ORDER BY \(order) LIMIT \(limit)
            """)
        try statement.bind(arguments)
        var result: [DeliveryRecord] = []
        while try statement.step() {
            result.append(DeliveryRecord(
                seq: statement.int64(0), id: statement.string(1) ?? "", runID: statement.string(2) ?? "",
                partner: statement.string(3) ?? "", batch: Int(statement.int64(4)), recordCount: Int(statement.int64(5)),
                bytes: Int(statement.int64(6)), sha256: statement.string(7) ?? "",
                recordsRange: Int(statement.int64(8))..<Int(statement.int64(8) + statement.int64(28)),
                payloadPath: statement.string(9) ?? "", contentType: statement.string(10) ?? "", gzip: statement.int64(11) != 0,
                status: DeliveryStatus(rawValue: statement.string(12) ?? "") ?? .failed, attempts: Int(statement.int64(13)),
                inDoubt: statement.int64(14) != 0, lastHTTPStatus: statement.isNull(15) ? nil : Int(statement.int64(15)),
                lastError: statement.string(16), answerPrefix: statement.textBytes(17).map { Array($0) } ?? [],
                createdAt: statement.string(18) ?? "", deliveredAt: statement.string(19), supersededBy: statement.string(20),
                supersedes: statement.string(21), fields: JSON.decodeStrings(statement.string(22)), purpose: statement.string(23) ?? "",
                consentScopes: JSON.decodeStrings(statement.string(24)), shape: JSON.decode(statement.string(25)) ?? [],
                fieldCounts: JSON.decode(statement.string(26)) ?? [], payloadPrunedAt: statement.string(27)))
        }
        return result
    }

    // MARK: - Disclosures

    /// Every disclosure of one customer, oldest first. Uses the (customer_id, …) primary key.
    public func disclosures(customerID: Int64) throws -> [DisclosureRecord] {
        let statement = try database.prepare("""
            SELECT d.partner, d.id, d.fields, d.purpose, d.delivered_at, x.scope, x.granted_at, x.confirmed
            FROM disclosures AS x JOIN deliveries AS d ON d.seq = x.delivery
            WHERE x.customer_id = ? ORDER BY d.delivered_at, d.seq, x.scope
            """)
        try statement.bind([.integer(customerID)])
        var result: [DisclosureRecord] = []
        while try statement.step() {
            result.append(DisclosureRecord(
                partner: statement.string(0) ?? "", deliveryID: statement.string(1) ?? "",
                fields: JSON.decodeStrings(statement.string(2)), purpose: statement.string(3) ?? "",
                disclosedAt: statement.string(4) ?? "", consentScope: statement.string(5) ?? "",
                consentGrantedAt: statement.string(6) ?? "", confirmed: statement.int64(7) != 0))
        }
        return result
    }

    // MARK: - Retention

    /// Deliveries created before `cutoff` whose payload file is still on disk and may go: delivered or
    /// superseded ones, and failed or rejected ones only when `includeFailed`. Never pending ones.
    public func payloadsToPrune(createdBefore cutoff: String, includeFailed: Bool) throws -> (prunable: [DeliveryRecord], kept: [DeliveryRecord]) {
        let candidates = try deliveries(where: "payload_pruned_at IS NULL AND created_at < ? AND status != 'pending'", [.text(cutoff)])
        let needed: Set<DeliveryStatus> = [.failed, .rejected]
        if includeFailed { return (candidates, []) }
        return (candidates.filter { !needed.contains($0.status) }, candidates.filter { needed.contains($0.status) })
    }

    public func markPayloadPruned(_ delivery: DeliveryRecord, at time: String) throws {
        try database.prepare("UPDATE deliveries SET payload_pruned_at = ? WHERE seq = ?").run([.text(time), .integer(delivery.seq)])
    }

    /// Deletes deliveries (with their attempts and disclosures) created before `cutoff`, except pending
    /// ones, and runs left without deliveries that started before it.
    public func pruneLedger(createdBefore cutoff: String) throws -> (deliveries: Int, disclosures: Int, runs: Int) {
        try database.transaction {
            let old = "SELECT seq FROM deliveries WHERE created_at < ?1 AND status != 'pending'"
            try database.prepare("DELETE FROM disclosures WHERE delivery IN (\(old))").run([.text(cutoff)])
            let disclosures = database.changes
            try database.prepare("DELETE FROM attempts WHERE delivery IN (\(old))").run([.text(cutoff)])
            try database.prepare("DELETE FROM deliveries WHERE created_at < ?1 AND status != 'pending'").run([.text(cutoff)])
            let deliveries = database.changes
            let emptyRuns = "SELECT id FROM runs WHERE started_at < ?1 AND status != 'running' AND id NOT IN (SELECT run_id FROM deliveries)"
            try database.prepare("DELETE FROM run_partners WHERE run_id IN (\(emptyRuns))").run([.text(cutoff)])
            try database.prepare("DELETE FROM runs WHERE id IN (\(emptyRuns))").run([.text(cutoff)])
            return (deliveries, disclosures, database.changes)
        }
    }

    /// Payload paths (relative) the ledger still refers to.
    public func payloadPaths() throws -> Set<String> {
        let statement = try database.prepare("SELECT payload_path FROM deliveries WHERE payload_pruned_at IS NULL")
        var paths: Set<String> = []
        while try statement.step() { paths.insert(statement.string(0) ?? "") }
        return paths
    }

    private func optional(_ value: String?) -> Value { value.map { .text($0) } ?? .null }
    private func optional(_ value: Int?) -> Value { value.map { .integer(Int64($0)) } ?? .null }
}

public struct LedgerError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

enum JSON {
    static func encode(_ strings: [String]) -> String {
        (try? String(data: JSONSerialization.data(withJSONObject: strings), encoding: .utf8)) ?? "[]"
    }

    static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(data: encoder.encode(value), encoding: .utf8)) ?? "[]"
    }

    static func decode<T: Decodable>(_ text: String?) -> T? {
        guard let data = text?.data(using: .utf8) else { return nil }
        return try? JSONDecoder().decode(T.self, from: data)
    }

    static func decodeStrings(_ text: String?) -> [String] {
        guard let text, let data = text.data(using: .utf8),
              let array = try? JSONSerialization.jsonObject(with: data) as? [String] else { return [] }
        return array
    }
}
