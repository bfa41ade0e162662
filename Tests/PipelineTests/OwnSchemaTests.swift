@testable import CustomerSource
import ExportCore
import FeedRendering
import Foundation
import Pipeline
import Postgres
import SQLite
import TestSupport
import Testing

/// The company's own tables read in place through a ``SourceModel`` (`source.yaml`): every table and
/// column renamed, consents a view over an opt-in and an opt-out table, the customers a table or a
/// view. The same rows give the same feeds as the canonical schema, byte for byte.
@Suite("Your own schema")
struct OwnSchemaTests {
    /// The canonical hostile rows, plus a customer without consent, one withdrawn, one filtered out and
    /// one with a NULL status; returns the malformed-services ids.
    static func writeCanonical(_ path: String) throws -> [Int64] {
        let malformed = try Fixtures.writeHostile(path)
        let db = try Database(path: path, mode: .readWrite)
        // Copies of customer 1 under new ids: no consent, withdrawn, closed, suspended.
        try db.execute("""
            CREATE TEMP TABLE extra AS SELECT * FROM customers WHERE id = 1;
            UPDATE extra SET id = 1000, account_status = 'active'; INSERT INTO customers SELECT * FROM extra;
            UPDATE extra SET id = 1001; INSERT INTO customers SELECT * FROM extra;
            UPDATE extra SET id = 1002, account_status = 'closed'; INSERT INTO customers SELECT * FROM extra;
            UPDATE extra SET id = 1003, account_status = 'suspended'; INSERT INTO customers SELECT * FROM extra;
            INSERT INTO consents (customer_id, scope, granted_at, withdrawn_at, source) VALUES
              (1001, 'partner-offers', '2024-01-01T00:00:00Z', '2024-06-01T00:00:00Z', 'web'),
              (1002, 'partner-offers', '2024-01-01T00:00:00Z', NULL, 'web'),
              (1003, 'partner-offers', '2024-01-01T00:00:00Z', NULL, 'web');
            """)
        return malformed
    }

    @Test("the hostile rows under renamed tables and columns, consents a view over two tables: JSON and XML feeds byte for byte the canonical ones, rejections by id and preview counts included",
          arguments: [(FeedFormat.json, false), (.xml, false), (.json, true), (.xml, true)])
    func renamedEqualsCanonical(format: FeedFormat, customersAsView: Bool) throws {
        let folder = TestFiles.temporaryDirectory("own-schema")
        let canonical = folder.appendingPathComponent("canonical.sqlite").path
        let renamed = folder.appendingPathComponent("crm.sqlite").path
        let malformed = try Self.writeCanonical(canonical)
        try OwnSchemaFixture.writeRenamed(renamed, from: canonical, customersAsView: customersAsView)
        let model = OwnSchemaFixture.model(customersAsView: customersAsView)
        let partner = makePartner(format: format, filters: [Filter(column: "account_status", values: ["active"])],
                                  fields: everyColumnInClear + [MappedField(name: "ref", from: "id", form: .sha256)],
                                  batch: BatchLimits(maxRecords: 4, maxBytes: 1 << 20),
                                  namespace: format == .xml ? "https://example.test/ns/1" : nil)
        let (expected, expectedTally) = try batches(partner, canonical)
        let (got, tally) = try batches(partner, renamed, model: model)
        #expect(expected.count > 3 && got.count == expected.count)
        for (a, b) in zip(expected, got) {
            #expect(a.customerIDs == b.customerIDs)
            #expect(a.payload == b.payload, "batch \(a.envelope.batch): the feeds differ")
            #expect(a.grants == b.grants)
        }
        #expect(tally.rejected.map(\.customerID).sorted() == malformed)
        #expect(tally.rejected.map(\.customerID) == expectedTally.rejected.map(\.customerID))
        #expect(tally.eligible == expectedTally.eligible)
        #expect(!got.flatMap(\.customerIDs).contains(where: { [1000, 1001, 1002, 1003].contains($0) }))

        // The preview: the same counts by exclusion reason, the same document.
        let canonicalPreview = try previewed(partner, canonical, in: folder)
        let renamedPreview = try previewed(partner, renamed, model: model, in: folder)
        #expect(renamedPreview.document == canonicalPreview.document)
        #expect(renamedPreview.counts == canonicalPreview.counts)
        #expect(renamedPreview.counts.excludedTotal == 4, "no consent, withdrawn, closed, suspended: \(renamedPreview.counts)")
    }

