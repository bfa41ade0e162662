import ExportCore
import SQLite

extension SQLLedger: DisclosureLog {
    /// Uses the (customer_id, …) primary key: one index search however many rows there are.
    public func disclosures(customerID: Int64) throws -> [DisclosureRecord] {
        try checked {
            let statement = try database.prepare("""
                SELECT d.partner AS partner, d.id AS delivery, d.fields AS fields, d.purpose AS purpose,
                       d.delivered_at AS delivered_at, x.scope AS scope, x.granted_at AS granted_at, x.confirmed AS confirmed,
                       x.kind AS kind, x.reason AS reason, d.key_field AS key_field, x.log_index AS log_index, d.shape AS shape
                FROM disclosures AS x JOIN deliveries AS d ON d.seq = x.delivery
                WHERE x.customer_id = ? ORDER BY d.delivered_at, d.seq, x.scope
                """)
            try statement.bind([.integer(customerID)])
            return try statement.rows { row in
                let kind: DisclosureKind = try .decoded(try row.text("kind"), column: "disclosures.kind")
                // A notice carries the key field alone.
                let fields = kind == .deletion ? [try row.optionalText("key_field")].compactMap { $0 }
                    : try Column.decode([String].self, try row.optionalText("fields"), column: "deliveries.fields")
                var record = DisclosureRecord(partner: try row.text("partner"), deliveryID: try row.text("delivery"),
                                 fields: fields,
                                 purpose: try row.text("purpose"), disclosedAt: try row.optionalText("delivered_at") ?? "",
                                 consentScope: try row.text("scope"), consentGrantedAt: try row.text("granted_at"),
                                 confirmed: try row.bool("confirmed"),
                                 kind: kind,
                                 reason: try row.optionalText("reason").map { try .decoded($0, column: "disclosures.reason") })
                record.logIndex = try row.isNull("log_index") ? nil : try row.int64("log_index")
                record.shape = kind == .deletion ? [] : (try? Column.decode([FieldShape].self, try row.optionalText("shape"), column: "deliveries.shape")) ?? []
                return record
            }
        }
    }

    public func disclosureTotals(since: String?) throws -> [DisclosureTotal] {
        try checked {
            // One row per acknowledged delivery of the period: its own disclosure rows only (the primary
            // key's delivery column), one per customer and kind whatever the consent scopes.
            let statement = try database.prepare("""
                SELECT d.partner AS partner, d.shape AS shape, d.field_counts AS field_counts, d.key_field AS key_field,
                       (SELECT count(DISTINCT x.customer_id) FROM disclosures AS x WHERE x.delivery = d.seq AND x.kind = 'disclosure')
                         AS records,
                       (SELECT count(DISTINCT x.customer_id) FROM disclosures AS x WHERE x.delivery = d.seq AND x.kind = 'deletion')
                         AS notices
                FROM deliveries AS d
                WHERE d.status = 'delivered' AND d.delivered_at IS NOT NULL AND d.delivered_at >= ?
                ORDER BY d.partner, d.seq
                """)
            try statement.bind([.text(since ?? "")])
            return try statement.rows { row in
                DisclosureTotal(partner: try row.text("partner"),
                                shape: (try? Column.decode([FieldShape].self, try row.optionalText("shape"), column: "deliveries.shape")) ?? [],
                                fieldCounts: (try? Column.decode([Int].self, try row.optionalText("field_counts"),
                                                                 column: "deliveries.field_counts")) ?? [],
                                keyField: try row.optionalText("key_field"), records: try row.int("records"), notices: try row.int("notices"))
            }
        }
    }
}
