import ExportCore
import Foundation
import Postgres
import SQLite

/// One item of a shared run: a partner's customers in one id range, done by one worker at a time.
/// The items of shared runs in a PostgreSQL ledger: claimed with `FOR UPDATE SKIP LOCKED` (two
/// workers never get the same item, and neither waits for the other's claim), held under a lease
/// the holder renews, taken over by another worker once the lease ran out. Leases are measured by
/// the server's clock, so the workers' clocks need not agree.
///
/// ```swift
/// let items = try RunItems(ledger)
/// while let item = try items.claim(run: runID, worker: "host-a pid 41", leaseSeconds: 60) {
///     // … export item.range of item.partner, renewing the lease every few seconds …
///     _ = try items.finish(item, worker: "host-a pid 41", status: .done, report: json)
/// }
/// ```
public final class RunItems {
    private let database: PostgresSQL
    private let ledger: SQLLedger

    /// The run items of `ledger`, which must be a PostgreSQL ledger.
    public init(_ ledger: SQLLedger) throws {
        guard let database = ledger.database as? PostgresSQL else {
            throw ExportError.usage("several workers share a run only with a PostgreSQL ledger (--state postgresql://…)")
        }
        self.database = database
        self.ledger = ledger
    }

    /// Starts a shared run and its items in one transaction, so that no worker ever sees the run
    /// without its items. With `slot` (a due schedule slot), the run another process already made for
    /// that slot is returned instead (made: false) and nothing is written: write transactions take the
    /// ledger's write lock, so two processes deciding at the same moment decide one after the other.
    ///
    /// A partner is in one run at a time: the partners a run in progress still has items of are left
    /// out of this one (`busy` says which, and which run has them), and when that is every one of
    /// `partners` this throws `lock.held` (exit 75) and writes nothing. A run is in progress while an item of it
    /// is held by a live worker (its lock session there, its lease not run out), or has waited less
    /// than `leaseSeconds` to be claimed; one that is not (every worker of it died, nobody joined) is
    /// marked interrupted here.
    public func start(run: String, trigger: RunTrigger, partners: [String], at time: String, items: [RunItem],
                      slot: String?, leaseSeconds: Int, session: Int32? = nil,
                      allowDeletions: Bool = false) throws -> (run: String, made: Bool, busy: String?) {
        var busyMessage: String?
        return try checked {
            try database.transaction {
                if let slot, let existing = try database.prepare("SELECT run_id FROM run_slots WHERE slot = ?")
                    .firstRowBound([.text(slot)], { try $0.text("run_id") }) {
                    return (existing, false, nil)
                }
                // The unfinished items of runs in progress: a run is live while one of its items is.
                // A run is live while a process that made it or worked on it is still there (its lock session),
                // or an item is held under a lease that has not run out; a pending item made without a session
                // counts for `leaseSeconds`.
                let unfinished = try database.prepare("""
                    SELECT i.run_id, i.partner, i.holder,
                           CASE WHEN EXISTS (SELECT 1 FROM run_items AS k WHERE k.run_id = i.run_id
                                  AND (k.holder_session IN (SELECT pid FROM pg_catalog.pg_stat_activity)
                                       OR (k.status = 'running' AND \(Self.held))
                                       OR (k.status = 'pending' AND k.holder_session IS NULL
                                           AND k.created_at > now() - make_interval(secs => ?1))))
                             THEN 1 ELSE 0 END AS live
                    FROM run_items AS i JOIN runs AS r ON r.id = i.run_id
                    WHERE r.status = 'running' AND i.status IN ('pending', 'running')
                    """)
                try unfinished.bind([.integer(Int64(leaseSeconds))])
                let rows = try unfinished.rows { (run: try $0.text("run_id"), partner: try $0.text("partner"),
                                                  holder: try $0.optionalText("holder"), live: try $0.int("live") == 1) }
                let live = Set(rows.filter(\.live).map(\.run))
                let wanted = Set(partners)
                let busy = rows.filter { live.contains($0.run) && wanted.contains($0.partner) }
                let skipped = Array(Set(busy.map(\.partner))).sorted()
                if !busy.isEmpty {
                    let runs = Array(Set(busy.map(\.run))).sorted()
                    let holders = Array(Set(rows.filter { runs.contains($0.run) }.compactMap(\.holder))).sorted()
                    busyMessage = "run \(runs.joined(separator: ", ")) holds the lock of \(skipped.joined(separator: ", ")): it is in "
                        + "progress" + (holders.isEmpty ? "" : " (workers \(holders.joined(separator: ", ")))")
                        + "; 'partner-export run --join' helps it finish"
                }
                if skipped.count == wanted.count { throw ExportError.lockHeld((busyMessage ?? "") + "; nothing was done") }
                // A run none of whose items has a live holder is over: every worker of it died, nobody joined.
                for abandoned in Set(rows.filter { !live.contains($0.run) && wanted.contains($0.partner) }.map(\.run)) {
                    try database.prepare("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE id = ? AND status = 'running'")
                        .run([.text(time), .text(abandoned)])
                }
                let partners = partners.filter { !skipped.contains($0) }
                let items = items.filter { !skipped.contains($0.partner) }
                try ledger.startRun(id: run, trigger: trigger, partners: partners, at: time, allowDeletions: allowDeletions)
                try insert(items, session: session)
                if let slot { try database.prepare("INSERT INTO run_slots (slot, run_id) VALUES (?, ?)").run([.text(slot), .text(run)]) }
                return (run, true, busyMessage)
            }
        }
    }