    @Test("a customers view whose key repeats is refused before anything is read for a feed, naming the first duplicate id")
    func repeatedKeyRefused() throws {
        let folder = TestFiles.temporaryDirectory("own-schema-dup")
        let canonical = folder.appendingPathComponent("canonical.sqlite").path
        let renamed = folder.appendingPathComponent("crm.sqlite").path
        _ = try Self.writeCanonical(canonical)
        try OwnSchemaFixture.writeRenamed(renamed, from: canonical, customersAsView: true, duplicateKey: true)
        let partner = makePartner(fields: [MappedField(name: "e", from: "email", form: .sha256)])
        var produced = 0
        #expect {
            let job = try ExportJob(plan: try ExportPlan(partner: partner, pseudonymKey: testKey),
                                    source: try CustomerDatabase(path: renamed, model: OwnSchemaFixture.model(customersAsView: true)), schema: nil)
            _ = try job.snapshot {
                try job.runBatches(runID: "r", generatedAt: "2026-11-27T02:00:00Z", consent: true, deliveryID: { "d\($0)" }) { _ in
                    produced += 1
                }
            }
        } throws: { error in
            let message = (error as? ExportError)?.message ?? ""
            return message.contains("customer 7 has 2 rows") && message.contains("clients_v") && message.contains("Nothing was read")
        }
        #expect(produced == 0)
        // The same check before a run starts (SourceCheck), and the table itself (declared by its key) is read.
        #expect(throws: ExportError.self) {
            try SourceCheck.check(renamed, model: OwnSchemaFixture.model(customersAsView: true), partners: [partner])
        }
        try SourceCheck.check(renamed, model: OwnSchemaFixture.model(customersAsView: false), partners: [partner])

        // A key of text values (a view that casts it): refused by type, its values not shown.
        let db = try Database(path: renamed, mode: .readWrite)
        try db.execute("CREATE VIEW text_keys AS SELECT CAST(client_id AS TEXT) AS client_id, email_address, status FROM crm_clients")
        let textKeys = SourceModel(customers: .init(table: "text_keys", key: "client_id", fields: ["email": "email_address"], neverRead: []),
                                   consents: OwnSchemaFixture.model(customersAsView: false).consents)
        #expect {
            try SourceCheck.check(renamed, model: textKeys, partners: [partner])
        } throws: { error in
            let message = (error as? ExportError)?.message ?? ""
            return message.contains("of type text, not integers") && !message.contains("@example")
        }
        // Two opt-in rows for one client and purpose: the consents view repeats, refused naming the customer.
        try db.execute("INSERT INTO opt_ins VALUES (5, 'partner-offers', '2025-01-01T00:00:00Z')")
        #expect {
            try SourceCheck.check(renamed, model: OwnSchemaFixture.model(customersAsView: false), partners: [partner])
        } throws: { ($0 as? ExportError)?.message.contains("permissions holds 2 rows for customer 5") == true }
    }

    @Test("never_read columns and cardholder data are never read, whatever is asked; a field the source does not map cannot be read")
    func neverRead() throws {
        let folder = TestFiles.temporaryDirectory("own-schema-never")
        let canonical = folder.appendingPathComponent("canonical.sqlite").path
        let renamed = folder.appendingPathComponent("crm.sqlite").path
        _ = try Self.writeCanonical(canonical)
        try OwnSchemaFixture.writeRenamed(renamed, from: canonical, customersAsView: false)
        // Every field mapped, read in a preview: SQLite's authorizer sees every column the statements read.
        let partner = makePartner(fields: everyColumnInClear)
        let source = try CustomerDatabase(path: renamed, model: OwnSchemaFixture.model(customersAsView: false))
        var read: Set<String> = []
        source.sqlite?.observeReads { table, column in read.insert("\(table).\(column)") }
        let job = try ExportJob(plan: try ExportPlan(partner: partner, pseudonymKey: testKey), source: source, schema: nil)
        _ = try Preview(job: job).run(samples: 1, out: nil, generatedAt: "2026-11-27T02:00:00Z")
        #expect(read.contains("crm_clients.given_name") && read.contains("opt_ins.purpose"), "\(read.sorted())")
        for column in ["card_pan", "card_exp", "notes"] { #expect(!read.contains("crm_clients.\(column)"), "\(column) was read") }
        // A field whose column is listed in never_read (here: email's) cannot be read at all.
        let email = OwnSchemaFixture.model(customersAsView: false, neverRead: ["email_address"])
        #expect(throws: ExportError.self) {
            try CustomerDatabase(path: renamed, model: email).checkColumns(["email"], partner: "p")
        }
        // A logical field the source does not map.
        var unmapped = OwnSchemaFixture.model(customersAsView: false).customers.fields
        unmapped["phone"] = nil
        let model = SourceModel(customers: .init(table: "crm_clients", key: "client_id", fields: unmapped, neverRead: []),
                                consents: OwnSchemaFixture.model(customersAsView: false).consents)
        #expect {
            try CustomerDatabase(path: renamed, model: model).checkColumns(["phone"], partner: "p")
        } throws: { ($0 as? ExportError)?.message.contains("source.yaml does not map") == true }
    }
}

