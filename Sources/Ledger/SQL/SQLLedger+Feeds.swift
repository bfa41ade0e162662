import ExportCore
import SQLite

extension SQLLedger: FeedLog {
    static let feedColumns = "id, partner, run_id, started_at, shape, rendered, batches, completed_at, completed_by, superseded_by, shards"

    public func startFeed(_ feed: FeedRecord) throws {
        try writeGuard?()
        try checked {
            try database.prepare("""
                INSERT INTO feeds (id, partner, run_id, started_at, shape, rendered, batches, shards) VALUES (?, ?, ?, ?, ?, 0, 0, ?)
                ON CONFLICT (id) DO NOTHING
                """).run([.text(feed.id), .text(feed.partner), .text(feed.runID), .text(feed.startedAt), .text(feed.shape),
                          .integer(Int64(feed.shards))])
        }
    }

    public func feed(_ id: String) throws -> FeedRecord? {
        try checked {
            let statement = try database.prepare("SELECT \(Self.feedColumns) FROM feeds WHERE id = ?")
            try statement.bind([.text(id)])
            return try statement.firstRow(FeedRecord.init(row:))
        }
    }

    public func latestFeed(partner: String) throws -> FeedRecord? {
        try checked {
            let statement = try database.prepare("SELECT \(Self.feedColumns) FROM feeds WHERE partner = ? "
                                                 + "ORDER BY started_at DESC, rowid DESC LIMIT 1")
            try statement.bind([.text(partner)])
            return try statement.firstRow(FeedRecord.init(row:))
        }
    }

    public func partnersWithIncompleteFeeds() throws -> [String] {
        try checked {
            let statement = try database.prepare("""
                SELECT f.partner FROM feeds AS f WHERE f.completed_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM feeds AS g WHERE g.partner = f.partner
                                  AND (g.started_at > f.started_at OR (g.started_at = f.started_at AND g.rowid > f.rowid)))
                ORDER BY f.partner
                """)
            return try statement.rows { try $0.text("partner") }
        }
    }

    public func finishRender(feed: String, batches: Int, at time: String) throws -> [DeliveryRecord] {
        try writeGuard?()
        return try checked {
            try database.transaction {
                guard let current = try self.feed(feed) else { throw LedgerError.damaged("there is no feed \(feed) in the ledger") }
                try database.prepare("UPDATE feeds SET rendered = 1, batches = CASE WHEN batches > ?1 THEN batches ELSE ?1 END WHERE id = ?2")
                    .run([.integer(Int64(batches)), .text(feed)])
                let older = try select(where: """
                    partner = ? AND feed != ? AND status IN ('pending', 'failed', 'rejected', 'held') AND in_doubt = 0
                    AND feed IN (SELECT id FROM feeds WHERE partner = ?1 AND started_at <= ?)
                    """, [.text(current.partner), .text(feed), .text(current.startedAt)])
                var superseded: [DeliveryRecord] = []
                for delivery in older where try supersedeRow(
                    delivery, by: nil, reason: "replaced by feed \(feed), which holds every record eligible now", at: time) {
                    superseded.append(delivery)
                }
                try database.prepare("""
                    UPDATE feeds SET superseded_by = ? WHERE partner = ? AND id != ? AND completed_at IS NULL
                      AND superseded_by IS NULL AND started_at <= ?
                    """).run([.text(feed), .text(current.partner), .text(feed), .text(current.startedAt)])
                return superseded
            }
        }
    }

    public func settleFeed(_ feed: String, by run: String, at time: String) throws -> Bool {
        try checked {
            try database.transaction {
                guard let current = try self.feed(feed) else { return false }
                if current.isComplete { return true }
                guard current.rendered else { return false }
                let owed = try database.scalarInt("""
                    SELECT count(*) FROM deliveries WHERE feed = ? AND status IN ('pending', 'failed', 'rejected', 'held')
                    """, [.text(feed)]) ?? 0
                guard owed == 0 else { return false }
                try database.prepare("UPDATE feeds SET completed_at = ?, completed_by = ? WHERE id = ?")
                    .run([.text(time), .text(run), .text(feed)])
                return true
            }
        }
    }

    public func feeds(startedBy run: String) throws -> [FeedRecord] {
        try checked {
            let statement = try database.prepare("SELECT \(Self.feedColumns) FROM feeds WHERE run_id = ? ORDER BY partner")
            try statement.bind([.text(run)])
            return try statement.rows(FeedRecord.init(row:))
        }
    }
}

extension FeedRecord {
    init(row: LedgerRow) throws {
        self.init(id: try row.text("id"), partner: try row.text("partner"), runID: try row.text("run_id"),
                  startedAt: try row.text("started_at"), shape: try row.text("shape"), rendered: try row.bool("rendered"),
                  batches: try row.int("batches"), completedAt: try row.optionalText("completed_at"),
                  completedBy: try row.optionalText("completed_by"), supersededBy: try row.optionalText("superseded_by"),
                  shards: try row.int("shards"))
    }
}
