import ExportCore
import SQLite

extension SQLLedger: PartnerControlLog {
    public func pause(partner: String, reason: String, by actor: String, at time: String) throws {
        try checked {
            try database.transaction {
                try database.prepare("""
                    INSERT INTO partner_controls (partner, paused_at, paused_by, pause_reason) VALUES (?, ?, ?, ?)
                    ON CONFLICT (partner) DO UPDATE SET paused_at = excluded.paused_at, paused_by = excluded.paused_by,
                      pause_reason = excluded.pause_reason
                    """).run([.text(partner), .text(time), .text(actor), .text(reason)])
                try event(partner, "paused", at: time, actor: actor, reason: reason)
            }
        }
    }

    public func resume(partner: String, by actor: String, at time: String) throws -> PartnerControl? {
        try checked {
            try database.transaction {
                let before = try control(partner)
                guard let before, before.paused || before.waiting(at: time) else { return nil }
                try database.prepare("""
                    UPDATE partner_controls SET paused_at = NULL, paused_by = NULL, pause_reason = NULL, wait_until = NULL,
                      wait_reason = NULL WHERE partner = ?
                    """).run([.text(partner)])
                try event(partner, "resumed", at: time, actor: actor, reason: nil)
                return before
            }
        }
    }

    public func wait(partner: String, until: String, reason: String, at time: String) throws {
        try checked {
            try database.transaction {
                try database.prepare("""
                    INSERT INTO partner_controls (partner, wait_until, wait_reason) VALUES (?, ?, ?)
                    ON CONFLICT (partner) DO UPDATE SET
                      wait_until = CASE WHEN partner_controls.wait_until > excluded.wait_until THEN partner_controls.wait_until
                                        ELSE excluded.wait_until END,
                      wait_reason = CASE WHEN partner_controls.wait_until > excluded.wait_until THEN partner_controls.wait_reason
                                         ELSE excluded.wait_reason END
                    """).run([.text(partner), .text(until), .text(reason)])
                try event(partner, "waiting", at: time, actor: "the partner", reason: reason + " (until \(until))")
            }
        }
    }

    public func partnerControl(_ partner: String) throws -> PartnerControl? {
        guard hasPartnerControls else { return nil }
        return try checked { try control(partner) }
    }

    public func partnerControls() throws -> [PartnerControl] {
        guard hasPartnerControls else { return [] }
        return try checked {
            try database.prepare("""
                SELECT partner, paused_at, paused_by, pause_reason, wait_until, wait_reason FROM partner_controls
                WHERE paused_at IS NOT NULL OR wait_until IS NOT NULL ORDER BY partner
                """).rows(Self.control(row:))
        }
    }

    public func partnerEvents(partner: String?, limit: Int) throws -> [PartnerEvent] {
        guard hasPartnerControls else { return [] }
        return try checked {
            let statement = try database.prepare("SELECT partner, action, at, actor, reason FROM partner_events "
                                                 + (partner == nil ? "" : "WHERE partner = ? ") + "ORDER BY at DESC LIMIT ?")
            return try statement.bound((partner.map { [Value.text($0)] } ?? []) + [.integer(Int64(limit))]).rows { row in
                PartnerEvent(partner: try row.text("partner"), action: try row.text("action"), at: try row.text("at"),
                             actor: try row.optionalText("actor"), reason: try row.optionalText("reason"))
            }
        }
    }

    public func takeRequestSlot(partner: String, limit: Int, window: Int64, now: Int64) throws -> Int64? {
        try checked {
            // The partner's row, locked (PostgreSQL: FOR UPDATE; SQLite: the one writer), orders every
            // worker's reservations for it; no other writer's turn is needed.
            try database.transactionLockingLater {
                try database.prepare("INSERT INTO partner_controls (partner) VALUES (?) ON CONFLICT (partner) DO NOTHING")
                    .run([.text(partner)])
                _ = try database.prepare("SELECT partner FROM partner_controls WHERE partner = ?" + database.forUpdate)
                    .bound([.text(partner)]).rows { _ in 0 }
                try database.prepare("DELETE FROM request_slots WHERE partner = ? AND at_ms <= ?")
                    .run([.text(partner), .integer(now - window)])
                let recent = try database.prepare("""
                    SELECT at_ms FROM request_slots WHERE partner = ? ORDER BY at_ms DESC LIMIT ?
                    """).bound([.text(partner), .integer(Int64(limit))]).rows { try $0.int64("at_ms") }
                if recent.count >= limit, let oldest = recent.last {
                    return oldest + window
                }
                try database.prepare("INSERT INTO request_slots (partner, at_ms) VALUES (?, ?)").run([.text(partner), .integer(now)])
                return nil
            }
        }
    }

