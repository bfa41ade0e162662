@testable import CustomerSource
import ExportCore
import FeedRendering
import Foundation
import Pipeline
@testable import Postgres
import SQLite
import TestSupport
import Testing

/// The PostgreSQL source against a real server (a throw-away PostgreSQL cluster started by the tests),
/// compared with the SQLite source on the same rows.
@Suite("PostgreSQL source")
struct PostgresSourceTests {
    /// A SQLite file written by `write`, and the same rows in a database of their own on the test
    /// cluster; the URL connects as the cluster's reader role (what the export's statements are logged as).
    func twin(_ name: String, _ write: (String) throws -> Void) throws -> (sqlite: String, postgres: String, cluster: PostgresCluster) {
        let cluster = try PostgresCluster.shared()
        let sqlite = TestFiles.temporaryDirectory(name).appendingPathComponent("c.sqlite").path
        try write(sqlite)
        let admin = try cluster.createDatabase(name)
        try PostgresFixtures.load(sqlite: sqlite, into: admin)
        let database = String(admin.split(separator: "/").last!)
        return (sqlite, cluster.url(database: database, user: PostgresCluster.reader), cluster)
    }

    @Test("JSON and XML feeds of the hostile rows are byte for byte the ones the SQLite file gives, rejections by id included",
          arguments: [FeedFormat.json, .xml])
    func hostileRecordsEqual(format: FeedFormat) throws {
        var malformed: [Int64] = []
        let (sqlite, postgres, _) = try twin("pg_hostile") { malformed = try Fixtures.writeHostile($0, postgresSafe: true) }
        let partner = makePartner(format: format, fields: everyColumnInClear, batch: BatchLimits(maxRecords: 4, maxBytes: 1 << 20),
                                  namespace: format == .xml ? "https://example.test/ns/1" : nil)
        let (fromFile, fileTally) = try batches(partner, sqlite)
        let (fromServer, serverTally) = try batches(partner, postgres)
        #expect(fromFile.count > 3)
        #expect(fromServer.count == fromFile.count)
        for (a, b) in zip(fromFile, fromServer) {
            #expect(a.customerIDs == b.customerIDs)
            #expect(a.payload == b.payload, "batch \(a.envelope.batch): the feeds differ")
            #expect(a.grants == b.grants)
        }
        #expect(serverTally.rejected.map(\.customerID).sorted() == malformed)
        #expect(serverTally.rejected.map(\.customerID) == fileTally.rejected.map(\.customerID))
        #expect(serverTally.eligible == fileTally.eligible)
        // The hostile values did arrive (emoji, right-to-left, controls, an 8 KiB value), not an empty feed.
        let all = fromServer.flatMap(\.payload)
        for text in ["👩‍👩‍👧", "שלום", "Lorem ipsum dolor sit amet Lorem", "Blobville", "12345"] {
            #expect(String(decoding: all, as: UTF8.self).contains(text), "\(text) missing")
        }
    }