    /// The newest run still in progress that has items left to do (pending, or held by a worker), if any.
    public func runInProgress() throws -> String? {
        try checked {
            try database.prepare("""
                SELECT r.id FROM runs AS r WHERE r.status = 'running'
                  AND EXISTS (SELECT 1 FROM run_items AS i WHERE i.run_id = r.id AND i.status IN ('pending', 'running'))
                ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1
                """).firstRowBound([]) { try $0.text("id") }
        }
    }

    /// The partners another run still running has items of, left to do.
    public func partnersInProgress(notIn run: String) throws -> [String] {
        try checked {
            let statement = try database.prepare("""
                SELECT DISTINCT i.partner FROM run_items AS i JOIN runs AS r ON r.id = i.run_id
                WHERE r.status = 'running' AND r.id <> ? AND i.status IN ('pending', 'running') ORDER BY i.partner
                """)
            try statement.bind([.text(run)])
            return try statement.rows { try $0.text("partner") }
        }
    }

    /// How many items of `run` (of `partners`, when given: the ones this process can do) wait for
    /// someone other than the workers named `prefix…` (this process's): pending ones, and ones another
    /// process holds — whose lease may run out, and then they are this process's to take over.
    public func waiting(run: String, notHeldBy prefix: String, partners: [String]? = nil) throws -> Int {
        try checked {
            Int(try database.scalarInt("""
                SELECT count(*) FROM run_items WHERE run_id = ?1
                  AND (status = 'pending' OR (status = 'running' AND left(holder, length(?2)) <> ?2))
                  AND (?3::text IS NULL OR partner IN (SELECT jsonb_array_elements_text(?3::jsonb)))
                """, [.text(run), .text(prefix), partners.map { .text(Column.encode($0)) } ?? .null]) ?? 0)
        }
    }

    /// Whether `worker` still holds `item` under a lease that has not run out (by the server's clock).
    public func holds(_ item: RunItem, worker: String) throws -> Bool {
        let fence = Self.fence(item, worker: worker, error: ExportError.internalFailure(""))
        return try checked { (try database.scalarInt(fence.sql, fence.arguments) ?? 0) == 1 }
    }

    /// The condition a worker's writes are fenced with (``SQLLedger/Fence``): it holds `item` under a
    /// lease that has not run out, in a run still running.
    public static func fence(_ item: RunItem, worker: String, error: ExportError) -> SQLLedger.Fence {
        SQLLedger.Fence(sql: """
            SELECT count(*) FROM run_items WHERE run_id = ?1 AND partner = ?2 AND shard = ?3 AND holder = ?4
              AND status = 'running' AND lease_until > now()
              AND EXISTS (SELECT 1 FROM runs WHERE id = ?1 AND status = 'running')
            """, arguments: [.text(item.runID), .text(item.partner), .integer(Int64(item.shard)), .text(worker)], error: error)
    }

    /// Gives `item` up at once (its lease made to have run out): the worker lost it, or failed in a way
    /// another worker may not; whoever claims it next takes it over from what is recorded.
    public func release(_ item: RunItem, worker: String) throws {
        try checked {
            try database.prepare("""
                UPDATE run_items SET lease_until = now() - interval '1 second'
                WHERE run_id = ?1 AND partner = ?2 AND shard = ?3 AND holder = ?4 AND status = 'running'
                """).run([.text(item.runID), .text(item.partner), .integer(Int64(item.shard)), .text(worker)])
        }
    }

