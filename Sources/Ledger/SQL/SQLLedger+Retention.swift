import ExportCore
import SQLite

extension SQLLedger: RetentionLog {
    public func payloadsToPrune(createdBefore cutoff: String, includeFailed: Bool) throws
        -> (prunable: [DeliveryRecord], kept: [DeliveryRecord]) {
        let candidates = try select(where: "payload_pruned_at IS NULL AND created_at < ? AND status != 'pending' AND in_doubt = 0",
                                    [.text(cutoff)])
        if includeFailed { return (candidates, []) }
        // An altered payload is evidence: kept like an owed one, whatever became of its delivery.
        func keep(_ d: DeliveryRecord) -> Bool { d.isOwed || d.lastErrorCode == "payload.mismatch" }
        return (candidates.filter { !keep($0) }, candidates.filter(keep))
    }

    public func markPayloadPruned(_ delivery: DeliveryRecord, at time: String) throws {
        try checked {
            try database.prepare("UPDATE deliveries SET payload_pruned_at = ? WHERE seq = ?").run([.text(time), .integer(delivery.seq)])
        }
    }

    public func pruneLedger(createdBefore cutoff: String) throws -> (deliveries: Int, disclosures: Int, runs: Int) {
        try checked {
            try database.transaction {
                // The disclosure log loses only a prefix: the entries before the first one a kept delivery
                // has. An old delivery with an entry after that waits for a later prune (docs/audit.md).
                let settled = "d.created_at < ?1 AND d.status IN ('delivered', 'superseded')"
                let keptFirst = try database.scalarInt("SELECT min(x.log_index) FROM disclosures AS x JOIN deliveries AS d "
                                                       + "ON d.seq = x.delivery WHERE NOT (\(settled))", [.text(cutoff)])
                let boundary = try keptFirst.map { UInt64($0) } ?? logState().tree.size
                try prunePrefix(before: boundary)
                let old = "SELECT d.seq FROM deliveries AS d WHERE \(settled) AND NOT EXISTS "
                    + "(SELECT 1 FROM disclosures AS x WHERE x.delivery = d.seq AND x.log_index >= ?2)"
                let arguments: [Value] = [.text(cutoff), .integer(Int64(boundary))]
                try database.prepare("DELETE FROM disclosures WHERE delivery IN (\(old))").run(arguments)
                let disclosures = database.changes
                try database.prepare("DELETE FROM attempts WHERE delivery IN (\(old))").run(arguments)
                try database.prepare("DELETE FROM deliveries WHERE seq IN (\(old))").run(arguments)
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