@Suite("Your own schema on PostgreSQL")
struct OwnSchemaPostgresTests {
    /// The canonical rows loaded into a server, then moved into the schema `crm` under the CRM's names
    /// (consents a view over two tables); the canonical tables are dropped, so that nothing can read
    /// them, and the reader role may read every column but the never_read ones (a statement naming
    /// one would fail with "permission denied").
    func renamedOnServer(_ name: String, canonical: String, customersAsView: Bool) throws -> String {
        let cluster = try PostgresCluster.shared()
        let admin = try cluster.createDatabase(name)
        try PostgresFixtures.load(sqlite: canonical, into: admin)
        let connection = try Connection(url: admin)
        try connection.execute("""
            CREATE SCHEMA crm;
            CREATE TABLE crm.clients AS SELECT id AS client_id, first_name AS given_name, last_name AS family_name,
              email AS email_address, phone AS mobile, street AS street_line, city AS town, region AS county, postal_code AS zip,
              country AS country_code, card_number AS card_pan, card_expiry AS card_exp, account_status AS status,
              services AS service_codes, created_at AS signed_up_at, updated_at AS modified_at, 'private note'::text AS notes
              FROM customers;
            ALTER TABLE crm.clients ADD PRIMARY KEY (client_id);
            CREATE TABLE crm.opt_ins AS SELECT customer_id AS client, scope AS purpose, granted_at AS at FROM consents;
            CREATE TABLE crm.opt_outs AS SELECT customer_id AS client, scope AS purpose, withdrawn_at AS at FROM consents
              WHERE withdrawn_at IS NOT NULL;
            CREATE VIEW crm.permissions AS SELECT i.client AS client_ref, i.purpose AS purpose_code, i.at AS opted_in_at,
              o.at AS opted_out_at FROM crm.opt_ins AS i LEFT JOIN crm.opt_outs AS o ON o.client = i.client AND o.purpose = i.purpose;
            CREATE VIEW crm.clients_v AS SELECT client_id, given_name, family_name, email_address, mobile, street_line, town,
              county, zip, country_code, status, service_codes, signed_up_at, modified_at FROM crm.clients;
            DROP TABLE customers, consents, customer_logs CASCADE;
            GRANT USAGE ON SCHEMA crm TO \(PostgresCluster.reader);
            GRANT SELECT (client_id, given_name, family_name, email_address, mobile, street_line, town, county, zip, country_code,
              status, service_codes, signed_up_at, modified_at) ON crm.clients TO \(PostgresCluster.reader);
            GRANT SELECT ON crm.opt_ins, crm.opt_outs, crm.permissions, crm.clients_v TO \(PostgresCluster.reader);
            """)
        let database = String(admin.split(separator: "/").last!)
        return cluster.url(database: database, user: PostgresCluster.reader)
    }

