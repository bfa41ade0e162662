import ExportCore
import SQLite

extension SQLLedger: CounterLog {
    public func add(_ amount: Int, to counter: String, partner: String) throws {
        guard amount != 0 else { return }
        try checked {
            try database.prepare("""
                INSERT INTO counters (partner, name, value) VALUES (?, ?, ?)
                ON CONFLICT (partner, name) DO UPDATE SET value = counters.value + excluded.value
                """).run([.text(partner), .text(counter), .integer(Int64(amount))])
        }
    }

    public func set(_ value: Int, of gauge: String, partner: String) throws {
        try checked {
            try database.prepare("""
                INSERT INTO counters (partner, name, value) VALUES (?, ?, ?)
                ON CONFLICT (partner, name) DO UPDATE SET value = excluded.value
                """).run([.text(partner), .text(gauge), .integer(Int64(value))])
        }
    }

    public func totals() throws -> [String: PartnerTotals] {
        try checked {
            var totals: [String: PartnerTotals] = [:]
            try database.prepare("SELECT partner, name, value FROM counters").forEachRow { row in
                totals[try row.text("partner"), default: PartnerTotals()].counters[try row.text("name")] = try row.int("value")
            }
            for (partner, count) in try owedByPartner() {
                totals[partner, default: PartnerTotals()].openFailures = count
            }
            try database.prepare("""
                SELECT p.partner AS partner, p.status AS status, p.started_at AS started_at, p.finished_at AS finished_at,
                       p.records AS records
                FROM run_partners AS p WHERE p.finished_at IS NOT NULL ORDER BY p.finished_at
                """).forEachRow { row in
                let partner = try row.text("partner")
                var entry = totals[partner, default: PartnerTotals()]
                let succeeded = PartnerStatus(rawValue: try row.text("status"))?.succeeded ?? false
                entry.lastRunStartedAt = try row.text("started_at")
                entry.lastRunFinishedAt = try row.optionalText("finished_at")
                entry.lastRunSucceeded = succeeded
                entry.lastRunRecords = try row.int("records")
                if succeeded { entry.lastSuccessAt = entry.lastRunFinishedAt }
                totals[partner] = entry
            }
            try database.prepare("""
                SELECT f.partner AS partner, f.completed_at IS NOT NULL AS complete FROM feeds AS f
                WHERE f.rowid = (SELECT g.rowid FROM feeds AS g WHERE g.partner = f.partner ORDER BY g.started_at DESC, g.rowid DESC LIMIT 1)
                """).forEachRow { row in
                totals[try row.text("partner"), default: PartnerTotals()].feedComplete = try row.bool("complete")
            }
            for control in try partnerControls() {
                totals[control.partner, default: PartnerTotals()].paused = control.paused
                totals[control.partner, default: PartnerTotals()].waitUntil = control.waitUntil
            }
            // A run still marked running: in progress, or killed (the next run marks it interrupted).
            if let since = try database.prepare("SELECT min(started_at) AS since FROM runs WHERE status = 'running'")
                .rows({ try $0.optionalText("since") }).first ?? nil {
                totals["", default: PartnerTotals()].runningSince = since
            }
            return totals
        }
    }
}