    private func control(_ partner: String) throws -> PartnerControl? {
        try database.prepare("""
            SELECT partner, paused_at, paused_by, pause_reason, wait_until, wait_reason FROM partner_controls WHERE partner = ?
            """).bound([.text(partner)]).firstRow(Self.control(row:))
    }

    private static func control(row: LedgerRow) throws -> PartnerControl {
        PartnerControl(partner: try row.text("partner"), pausedAt: try row.optionalText("paused_at"),
                       pausedBy: try row.optionalText("paused_by"), pauseReason: try row.optionalText("pause_reason"),
                       waitUntil: try row.optionalText("wait_until"), waitReason: try row.optionalText("wait_reason"))
    }

    private func event(_ partner: String, _ action: String, at time: String, actor: String?, reason: String?) throws {
        try database.prepare("INSERT INTO partner_events (partner, action, at, actor, reason) VALUES (?, ?, ?, ?, ?)")
            .run([.text(partner), .text(action), .text(time), optional(actor), optional(reason)])
    }
}

extension SQLLedger: IncidentLog {
    public func incidents() throws -> [IncidentRecord] {
        guard hasPartnerControls else { return [] }
        return try checked {
            try database.prepare("""
                SELECT id, partner, type, since, run_id, summary, owed, sent_at, resolved_at, resolved_sent_at FROM incidents
                WHERE resolved_at IS NULL OR (sent_at IS NOT NULL AND resolved_sent_at IS NULL) ORDER BY since, id
                """).rows { row in
                IncidentRecord(id: try row.text("id"), partner: try row.text("partner"), type: try row.text("type"),
                               since: try row.text("since"), run: try row.optionalText("run_id"), summary: try row.text("summary"),
                               owed: try row.int("owed"), sentAt: try row.optionalText("sent_at"),
                               resolvedAt: try row.optionalText("resolved_at"), resolvedSentAt: try row.optionalText("resolved_sent_at"))
            }
        }
    }

    public func openIncident(_ incident: IncidentRecord) throws {
        try checked {
            try database.transactionLockingLater {
                let updated = try database.prepare("""
                    UPDATE incidents SET run_id = ?, summary = ?, owed = ? WHERE partner = ? AND type = ? AND resolved_at IS NULL
                    """)
                try updated.run([optional(incident.run), .text(incident.summary), .integer(Int64(incident.owed)),
                                 .text(incident.partner), .text(incident.type)])
                guard database.changes == 0 else { return }
                try database.prepare("""
                    INSERT INTO incidents (id, partner, type, since, run_id, summary, owed) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """).run([.text(incident.id), .text(incident.partner), .text(incident.type), .text(incident.since),
                              optional(incident.run), .text(incident.summary), .integer(Int64(incident.owed))])
            }
        }
    }

    public func resolveIncident(id: String, at time: String) throws {
        try checked {
            try database.prepare("UPDATE incidents SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL").run([.text(time), .text(id)])
        }
    }

    public func claimAnnouncement(id: String, resolved: Bool, at time: String, repeatBefore: String) throws -> Bool {
        try checked {
            if resolved {
                try database.prepare("""
                    UPDATE incidents SET resolved_sent_at = ? WHERE id = ? AND resolved_at IS NOT NULL AND sent_at IS NOT NULL
                      AND resolved_sent_at IS NULL
                    """).run([.text(time), .text(id)])
            } else {
                try database.prepare("""
                    UPDATE incidents SET sent_at = ? WHERE id = ? AND resolved_at IS NULL AND (sent_at IS NULL OR sent_at <= ?)
                    """).run([.text(time), .text(id), .text(repeatBefore)])
            }
            return database.changes == 1
        }
    }

    public func releaseAnnouncement(id: String, resolved: Bool, previous: String?) throws {
        try checked {
            try database.prepare("UPDATE incidents SET \(resolved ? "resolved_sent_at" : "sent_at") = ? WHERE id = ?")
                .run([optional(previous), .text(id)])
        }
    }
}