    /// Records that the first shard's worker resent what earlier runs left in doubt: the partner's
    /// other shards may be claimed now.
    public func markRecovered(_ item: RunItem, worker: String) throws {
        try checked {
            try database.prepare("""
                UPDATE run_items SET recovered = 1
                WHERE run_id = ?1 AND partner = ?2 AND shard = 1 AND holder = ?3 AND status = 'running'
                """).run([.text(item.runID), .text(item.partner), .text(worker)])
        }
    }

    /// Whether the partner's first shard resent what earlier runs left in doubt.
    public func recovered(run: String, partner: String) throws -> Bool {
        try checked {
            (try database.scalarInt("SELECT count(*) FROM run_items WHERE run_id = ? AND partner = ? AND shard = 1 AND recovered = 1",
                                    [.text(run), .text(partner)]) ?? 0) == 1
        }
    }

    /// Runs still `running` every item of which is finished: the process that finished the last one
    /// stopped before it settled the run; whoever finds one settles it.
    public func unsettled() throws -> [String] {
        try checked {
            try database.prepare("""
                SELECT r.id FROM runs AS r WHERE r.status = 'running'
                  AND EXISTS (SELECT 1 FROM run_items AS i WHERE i.run_id = r.id)
                  AND NOT EXISTS (SELECT 1 FROM run_items AS i WHERE i.run_id = r.id AND i.status IN ('pending', 'running'))
                ORDER BY r.started_at
                """).rows { try $0.text("id") }
        }
    }

    /// Records that `worker` rendered `item`'s shard to its end; whether every shard of the partner's
    /// feed now is (then the feed is rendered). Nil when `worker` no longer holds the item.
    public func markRendered(_ item: RunItem, worker: String) throws -> Bool? {
        try checked {
            try database.transaction {
                try database.prepare("""
                    UPDATE run_items SET rendered = 1
                    WHERE run_id = ?1 AND partner = ?2 AND shard = ?3 AND holder = ?4 AND status = 'running'
                    """).run([.text(item.runID), .text(item.partner), .integer(Int64(item.shard)), .text(worker)])
                guard database.changes == 1 else { return nil }
                return (try database.scalarInt("SELECT count(*) FROM run_items WHERE run_id = ? AND partner = ? AND rendered = 0",
                                               [.text(item.runID), .text(item.partner)]) ?? 0) == 0
            }
        }
    }

    /// Adds `items` (already there: left as they are).
    public func add(_ items: [RunItem]) throws {
        try checked { try database.transaction { try insert(items) } }
    }

    /// Inserts `items`, pending; `session`: the lock session of the process that made them (until it
    /// claims them, it is what says whether someone is about to).
    private func insert(_ items: [RunItem], session: Int32? = nil) throws {
        let insert = try database.prepare("""
            INSERT INTO run_items (run_id, partner, shard, shards, range_after, range_through, holder_session)
            VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """)
        for item in items {
            try insert.run([.text(item.runID), .text(item.partner), .integer(Int64(item.shard)), .integer(Int64(item.shards)),
                            item.range.after.map { .integer($0) } ?? .null, item.range.through.map { .integer($0) } ?? .null,
                            session.map { .integer(Int64($0)) } ?? .null])
        }
    }

