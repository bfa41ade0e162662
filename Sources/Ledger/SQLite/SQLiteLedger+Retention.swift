import ExportCore
import SQLite

extension SQLiteLedger: RetentionLog {
    public func payloadsToPrune(createdBefore cutoff: String, includeFailed: Bool) throws
        -> (prunable: [DeliveryRecord], kept: [DeliveryRecord]) {
        let candidates = try select(where: "payload_pruned_at IS NULL AND created_at < ? AND status != 'pending' AND in_doubt = 0",
                                    [.text(cutoff)])
        if includeFailed { return (candidates, []) }
        return (candidates.filter { !$0.isOwed }, candidates.filter(\.isOwed))
    }

    public func markPayloadPruned(_ delivery: DeliveryRecord, at time: String) throws {
        try checked {
            try database.prepare("UPDATE deliveries SET payload_pruned_at = ? WHERE seq = ?").run([.text(time), .integer(delivery.seq)])
        }
    }

    public func pruneLedger(createdBefore cutoff: String) throws -> (deliveries: Int, disclosures: Int, runs: Int) {
        try checked {
            try database.transaction {
                let old = "SELECT seq FROM deliveries WHERE created_at < ?1 AND status IN ('delivered', 'superseded')"
                try database.prepare("DELETE FROM disclosures WHERE delivery IN (\(old))").run([.text(cutoff)])
                let disclosures = database.changes
                try database.prepare("DELETE FROM attempts WHERE delivery IN (\(old))").run([.text(cutoff)])
                try database.prepare("DELETE FROM deliveries WHERE created_at < ?1 AND status IN ('delivered', 'superseded')")
                    .run([.text(cutoff)])
                let deliveries = database.changes
                let emptyRuns = """
                    SELECT id FROM runs WHERE started_at < ?1 AND status != 'running' AND id NOT IN (SELECT run_id FROM deliveries)
                    """
                try database.prepare("DELETE FROM run_partners WHERE run_id IN (\(emptyRuns))").run([.text(cutoff)])
                try database.prepare("DELETE FROM feeds WHERE run_id IN (\(emptyRuns)) AND id NOT IN (SELECT feed FROM deliveries)")
                    .run([.text(cutoff)])
                try database.prepare("DELETE FROM runs WHERE id IN (\(emptyRuns))").run([.text(cutoff)])
                return (deliveries, disclosures, database.changes)
            }
        }
    }

    public func payloadPaths() throws -> Set<String> {
        try checked {
            let statement = try database.prepare("SELECT payload_path FROM deliveries WHERE payload_pruned_at IS NULL")
            var paths: Set<String> = []
            try statement.forEachRow { paths.insert(try $0.text("payload_path")) }
            return paths
        }
    }
}