    @Test("a consents table with two rows for one customer and scope (one withdrawn, one in force) is refused on both sources, naming the first; unique by a key or index, or without duplicates, it is read", arguments: [false, true])
    func duplicateConsents(postgresSide: Bool) throws {
        let (sqlite, postgres, cluster) = try twin("pg_dup") { path in
            try Fixtures.write(path, customers: [.init(id: 1), .init(id: 2), .init(id: 3)],
                               consents: [.init(1, "offers"), .init(2, "offers"), .init(3, "offers")])
        }
        let partner = makePartner(consent: ["offers"], fields: [MappedField(name: "e", from: "email", form: .sha256)])
        // Without its key, the same rows are still read (nothing repeats: one query found no duplicate).
        if postgresSide {
            let admin = cluster.url(database: String(postgres.split(separator: "/").last ?? ""))
            try Connection(url: admin).execute("ALTER TABLE consents DROP CONSTRAINT consents_pkey")
        } else {
            try Database(path: sqlite, mode: .readWrite).execute("""
                CREATE TABLE c2 (customer_id INTEGER NOT NULL, scope TEXT NOT NULL, granted_at TEXT NOT NULL, withdrawn_at TEXT, source TEXT);
                INSERT INTO c2 SELECT customer_id, scope, granted_at, withdrawn_at, source FROM consents;
                DROP TABLE consents; ALTER TABLE c2 RENAME TO consents;
                """)
        }
        let path = postgresSide ? postgres : sqlite
        #expect(try batches(partner, path).0.flatMap(\.customerIDs) == [1, 2, 3])
        // Customer 2 withdrew, and a second row in force for the same scope appears.
        let duplicate = "INSERT INTO consents (customer_id, scope, granted_at, withdrawn_at) VALUES (2, 'offers', '2024-01-01T00:00:00Z', NULL)"
        if postgresSide {
            let admin = cluster.url(database: String(postgres.split(separator: "/").last ?? ""))
            try Connection(url: admin).execute("UPDATE consents SET withdrawn_at = '2025-01-01T00:00:00Z' WHERE customer_id = 2; " + duplicate)
        } else {
            try Database(path: sqlite, mode: .readWrite).execute("UPDATE consents SET withdrawn_at = '2025-01-01T00:00:00Z' WHERE customer_id = 2; "
                                                                 + duplicate)
        }
        #expect {
            _ = try batches(partner, path)
        } throws: { error in
            let message = (error as? ExportError)?.message ?? "\(error)"
            return (error as? ExportError)?.code == "source.schema" && message.contains("consents holds 2 rows for customer 2 and scope \"offers\"")
        }
        #expect(throws: ExportError.self) { try CustomerDatabase(path: path).checkConsentsUnique() }
        if postgresSide {
            // A unique index built while the duplicates are there fails and stays behind, invalid: it proves nothing.
            let admin = try Connection(url: cluster.url(database: String(postgres.split(separator: "/").last ?? "")))
            #expect(throws: PostgresError.self) { try admin.execute("CREATE UNIQUE INDEX CONCURRENTLY consents_unique ON consents (customer_id, scope)") }
            #expect(try admin.query("SELECT count(*) FROM pg_index WHERE indrelid = 'consents'::regclass AND NOT indisvalid").text(0, 0) == "1")
            #expect(throws: ExportError.self) { try CustomerDatabase(path: path).checkConsentsUnique() }
        } else {
            // A column without a type keeps 42 and '42' apart, a unique index too; the join matches both to customer 42.
            try Database(path: sqlite, mode: .readWrite).execute("""
                DELETE FROM consents WHERE customer_id = 2 AND withdrawn_at IS NULL;
                CREATE TABLE c3 (customer_id, scope, granted_at, withdrawn_at, source, UNIQUE (customer_id, scope));
                INSERT INTO c3 SELECT customer_id, scope, granted_at, withdrawn_at, source FROM consents;
                INSERT INTO c3 VALUES ('2', 'offers', '2024-01-01T00:00:00Z', NULL, NULL);
                DROP TABLE consents; ALTER TABLE c3 RENAME TO consents;
                """)
            #expect {
                _ = try batches(partner, sqlite)
            } throws: { error in (error as? ExportError)?.message.contains("consents holds 2 rows for customer 2") ?? false }
        }
    }

    @Test("a timestamptz column: a date before year 1 (BC) and infinity are no year, and reject their record instead of becoming year 44")
    func timestampsBeforeYearOne() throws {
        let (_, postgres, cluster) = try twin("pg_bc") { path in
            try Fixtures.write(path, customers: [.init(id: 1), .init(id: 2), .init(id: 3)],
                               consents: [.init(1, "offers"), .init(2, "offers"), .init(3, "offers")])
        }
        let admin = try Connection(url: cluster.url(database: String(postgres.split(separator: "/").last ?? "")))
        try admin.execute("""
            ALTER TABLE customers ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;
            UPDATE customers SET created_at = '0044-03-15 12:00:00+00 BC' WHERE id = 2;
            UPDATE customers SET created_at = 'infinity' WHERE id = 3;
            """)
        let partner = makePartner(consent: ["offers"], fields: [MappedField(name: "since", from: "created_at", form: .year)])
        let (found, tally) = try batches(partner, postgres)
        #expect(found.flatMap(\.customerIDs) == [1])
        #expect(tally.rejected.map(\.customerID) == [2, 3] && tally.rejected.allSatisfy { $0.reason.code == "invalid_timestamp" },
                "\(tally.rejected)")
    }

    @Test("selection is fail-closed on the server too: no consent row, withdrawn (even empty), a NULL in a filtered column")
    func failClosed() throws {
        let (sqlite, postgres, _) = try twin("pg_select") { path in
            try Fixtures.write(path, customers: [
                .init(id: 1), .init(id: 2), .init(id: 3), .init(id: 4), .init(id: 5),
                .init(id: 6, ["account_status": .text("suspended")]), .init(id: 7, ["region": .null]), .init(id: 8),
                .init(id: 9, ["region": .text("Bayern")]),
            ], consents: [
                .init(1, "offers"), .init(2, "programs"), .init(3, "offers", withdrawnAt: .text("2025-06-01T00:00:00Z")),
                .init(4, "offers", withdrawnAt: .text("")), .init(5, "offers"), .init(6, "offers"), .init(7, "offers"),
                .init(8, "OFFERS"), .init(9, "offers"),
            ])
        }
        let partner = makePartner(consent: ["offers"], filters: [Filter(column: "account_status", values: ["active"]),
                                                                Filter(column: "region", values: ["England", "Bayern"])],
                                  fields: [MappedField(name: "e", from: "email", form: .sha256)])
        for path in [sqlite, postgres] {
            let (found, tally) = try batches(partner, path)
            #expect(found.flatMap(\.customerIDs) == [1, 5, 9], "\(path)")
            #expect(tally.eligible == 3)
        }
        // The classifying pass (preview) counts the same reasons on both.
        func classify(_ path: String) throws -> [Int] {
            let plan = try ExportPlan(partner: partner, pseudonymKey: testKey)
            let reader = try ChunkedReader(try CustomerDatabase(path: path), plan: plan, range: .all, classify: true)
            defer { reader.stop() }
            while let (_, chunk) = try reader.nextNumbered() { reader.recycle(chunk) }
            return [reader.classification.customers] + reader.classification.excluded
        }
        #expect(try classify(postgres) == classify(sqlite))
        #expect(try classify(postgres) == [9, 2, 2, 1, 1])
        // Why a customer is no longer sent: the same answers, in one query per chunk on the server.
        let plan = try ExportPlan(partner: partner, pseudonymKey: testKey)
        let ids: [Int64] = Array(1...10)
        let fromServer = try CustomerDatabase(path: postgres).exclusions(of: ids, plan: plan)
        #expect(fromServer == (try CustomerDatabase(path: sqlite).exclusions(of: ids, plan: plan)))
        #expect(fromServer[9] == .erased)
        #expect(fromServer[0] == nil)
        var eligible: [Int64] = []
        try CustomerDatabase(path: postgres).forEachEligibleID(plan) { eligible.append($0) }
        #expect(eligible == [1, 5, 9])
        #expect(try CustomerDatabase(path: postgres).consents(of: 3).map(\.withdrawnAt) == ["2025-06-01T00:00:00Z"])
        // Id ranges (a rerun renders spans of a feed), the extreme ids included.
        func idsIn(_ path: String, _ range: IDRange) throws -> [Int64] {
            let reader = try ChunkedReader(try CustomerDatabase(path: path), plan: plan, range: range, classify: false)
            defer { reader.stop() }
            var found: [Int64] = []
            while let (_, chunk) = try reader.nextNumbered() {
                chunk.withRows { rows in for i in 0..<rows.count { found.append(rows[i].customerID) } }
                reader.recycle(chunk)
            }
            return found
        }
        for range in [IDRange(after: 1, through: 5), IDRange(after: 5, through: nil), IDRange(after: nil, through: 1),
                      IDRange(after: Int64.min, through: Int64.max)] {
            #expect(try idsIn(postgres, range) == idsIn(sqlite, range), "\(range)")
        }
        #expect(try idsIn(postgres, IDRange(after: 1, through: 5)) == [5])
        #expect(try CustomerDatabase(path: postgres).consents(of: Int64.min).isEmpty)
    }

    @Test("the server's statement log shows the export reads neither card columns nor customer_logs, in one read-only snapshot")
    func neverRead() throws {
        let (_, postgres, cluster) = try twin("pg_never") { try Fixtures.writeHostile($0, postgresSafe: true) }
        // Every column a mapping may read, with the statements of a run, a preview and the notices' checks.
        let partner = makePartner(fields: everyColumnInClear + [MappedField(name: "h", from: "email", form: .sha256)])
        let (job, source) = try job(partner, postgres)
        _ = try job.snapshot {
            try job.runBatches(runID: "run_test", generatedAt: "2026-11-27T02:00:00Z", consent: true, deliveryID: { "dlv_\($0)" }) { _ in }
        }
        _ = try Preview(job: job).run(samples: 1, out: nil, generatedAt: "2026-11-27T02:00:00Z")
        let plan = try ExportPlan(partner: partner, pseudonymKey: testKey)
        _ = try source.exclusions(of: [1, 2, 999], plan: plan)
        try source.forEachEligibleID(plan) { _ in }
        _ = try source.consents(of: 1)

        let statements = try cluster.statements(database: postgres, user: PostgresCluster.reader)
        #expect(statements.contains { $0.contains("COPY (SELECT") && $0.contains("first_name") }, "the log holds the export's COPY")
        #expect(statements.contains { $0.contains("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") })
        #expect(statements.contains { $0.contains("default_transaction_read_only = on") })
        let offending = statements.filter { $0.lowercased().contains("card_") || $0.lowercased().contains("customer_logs")
            || $0.contains("*") }
        #expect(offending.isEmpty, "\(offending)")
        // And the server enforces it: the role the export uses cannot read card data at all.
        let reader = try Connection(url: postgres)
        #expect(throws: PostgresError.self) { try reader.query("SELECT card_number FROM customers LIMIT 1") }
        #expect(throws: PostgresError.self) { try reader.query("SELECT count(*) FROM customer_logs") }
        // The loader (another user) did write card data and logs: the filter on the user is what keeps them out.
        let loader = try cluster.statements(database: postgres, user: "postgres")
        #expect(loader.contains { $0.contains("card_number") })
    }

    @Test("a wrong schema, a missing table, a refused connection: a sentence naming the server, never its password")
    func problemsNamed() throws {
        let cluster = try PostgresCluster.shared()
        let url = try cluster.createDatabase("pg_wrong")
        let admin = try Connection(url: url)
        try admin.execute("CREATE TABLE customers (id text PRIMARY KEY, email text)")
        #expect(throws: ExportError.self) { try CustomerDatabase(path: url) }
        do {
            _ = try CustomerDatabase(path: url)
        } catch let error as ExportError {
            #expect(error.message.contains("no table or view 'consents'"), "\(error.message)")
        }
        try admin.execute("CREATE TABLE consents (customer_id text, scope text, granted_at text, withdrawn_at text)")
        do {
            _ = try CustomerDatabase(path: url)
            Issue.record("a text id was accepted")
        } catch let error as ExportError {
            #expect(error.message.contains("customers.id must be the table's primary key, of an integer type (found id text)"),
                    "\(error.message)")
        }
        let secret = "postgresql://postgres:s3cr3t-pw@127.0.0.1:1/nowhere?connect_timeout=2"
        do {
            _ = try CustomerDatabase(path: secret)
            Issue.record("a closed port was reached")
        } catch let error as ExportError {
            #expect(error.code == "source.unreadable")
            #expect(error.message.contains("postgresql://postgres:***@127.0.0.1:1/nowhere"), "\(error.message)")
            #expect(!error.message.contains("s3cr3t"))
        }
        #expect(PostgresURL.redacted("postgres://u@h/db?sslmode=require&password=x1") == "postgres://u:***@h/db?sslmode=require")
    }

    @Test("a read stopped part way cancels the COPY on the server: the same connection answers the next question")
    func stoppedEarly() throws {
        // 5,000 customers with a 2 KB name: 10 MB of rows, more than the sockets hold, so the server is
        // still sending when the reader stops.
        let (_, postgres, cluster) = try twin("pg_stop") { path in
            let ids = (1...Int64(5000))
            let name = Value.text(String(repeating: "n", count: 2048))
            try Fixtures.write(path, customers: ids.map { .init(id: $0, ["first_name": name]) },
                               consents: ids.map { Fixtures.Consent($0, "offers") })
        }
        let source = try CustomerDatabase(path: postgres)
        let plan = try ExportPlan(partner: makePartner(consent: ["offers"], fields: [MappedField(name: "n", from: "first_name")]),
                                  pseudonymKey: testKey)
        let reader = try ChunkedReader(source, plan: plan, range: .all, classify: false)
        let first = try #require(try reader.nextNumbered())
        #expect(first.1.count > 0 && first.1.count < 5000)
        reader.recycle(first.1)
        reader.stop()
        // Outside a transaction and inside a new snapshot, the connection is free again.
        #expect(try source.consents(of: 42).map(\.scope) == ["offers"])
        var count = 0
        try source.snapshot { try source.forEachEligibleID(plan) { _ in count += 1 } }
        #expect(count == 5000)
        // The server stopped the statement when asked (rather than libpq reading the rest and throwing it away).
        let log = try cluster.statements(database: postgres, user: PostgresCluster.reader)
        #expect(log.contains { $0.contains("canceling statement due to user request") }, "\(log.suffix(5))")
    }

    @Test("a password in the URL never appears in a message: malformed URLs, bad escapes, an @ in it, any case of scheme, keyword form")
    func passwordsNeverPrinted() throws {
        let cases = [
            "postgresql://exporter:S3cretPW@[::1:5999/postgres",
            "postgresql://exporter:S3cretPW%zz@127.0.0.1:1/postgres",
            "postgresql://exporter:S3cretPW%00@127.0.0.1:1/postgres",
            "postgresql://exporter:S3c@ret@127.0.0.1:1/postgres?connect_timeout=2",
            "POSTGRESQL://exporter:S3cretPW@127.0.0.1:1/postgres?connect_timeout=2",
            "postgres://exporter@127.0.0.1:1/postgres?password=S3cretPW&connect_timeout=2",
            "host=127.0.0.1 port=1 user=exporter password=S3cretPW",
            "postgresql://exporter:S3c?retPW@127.0.0.1:1/postgres?connect_timeout=2",
            "postgresql://exporter@127.0.0.1:1/postgres?sslpassword=S3cretPW&connect_timeout=2",
            "postgresql://exporter:S3cretPW@[::1:5999/postgres?sslpassword=S3cretPW",
            // An '@' in a parameter after the password: the user-info still ends before the query.
            "postgresql://exporter@127.0.0.1:1/postgres?password=S3cretPW&application_name=ops@host1&connect_timeout=2",
            "postgresql://exporter@127.0.0.1/postgres?port=1&password=S3cretPW&application_name=ops@host1&connect_timeout=2",
        ]
        for url in cases {
            do {
                _ = try CustomerDatabase(path: url)
                Issue.record("\(url.prefix(20)) connected")
            } catch let error as ExportError {
                for secret in ["S3cretPW", "S3c@ret", "ret@", "S3c", "retPW"] {
                    #expect(!error.message.contains(secret), "\(error.message)")
                }
                #expect(error.code == "source.unreadable" || error.code == "usage", "\(error.code): \(error.message)")
            }
        }
        // The password reaches libpq decoded, as a parameter of its own, and the server is still found.
        let cluster = try PostgresCluster.shared()
        let url = "postgresql://postgres:p%40ss%2Fw%C3%B6rd@127.0.0.1:\(cluster.port)/postgres"
        let connection = try Connection(url: url)
        #expect(connection.password == "p@ss/wörd")
        #expect(connection.label == "postgresql://postgres:***@127.0.0.1:\(cluster.port)/postgres")
        let upper = try Connection(url: "PostgreSQL://postgres@127.0.0.1:\(cluster.port)/postgres")
        #expect(try upper.query("SELECT 1").text(0, 0) == "1")
    }

    @Test("URLs are taken apart by libpq's own parser: every shape of libpq's documentation and the trials' tricks; the label never holds a password and libpq reads it back to the same options")
    func urlShapes() throws {
        let shapes = [
            "postgresql://", "postgresql://localhost", "postgresql://localhost:5433", "postgresql://localhost/mydb",
            "postgresql://user@localhost", "postgresql://user:secret@localhost",
            "postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp",
            "postgresql://host1:123,host2:456/somedb?target_session_attrs=any&application_name=myapp",
            "postgresql:///mydb?host=localhost&port=5433", "postgresql://[2001:db8::1234]/database",
            "postgresql:///dbname?host=/var/lib/postgresql", "postgresql://%2Fvar%2Flib%2Fpostgresql/dbname",
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            // From the trials: an '@' in a parameter before the password, passwords in every place.
            "postgresql://u@host:5432/db?application_name=a@b&password=SECRET",
            "postgresql://u:SECRET@host:5432/db?application_name=a@b",
            "postgresql://u@host/db?sslpassword=SECRET&password=SECRET",
            "postgresql://u:S%40CRET%2Fx@host/db", "POSTGRESQL://u:SECRET@host/db",
            "postgresql:///db?user=u&password=SECRET&host=h1,h2&port=1,2",
        ]
        for url in shapes {
            let parts = try PostgresURL.split(url)
            #expect(!parts.label.contains("SECRET") && !parts.label.contains("secret") && !parts.label.contains("S%40CRET"),
                    "\(url): \(parts.label)")
            // The label says what the URL says, but the passwords: libpq reads it back to the same options.
            let back = try PostgresURL.split(parts.label)
            let expected = parts.options.map { option in
                (option.keyword, parts.secrets.contains { $0.keyword == option.keyword } ? "***" : option.value)
            }
            #expect(back.options.map { "\($0.keyword)=\($0.value)" }.sorted() == expected.map { "\($0.0)=\($0.1)" }.sorted(),
                    "\(url) → \(parts.label)")
        }
        let trial = try PostgresURL.split("postgresql://u@host:5432/db?application_name=a@b&password=SECRET")
        #expect(trial.password == "SECRET" && trial.label == "postgresql://u:***@host:5432/db?application_name=a%40b", "\(trial.label)")
        #expect(try PostgresURL.split("postgresql://u:S%40CRET%2Fx@host/db").password == "S@CRET/x")
        #expect(PostgresURL.redacted("postgresql://u:SECRET@[::1/db") == "the PostgreSQL URL given (not shown: it may hold a password)")
        // An unencoded '/' in the password: libpq ends the user-info there, the rest lands in host, port or dbname.
        for misread in ["postgresql://alice:se/cret@db.example.com:5432/prod", "postgresql://u:p@ss/x@host/db",
                        "postgresql://me@corp.example:SECRET@host/db"] {
            #expect(throws: PostgresError.self) { try PostgresURL.split(misread) }
            #expect(PostgresURL.redacted(misread) == "the PostgreSQL URL given (not shown: it may hold a password)", "\(misread)")
        }
        // As --db (a preview reads it) and --state (runs reads it), the same URL is never printed with its password.
        let url = "postgresql://u@127.0.0.1:1/db?application_name=a@b&password=SECRET&connect_timeout=1"
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 1)
        let asSource = try Binary.run(["preview", "acme", "--config", fixture.config.path, "--db", url, "--state", fixture.state],
                                      environment: fixture.environment)
        #expect(asSource.status == 2 && asSource.stderr.contains("postgresql://u:***@127.0.0.1:1/db?")
                && !asSource.output.contains("SECRET"), "\(asSource.output)")
        let asLedger = try Binary.run(["runs", "--state", url], environment: ["PARTNER_EXPORT_STATE_DIR": fixture.folder.path])
        #expect(asLedger.status == 2 && asLedger.stderr.contains("application_name=a%40b") && !asLedger.output.contains("SECRET"),
                "\(asLedger.output)")
    }

    @Test("the binary COPY reader: header, fields, NULLs and the trailer read in place; every malformed length refused, never read past")
    func copyFormat() throws {
        func be16(_ v: Int16) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
        func be32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
        let header = CopyRows.signature + be32(0) + be32(0)
        let row = be16(3) + be32(8) + be32(0) + be32(42) + be32(-1) + be32(3) + Array("abc".utf8)
        func parse(_ messages: [[UInt8]]) throws -> [[Int]?] {
            let rows = CopyRows()
            var found: [[Int]?] = []
            for message in messages {
                if try message.withUnsafeBytes({ try rows.parse($0) }) {
                    found.append((0..<rows.fieldCount).flatMap { i -> [Int] in rows.field(i).map { [$0.0, $0.1] } ?? [-1] })
                } else {
                    found.append(nil)
                }
            }
            return found
        }
        // The header with the first row, a second row, the trailer in a message of its own.
        #expect(try parse([header + row, row, be16(-1)]) == [[25, 8, -1, 41, 3], [6, 8, -1, 22, 3], nil])
        // The header alone, then rows.
        #expect(try parse([header, row]) == [nil, [6, 8, -1, 22, 3]])
        let broken: [(String, [[UInt8]])] = [
            ("no signature", [Array("PGCOPY\n".utf8) + [0, 0, 0, 0] + be32(0) + be32(0)]),
            ("critical flag", [CopyRows.signature + be32(1) + be32(0)]),
            ("OIDs", [CopyRows.signature + be32(1 << 16) + be32(0)]),
            ("extension longer than the message", [CopyRows.signature + be32(0) + be32(100)]),
            ("negative extension", [CopyRows.signature + be32(0) + be32(-5)]),
            ("negative field count", [header, be16(-2)]),
            ("count without fields", [header, be16(2) + be32(1) + [7]]),
            ("field longer than the row", [header, be16(1) + be32(Int32.max) + [1, 2]]),
            ("field length below -1", [header, be16(1) + be32(-7)]),
            ("half a length", [header, be16(1) + [0, 0]]),
            ("bytes after the last field", [header, be16(1) + be32(1) + [1, 2, 3]]),
            ("half a count", [header, [0]]),
        ]
        for (label, messages) in broken {
            #expect(throws: CopyRows.Malformed.self, "\(label)") { _ = try parse(messages) }
        }
        // Ignorable flags (bits 17–31) are ignored.
        #expect(try parse([CopyRows.signature + be32(1 << 20) + be32(0) + row]) == [[25, 8, -1, 41, 3]])
    }
}