    static func model(customersAsView: Bool) -> SourceModel {
        let base = OwnSchemaFixture.model(customersAsView: customersAsView)
        return SourceModel(customers: .init(table: customersAsView ? "crm.clients_v" : "crm.clients", key: "client_id",
                                            fields: base.customers.fields, neverRead: base.customers.neverRead),
                           consents: .init(table: "crm.permissions", customer: "client_ref", scope: "purpose_code",
                                           grantedAt: "opted_in_at", withdrawnAt: "opted_out_at"))
    }

    @Test("the hostile rows in a renamed schema on the server (consents a view, customers a table or a view): the same feeds as the canonical SQLite file, byte for byte",
          arguments: [(FeedFormat.json, false), (.xml, true)])
    func renamedEqualsCanonical(format: FeedFormat, customersAsView: Bool) throws {
        let folder = TestFiles.temporaryDirectory("own-schema-pg")
        let canonical = folder.appendingPathComponent("canonical.sqlite").path
        let malformed = try Fixtures.writeHostile(canonical, postgresSafe: true)
        let server = try renamedOnServer("own_\(format.rawValue)", canonical: canonical, customersAsView: customersAsView)
        let partner = makePartner(format: format, filters: [Filter(column: "account_status", values: ["active"])],
                                  fields: everyColumnInClear, batch: BatchLimits(maxRecords: 4, maxBytes: 1 << 20),
                                  namespace: format == .xml ? "https://example.test/ns/1" : nil)
        let (expected, expectedTally) = try batches(partner, canonical)
        let (got, tally) = try batches(partner, server, model: Self.model(customersAsView: customersAsView))
        #expect(expected.count > 3 && got.count == expected.count)
        for (a, b) in zip(expected, got) {
            #expect(a.customerIDs == b.customerIDs)
            #expect(a.payload == b.payload, "batch \(a.envelope.batch): the feeds differ")
        }
        #expect(tally.rejected.map(\.customerID).sorted() == malformed)
        #expect(tally.eligible == expectedTally.eligible)
        // The preview: the same counts, the same document.
        let canonicalPreview = try previewed(partner, canonical, in: folder)
        let serverPreview = try previewed(partner, server, model: Self.model(customersAsView: customersAsView), in: folder)
        #expect(serverPreview.counts == canonicalPreview.counts && serverPreview.document == canonicalPreview.document)
        // validate --db's check, on the server: tables, columns, key and consents.
        try SourceCheck.check(server, model: Self.model(customersAsView: customersAsView), partners: [partner])
    }