    /// Takes the next item of `run` that nobody holds: a pending one, or one whose holder's lease
    /// ran out (a takeover, counted and the earlier holder remembered). Nil when there is none now.
    ///
    /// `session` is the backend pid of the worker's lock session: when that session is gone (the
    /// process died, and the server closed its connection), the item is taken over at once; when it
    /// is there but silent (a stalled process, a machine cut off), once the lease ran out.
    public func claim(run: String, worker: String, leaseSeconds: Int, session: Int32? = nil, partners: [String]? = nil) throws -> RunItem? {
        // In the writers' turn: a takeover waits for the earlier holder's write in progress to commit
        // (that write checked the lease inside its transaction), so what it reads next includes it.
        try checked { try database.transaction {
            try database.prepare("""
                UPDATE run_items AS i SET
                  takeovers = i.takeovers + CASE WHEN i.status = 'running' THEN 1 ELSE 0 END,
                  earlier_holders = CASE WHEN i.status = 'running'
                    THEN (i.earlier_holders::jsonb || to_jsonb(i.holder))::text ELSE i.earlier_holders END,
                  status = 'running', holder = ?2, claimed_at = now(), lease_until = now() + make_interval(secs => ?3),
                  holder_session = ?4
                FROM (SELECT run_id, partner, shard FROM run_items
                      WHERE run_id = ?1 AND (status = 'pending' OR (status = 'running' AND NOT \(Self.held)))
                        AND (?5::text IS NULL OR partner IN (SELECT jsonb_array_elements_text(?5::jsonb)))
                        AND EXISTS (SELECT 1 FROM runs AS r WHERE r.id = run_id AND r.status = 'running')
                        -- The other shards of a partner wait until its first shard resent what earlier runs left.
                        AND (shard = 1 OR EXISTS (SELECT 1 FROM run_items AS f WHERE f.run_id = run_items.run_id
                             AND f.partner = run_items.partner AND f.shard = 1 AND (f.recovered = 1 OR f.status IN ('done', 'failed'))))
                      ORDER BY partner, shard LIMIT 1 FOR UPDATE SKIP LOCKED) AS next
                WHERE i.run_id = next.run_id AND i.partner = next.partner AND i.shard = next.shard
                RETURNING \(Self.columns.map { "i." + $0 }.joined(separator: ", "))
                """).firstRowBound([.text(run), .text(worker), .integer(Int64(leaseSeconds)), session.map { .integer(Int64($0)) } ?? .null,
                                    partners.map { .text(Column.encode($0)) } ?? .null], RunItem.init(row:))
        } }
    }

    /// A running item's holder is alive: its lease has not run out and its lock session is still there.
    static let held = """
        (lease_until > now() AND (holder_session IS NULL OR holder_session IN (SELECT pid FROM pg_catalog.pg_stat_activity)))
        """

    /// Extends the lease of `item` by `leaseSeconds` from now; false when `worker` no longer holds it
    /// under a live lease (it ran out — a lease that ran out is never renewed, another worker may be
    /// taking it over): the worker must stop working on it.
    public func renew(_ item: RunItem, worker: String, leaseSeconds: Int) throws -> Bool {
        try checked {
            try database.prepare("""
                UPDATE run_items SET lease_until = now() + make_interval(secs => ?5)
                WHERE run_id = ?1 AND partner = ?2 AND shard = ?3 AND holder = ?4 AND status = 'running' AND lease_until > now()
                """).run([.text(item.runID), .text(item.partner), .integer(Int64(item.shard)), .text(worker), .integer(Int64(leaseSeconds))])
            return database.changes == 1
        }
    }

    /// Records how `item` ended; false (and nothing written) when `worker` no longer holds it.
    public func finish(_ item: RunItem, worker: String, status: RunItem.Status, report: String?) throws -> Bool {
        try checked {
            try database.prepare("""
                UPDATE run_items SET status = ?5, report = ?6, finished_at = now(), lease_until = NULL
                WHERE run_id = ?1 AND partner = ?2 AND shard = ?3 AND holder = ?4 AND status = 'running' AND lease_until > now()
                """).run([.text(item.runID), .text(item.partner), .integer(Int64(item.shard)), .text(worker), .text(status.rawValue),
                          report.map { .text($0) } ?? .null])
            return database.changes == 1
        }
    }

    /// Every item of `run`, by partner and shard.
    public func items(run: String) throws -> [RunItem] {
        try checked {
            let statement = try database.prepare("SELECT \(Self.columns.joined(separator: ", ")) FROM run_items WHERE run_id = ? "
                                                 + "ORDER BY partner, shard")
            try statement.bind([.text(run)])
            return try statement.rows(RunItem.init(row:))
        }
    }

    static let columns = ["run_id", "partner", "shard", "shards", "range_after", "range_through", "status", "holder", "takeovers",
                          "earlier_holders", "report", "rendered"]

    private func checked<T>(_ body: () throws -> T) throws -> T { try database.checked(body) }
}

extension RunItem {
    init(row: LedgerRow) throws {
        self.init(runID: try row.text("run_id"), partner: try row.text("partner"), shard: try row.int("shard"),
                  shards: try row.int("shards"),
                  range: IDRange(after: try row.optionalInt64("range_after"), through: try row.optionalInt64("range_through")),
                  status: try .decoded(try row.text("status"), column: "run_items.status"), holder: try row.optionalText("holder"),
                  earlierHolders: try Column.decode([String].self, try row.optionalText("earlier_holders"), column: "run_items.earlier_holders"),
                  takeovers: try row.int("takeovers"), report: try row.optionalText("report"), rendered: try row.bool("rendered"))
    }
}
