import ExportCore
import SQLite

extension SQLLedger: RunLog {
    public func startRun(id: String, trigger: RunTrigger, partners: [String], at time: String, allowDeletions: Bool) throws {
        try checked {
            try database.prepare("INSERT INTO runs (id, started_at, trigger, partners, allow_deletions) VALUES (?, ?, ?, ?, ?)")
                .run([.text(id), .text(time), .text(trigger.rawValue), .text(Column.encode(partners)), .integer(allowDeletions ? 1 : 0)])
        }
    }

    public func finishRun(id: String, status: RunStatus, at time: String) throws {
        try checked {
            // Once: the workers of a shared run may each try to finish it.
            try database.prepare("UPDATE runs SET status = ?, finished_at = ? WHERE id = ? AND status = 'running'")
                .run([.text(status.rawValue), .text(time), .text(id)])
        }
    }

    public func workItems(run: String) throws -> [RunItem] {
        guard database is PostgresSQL else { return [] }
        return try RunItems(self).items(run: run)
    }

    public func markInterruptedRuns(at time: String) throws -> Int {
        try checked {
            try database.prepare("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'").run([.text(time)])
            return database.changes
        }
    }

    public func recordPartner(run: String, _ record: PartnerRunRecord) throws {
        try checked {
            try database.prepare("""
                INSERT INTO run_partners (run_id, partner, status, eligible, records, rejected, deliveries, bytes, started_at,
                                          finished_at, error, error_code, feed, feed_complete, report)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id, partner) DO UPDATE SET status = excluded.status, eligible = excluded.eligible,
                  records = excluded.records, rejected = excluded.rejected, deliveries = excluded.deliveries,
                  bytes = excluded.bytes, finished_at = excluded.finished_at, error = excluded.error,
                  error_code = excluded.error_code, feed = excluded.feed, feed_complete = excluded.feed_complete,
                  report = excluded.report
                """).run([.text(run), .text(record.partner), .text(record.status.rawValue), .integer(Int64(record.eligible)),
                          .integer(Int64(record.records)), .integer(Int64(record.rejected)), .integer(Int64(record.deliveries)),
                          .integer(Int64(record.bytes)), .text(record.startedAt), optional(record.finishedAt), optional(record.error),
                          optional(record.errorCode), optional(record.feed), .integer(record.feedComplete ? 1 : 0),
                          optional(record.report)])
        }
    }

    public func runs(limit: Int?) throws -> [RunRecord] {
        try checked {
            let statement = try database.prepare("SELECT id, started_at, finished_at, trigger, status, partners, allow_deletions FROM runs "
                                                 + "ORDER BY started_at DESC, rowid DESC" + (limit.map { " LIMIT \($0)" } ?? ""))
            return try statement.rows(RunRecord.init(row:))
        }
    }

    public func runCount() throws -> Int {
        try checked { Int(try database.scalarInt("SELECT count(*) FROM runs") ?? 0) }
    }

    public func run(_ id: String) throws -> RunRecord? {
        try checked {
            let statement = try database.prepare("SELECT id, started_at, finished_at, trigger, status, partners, allow_deletions FROM runs WHERE id = ?")
            try statement.bind([.text(id)])
            return try statement.firstRow(RunRecord.init(row:))
        }
    }

    public func partnerRuns(run: String) throws -> [PartnerRunRecord] {
        try checked {
            let statement = try database.prepare("""
                SELECT partner, status, eligible, records, rejected, deliveries, bytes, started_at, finished_at, error, error_code,
                       feed, feed_complete, report
                FROM run_partners WHERE run_id = ? ORDER BY partner
                """)
            try statement.bind([.text(run)])
            return try statement.rows(PartnerRunRecord.init(row:))
        }
    }

    public func lastCompletedRun(partner: String) throws -> String? {
        try checked {
            let statement = try database.prepare("""
                SELECT max(p.finished_at) AS finished FROM run_partners AS p JOIN runs AS r ON r.id = p.run_id
                WHERE p.partner = ? AND p.finished_at IS NOT NULL AND r.trigger != 'rerun'
                """)
            try statement.bind([.text(partner)])
            return try statement.firstRow { try $0.optionalText("finished") } ?? nil
        }
    }
}

extension RunRecord {
    init(row: LedgerRow) throws {
        self.init(id: try row.text("id"), startedAt: try row.text("started_at"), finishedAt: try row.optionalText("finished_at"),
                  trigger: try .decoded(try row.text("trigger"), column: "runs.trigger"),
                  status: try .decoded(try row.text("status"), column: "runs.status"),
                  partners: try Column.decode([String].self, try row.optionalText("partners"), column: "runs.partners"),
                  allowDeletions: try row.bool("allow_deletions"))
    }
}

extension PartnerRunRecord {
    init(row: LedgerRow) throws {
        self.init(partner: try row.text("partner"), status: try .decoded(try row.text("status"), column: "run_partners.status"),
                  eligible: try row.int("eligible"), records: try row.int("records"), rejected: try row.int("rejected"),
                  deliveries: try row.int("deliveries"), bytes: try row.int("bytes"), startedAt: try row.text("started_at"),
                  finishedAt: try row.optionalText("finished_at"), error: try row.optionalText("error"),
                  errorCode: try row.optionalText("error_code"), feed: try row.optionalText("feed"),
                  feedComplete: try row.bool("feed_complete"), report: try row.optionalText("report"))
    }
}