    @Test("the server's statement log: the export, the preview and the notices' checks never name a never_read column, in one read-only snapshot")
    func statementLog() throws {
        let folder = TestFiles.temporaryDirectory("own-schema-pg-log")
        let canonical = folder.appendingPathComponent("canonical.sqlite").path
        _ = try Fixtures.writeHostile(canonical, postgresSafe: true)
        let server = try renamedOnServer("own_log", canonical: canonical, customersAsView: false)
        let partner = makePartner(fields: everyColumnInClear + [MappedField(name: "h", from: "email", form: .sha256)])
        let model = Self.model(customersAsView: false)
        let source = try CustomerDatabase(path: server, model: model)
        let plan = try ExportPlan(partner: partner, pseudonymKey: testKey)
        let job = try ExportJob(plan: plan, source: source, schema: nil)
        _ = try job.snapshot {
            try job.runBatches(runID: "run_test", generatedAt: "2026-11-27T02:00:00Z", consent: true, deliveryID: { "dlv_\($0)" }) { _ in }
        }
        _ = try Preview(job: job).run(samples: 1, out: nil, generatedAt: "2026-11-27T02:00:00Z")
        _ = try source.exclusions(of: [1, 2, 999], plan: plan)
        try source.forEachEligibleID(plan) { _ in }
        _ = try source.consents(of: 1)
        _ = try source.record(of: 1)
        let cluster = try PostgresCluster.shared()
        let statements = try cluster.statements(database: server, user: PostgresCluster.reader)
        #expect(statements.contains { $0.contains("COPY (SELECT") && $0.contains("given_name") && $0.contains("\"crm\".\"clients\"") },
                "the log holds the export's COPY from the CRM's table")
        #expect(statements.contains { $0.contains("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") })
        let offending = statements.filter { statement in
            // Never a card or note column, never the canonical tables, never a `SELECT *` (count(*) is no read of a column).
            ["card_pan", "card_exp", "notes", "customers", "consents", "select *", ".*"].contains { statement.lowercased().contains($0) }
        }
        #expect(offending.isEmpty, "\(offending)")
    }

    @Test("on the server too, a view whose key repeats is refused naming the first duplicate, and a text key is refused")
    func refusals() throws {
        let folder = TestFiles.temporaryDirectory("own-schema-pg-dup")
        let canonical = folder.appendingPathComponent("canonical.sqlite").path
        _ = try Fixtures.writeHostile(canonical, postgresSafe: true)
        let server = try renamedOnServer("own_dup", canonical: canonical, customersAsView: true)
        let partner = makePartner(fields: [MappedField(name: "e", from: "email", form: .sha256)])
        let cluster = try PostgresCluster.shared()
        let owner = try Connection(url: cluster.url(database: String(server.split(separator: "/").last!)))
        try owner.execute("CREATE OR REPLACE VIEW crm.clients_v AS SELECT client_id, given_name, family_name, email_address, mobile, "
                          + "street_line, town, county, zip, country_code, status, service_codes, signed_up_at, modified_at FROM crm.clients "
                          + "UNION ALL SELECT client_id, given_name, family_name, email_address, mobile, street_line, town, county, zip, "
                          + "country_code, status, service_codes, signed_up_at, modified_at FROM crm.clients WHERE client_id = 5")
        #expect {
            try SourceCheck.check(server, model: Self.model(customersAsView: true), partners: [partner])
        } throws: { ($0 as? ExportError)?.message.contains("customer 5 has 2 rows") == true }
        try owner.execute("CREATE VIEW crm.text_keys AS SELECT client_id::text AS client_id, email_address FROM crm.clients; "
                          + "GRANT SELECT ON crm.text_keys TO \(PostgresCluster.reader)")
        let textKey = SourceModel(customers: .init(table: "crm.text_keys", key: "client_id", fields: ["email": "email_address"], neverRead: []),
                                  consents: Self.model(customersAsView: true).consents)
        #expect {
            _ = try CustomerDatabase(path: server, model: textKey)
        } throws: { ($0 as? ExportError)?.message.contains("must be of an integer type") == true }
        // Rows without an id (a view can give them): refused, counted.
        try owner.execute("CREATE VIEW crm.null_keys AS SELECT client_id, email_address, status FROM crm.clients "
                          + "UNION ALL SELECT NULL::bigint, 'x', 'active' UNION ALL SELECT NULL::bigint, 'y', 'active'; "
                          + "GRANT SELECT ON crm.null_keys TO \(PostgresCluster.reader)")
        let nullKeys = SourceModel(customers: .init(table: "crm.null_keys", key: "client_id", fields: ["email": "email_address"], neverRead: []),
                                   consents: Self.model(customersAsView: true).consents)
        #expect {
            try SourceCheck.check(server, model: nullKeys, partners: [partner])
        } throws: { ($0 as? ExportError)?.message.contains("is NULL in 2 row(s)") == true }
    }
}
