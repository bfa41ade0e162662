import ExportCore
import Foundation
@testable import Ledger
import SQLite
import TestSupport
import Testing

@Suite("Ledger")
struct LedgerTests {
    func folder() -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)/state").path
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        return folder
    }

    func ledger(_ kind: LedgerKind = .sqlite) throws -> SQLLedger {
        switch kind {
        case .sqlite: try SQLiteLedger.open(at: folder() + "/ledger.sqlite", access: .write(create: true))
        case .postgres: try PostgresLedger.open(url: try PostgresCluster.shared().createDatabase("ledger"), access: .write(create: true))
        }
    }

    func newDelivery(_ id: String, customers: [Int64], batch: Int = 1, feed: String = "r1/p") -> NewDelivery {
        NewDelivery(id: id, runID: "r1", feed: feed, partner: "p", batch: batch, bytes: 10, sha256: "x", recordsRange: 0..<10,
                    payloadPath: "payloads/p/\(id).json", contentType: "application/json", gzip: false,
                    createdAt: "2026-11-27T02:00:00Z", fields: ["a", "b"], purpose: "offers", consentScopes: ["s1", "s2"],
                    manifest: Manifest(customerIDs: customers, grants: customers.map { ["g\($0)", "h\($0)"] }).encoded(),
                    recordCount: customers.count, lastCustomer: customers.last)
    }

    func attempt(_ status: Int?, _ outcome: AttemptOutcome, inDoubt: Bool = false) -> AttemptRecord {
        AttemptRecord(httpStatus: status, curlCode: status == nil ? 28 : 0, error: nil, durationMilliseconds: 5, outcome: outcome,
                      answerPrefix: [], inDoubt: inDoubt)
    }

    @Test("manifests round-trip, ids in any order, any grants")
    func manifest() throws {
        let manifest = Manifest(customerIDs: [5, 3, 1_000_000_000_000, -2, 7],
                                grants: [["2024-01-01T00:00:00Z", ""], ["a", "b"], ["é", "x"], ["", ""], ["z", "z"]])
        #expect(try Manifest(decoding: manifest.encoded()) == manifest)
        #expect(throws: ManifestError.self) { try Manifest(decoding: Array(manifest.encoded().dropLast())) }
        #expect(try Manifest(decoding: Manifest(customerIDs: [], grants: []).encoded()).customerIDs.isEmpty)
        // Built from a grant stream, as the pipeline does, it is the same manifest.
        var stream: [UInt8] = []
        for row in manifest.grants { for grant in row { Array(grant.utf8).withUnsafeBytes { Manifest.appendGrant($0, to: &stream) } } }
        #expect(Manifest.encoded(customerIDs: manifest.customerIDs, scopes: 2, grantStream: stream) == manifest.encoded())
    }

    @Test("the ledger file is owner-only, and disclosures are written only with a delivered status, with the counters", arguments: LedgerKind.allCases)
    func deliveredOnly(kind: LedgerKind) throws {
        let ledger = try ledger(kind)
        if kind == .sqlite {
            #expect(((try FileManager.default.attributesOfItem(atPath: ledger.location))[.posixPermissions] as? Int) == 0o600)
        }
        try ledger.startRun(id: "r1", trigger: .manual, partners: ["p"], at: "2026-11-27T02:00:00Z")
        let delivery = try ledger.createDelivery(newDelivery("d1", customers: [10, 11]), superseding: nil, at: "t")
        try ledger.beginAttempt(delivery: delivery, number: 1, run: "r1", at: "2026-11-27T02:00:01Z")
        try ledger.finishAttempt(delivery: delivery, number: 1, result: attempt(503, .retry), transition: .stillPending,
                                 at: "2026-11-27T02:00:02Z")
        #expect(try ledger.disclosures(customerID: 10).isEmpty)
        try ledger.beginAttempt(delivery: delivery, number: 2, run: "r1", at: "2026-11-27T02:00:03Z")
        try ledger.finishAttempt(delivery: delivery, number: 2, result: attempt(200, .delivered), transition: .delivered,
                                 at: "2026-11-27T02:00:04Z")
        let disclosures = try ledger.disclosures(customerID: 11)
        #expect(disclosures.map(\.consentScope) == ["s1", "s2"])
        #expect(disclosures.map(\.consentGrantedAt) == ["g11", "h11"])
        #expect(disclosures.allSatisfy { $0.deliveryID == "d1" && $0.fields == ["a", "b"] && $0.disclosedAt == "2026-11-27T02:00:04Z"
                                         && $0.purpose == "offers" && $0.confirmed })
        #expect(try ledger.delivery("d1")?.attempts == 2)
        #expect(try ledger.manifest(of: delivery).customerIDs.isEmpty, "a disclosed delivery's manifest goes")
        let totals = try #require(try ledger.totals()["p"])
        #expect(totals.counter(CounterName.retries) == 1 && totals.counter(CounterName.recordsSent) == 2)
        #expect(totals.counter(CounterName.deliveriesDelivered) == 1)
    }

    @Test("a delivery in doubt is never superseded; one that never left is, its manifest and payload go", arguments: LedgerKind.allCases)
    func inDoubtNeverSuperseded(kind: LedgerKind) throws {
        let ledger = try ledger(kind)
        try ledger.startRun(id: "r1", trigger: .manual, partners: ["p"], at: "2026-11-27T02:00:00Z")
        let doubtful = try ledger.createDelivery(newDelivery("d1", customers: [1]), superseding: nil, at: "t")
        try ledger.beginAttempt(delivery: doubtful, number: 1, run: "r1", at: "t")
        try ledger.finishAttempt(delivery: doubtful, number: 1, result: attempt(nil, .failed, inDoubt: true),
                                 transition: .failed(code: "delivery.exhausted", message: "gave up", inDoubt: true), at: "t")
        let stored = try #require(try ledger.delivery("d1"))
        #expect(stored.status == .failed && stored.inDoubt && stored.lastErrorCode == "delivery.exhausted")
        #expect(try !ledger.supersede(stored, by: "d9", reason: "rerun", at: "2026-11-27T03:00:00Z"))
        #expect(try ledger.delivery("d1")?.status == .failed, "still owed, still in doubt")
        #expect(throws: ExportError.self) {
            _ = try ledger.createDelivery(self.newDelivery("d2", customers: [1]), superseding: stored, at: "t")
        }
        #expect(try ledger.delivery("d2") == nil, "the new delivery and the supersession are one transaction")

        let unsent = try ledger.createDelivery(newDelivery("d3", customers: [2], batch: 2), superseding: nil, at: "t")
        #expect(try ledger.supersede(unsent, by: nil, reason: "never sent", at: "2026-11-27T03:00:00Z"))
        let superseded = try #require(try ledger.delivery("d3"))
        #expect(superseded.status == .superseded && superseded.payloadPrunedAt == "2026-11-27T03:00:00Z")
        #expect(try ledger.disclosures(customerID: 2).isEmpty)
        #expect(try ledger.manifest(of: superseded).customerIDs.isEmpty)
    }

    @Test("a refusal clears the doubt an earlier attempt raised; held deliveries are owed and listed", arguments: LedgerKind.allCases)
    func refusalAndHeld(kind: LedgerKind) throws {
        let ledger = try ledger(kind)
        try ledger.startRun(id: "r1", trigger: .manual, partners: ["p"], at: "t")
        let first = try ledger.createDelivery(newDelivery("d1", customers: [1]), superseding: nil, at: "t")
        try ledger.beginAttempt(delivery: first, number: 1, run: "r1", at: "t")
        try ledger.finishAttempt(delivery: first, number: 1, result: attempt(nil, .retry, inDoubt: true), transition: .stillPending, at: "t")
        #expect(try ledger.delivery("d1")?.inDoubt == true)
        try ledger.beginAttempt(delivery: first, number: 2, run: "r1", at: "t")
        try ledger.finishAttempt(delivery: first, number: 2, result: attempt(422, .rejected),
                                 transition: .rejected(code: "delivery.rejected", message: "HTTP 422"), at: "t")
        #expect(try ledger.delivery("d1")?.inDoubt == false)
        let second = try ledger.createDelivery(newDelivery("d2", customers: [2], batch: 2), superseding: nil, at: "t")
        try ledger.hold(second, reason: "not sent: batch 1 was not delivered")
        #expect(try ledger.owed(partner: "p").map(\.id) == ["d1", "d2"])
        #expect(try ledger.deliveries(DeliveryQuery(statuses: DeliveryStatus.unsuccessful)).map(\.status) == [.held, .rejected])
        #expect(try ledger.owedByPartner() == ["p": 2])
    }

    @Test("a feed is complete once it is rendered and nothing of it is owed; a new feed's render supersedes what older ones owe", arguments: LedgerKind.allCases)
    func feeds(kind: LedgerKind) throws {
        let ledger = try ledger(kind)
        try ledger.startRun(id: "r1", trigger: .manual, partners: ["p"], at: "2026-11-27T01:00:00Z")
        try ledger.startFeed(FeedRecord(id: "r1/p", partner: "p", runID: "r1", startedAt: "2026-11-27T01:00:00Z", shape: "s",
                                        rendered: false, batches: 0, completedAt: nil, completedBy: nil, supersededBy: nil))
        let old = try ledger.createDelivery(newDelivery("d1", customers: [1]), superseding: nil, at: "t")
        try ledger.hold(old, reason: "held")
        _ = try ledger.finishRender(feed: "r1/p", batches: 1, at: "t")
        #expect(try !ledger.settleFeed("r1/p", by: "r1", at: "t"))

        try ledger.startRun(id: "r2", trigger: .manual, partners: ["p"], at: "2026-11-27T02:00:00Z")
        try ledger.startFeed(FeedRecord(id: "r2/p", partner: "p", runID: "r2", startedAt: "2026-11-27T02:00:00Z", shape: "s",
                                        rendered: false, batches: 0, completedAt: nil, completedBy: nil, supersededBy: nil))
        #expect(try ledger.latestFeed(partner: "p")?.id == "r2/p")
        #expect(try !ledger.settleFeed("r2/p", by: "r2", at: "t"), "not rendered yet")
        let superseded = try ledger.finishRender(feed: "r2/p", batches: 0, at: "t")
        #expect(superseded.map(\.id) == ["d1"])
        #expect(try ledger.delivery("d1")?.status == .superseded)
        #expect(try ledger.feed("r1/p")?.supersededBy == "r2/p")
        #expect(try ledger.settleFeed("r2/p", by: "r2", at: "2026-11-27T02:00:05Z"))
        #expect(try ledger.feed("r2/p")?.completedBy == "r2")
        #expect(try ledger.totals()["p"]?.feedComplete == true)
    }

    @Test("a status this version does not know is an error naming it, never a guess", arguments: LedgerKind.allCases)
    func unknownStatus(kind: LedgerKind) throws {
        let ledger = try ledger(kind)
        try ledger.startRun(id: "r1", trigger: .manual, partners: ["p"], at: "t")
        _ = try ledger.createDelivery(newDelivery("d1", customers: [1]), superseding: nil, at: "t")
        try ledger.database.execute(kind == .sqlite ? "PRAGMA ignore_check_constraints = ON; UPDATE deliveries SET status = 'teleported'"
                                    : "ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check; UPDATE deliveries SET status = 'teleported'")
        #expect { _ = try ledger.delivery("d1") } throws: { error in
            (error as? ExportError)?.code == "ledger.damaged" && "\(error)".contains("'teleported'")
        }
    }

    @Test("a file that is not a ledger is refused untouched: empty, a customer database, any other SQLite file")
    func notALedger() throws {
        let folder = folder()
        let empty = folder + "/empty.sqlite"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        for access in [SQLiteLedger.Access.read, .write(create: true)] {
            #expect { _ = try SQLiteLedger.open(at: empty, access: access) } throws: { error in
                (error as? ExportError)?.code == "ledger.damaged" && "\(error)".contains("0 bytes")
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: empty)).isEmpty)
        let customers = folder + "/customers.sqlite"
        let database = try Database(path: customers, mode: .create)
        try database.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY); CREATE TABLE consents (customer_id INTEGER)")
        let before = try Data(contentsOf: URL(fileURLWithPath: customers))
        #expect { _ = try SQLiteLedger.open(at: customers, access: .write(create: true)) } throws: { error in
            "\(error)".contains("customer database")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: customers)) == before)
        #expect(try database.hasTable("runs") == false)
        #expect(!FileManager.default.fileExists(atPath: customers + "-wal"), "not even WAL mode")
    }

    @Test("a ledger of the first version is migrated in place: its deliveries kept, feeds made, counters carried over")
    func migratesVersion1() throws {
        let path = folder() + "/ledger.sqlite"
        let database = try Database(path: path, mode: .create)
        try database.execute(Schema.version1)
        try database.execute("""
            PRAGMA user_version = 1;
            INSERT INTO runs (id, started_at, trigger, partners) VALUES ('r1', '2026-11-27T02:00:00Z', 'manual', '["p"]');
            INSERT INTO deliveries (id, run_id, partner, batch, record_count, bytes, sha256, records_offset, records_length,
              payload_path, content_type, status, created_at, delivered_at, fields, purpose, consent_scopes, manifest)
            VALUES ('d1', 'r1', 'p', 1, 3, 100, 'x', 0, 10, 'payloads/p/d1.json', 'application/json', 'delivered',
              '2026-11-27T02:00:00Z', '2026-11-27T02:00:01Z', '["a"]', 'offers', '["s"]', x'');
            INSERT INTO disclosures (customer_id, delivery, scope, granted_at) VALUES (7, 1, 's', 'g'), (8, 1, 's', 'g');
            """)
        let ledger = try SQLiteLedger.open(at: path, access: .write(create: false))
        // Whoever was disclosed to is held, key and hash unknown (the next run learns them, a notice works the key out).
        let held = try ledger.holdings(partner: "p", range: .all, after: nil, limit: 10, idsOnly: false)
        #expect(held.ids == [7, 8] && held.keys.isEmpty && held.digestLengths == [0, 0])
        #expect(try ledger.disclosures(customerID: 7).map(\.kind) == [.disclosure])
        #expect(try ledger.database.scalarInt("PRAGMA application_id") == Schema.applicationID)
        #expect(try ledger.database.scalarInt("PRAGMA user_version") == Int64(Schema.migrations.count))
        let delivery = try #require(try ledger.delivery("d1"))
        #expect(delivery.status == .delivered && delivery.feed == "r1/p" && delivery.lastCustomer == nil)
        #expect(try ledger.feed("r1/p")?.shape == "", "an earlier version's feed has an unknown shape")
        #expect(try ledger.totals()["p"]?.counter(CounterName.recordsSent) == 3)
        #expect(try ledger.database.prepare("PRAGMA foreign_key_check").rows { _ in 1 }.isEmpty)
    }

    @Test("a new ledger appears whole or not at all: built under a temporary name, what a killed creation left is cleared")
    func freshLedgerIsAtomic() throws {
        let folder = folder()
        let path = folder + "/ledger.sqlite"
        // What a creation killed half-way leaves: a temporary file, never a half-made ledger at the path.
        #expect(FileManager.default.createFile(atPath: folder + "/.ledger.sqlite.new-99999", contents: Data("half".utf8)))
        let ledger = try SQLiteLedger.open(at: path, access: .write(create: true))
        #expect(try ledger.database.scalarInt("PRAGMA application_id") == Schema.applicationID)
        #expect(try ledger.database.scalarInt("PRAGMA user_version") == Int64(Schema.migrations.count))
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".new-") }
        #expect(left.isEmpty, "\(left)")
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    @Test("change sets round-trip at the edges of Int64, and damaged ones are refused, never a trap")
    func changeSets() throws {
        let set = ChangeSet(records: [.init(customerID: .min, key: [], digest: Array(repeating: 7, count: 16)),
                                      .init(customerID: 0, key: Array("k".utf8), digest: Array(repeating: 1, count: 16)),
                                      .init(customerID: .max, key: Array(String(repeating: "é€", count: 60).utf8), digest: Array(repeating: 2, count: 16)),
                                      .init(customerID: 9, key: Array(String(repeating: "0f", count: 32).utf8), digest: Array(repeating: 3, count: 16))],
                            notices: [DeletionNotice(customerID: .max, key: Array("a".utf8), reason: .erased),
                                      DeletionNotice(customerID: -5, key: [], reason: .consentWithdrawn)])
        let bytes = set.encoded()
        #expect(try ChangeSet(decoding: bytes) == set)
        #expect(try ChangeSet(decoding: []) == ChangeSet())
        // Every truncation, and every single-byte corruption, is an error or a value — never a crash.
        for cut in 0..<bytes.count { _ = try? ChangeSet(decoding: Array(bytes[0..<cut])) }
        for i in bytes.indices {
            for value: UInt8 in [0x00, 0x7F, 0x80, 0xFF] {
                var damaged = bytes
                damaged[i] = value
                _ = try? ChangeSet(decoding: damaged)
            }
        }
        #expect(throws: ChangeSetError.self) { try ChangeSet(decoding: [1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) }
        // Hex keys are kept as raw bytes, half the size; anything else as it is.
        let hex = Array("00ff7a9e".utf8)
        #expect(KeyPacking.pack(hex) == [0xFF, 0x00, 0xFF, 0x7A, 0x9E] && KeyPacking.unpack(KeyPacking.pack(hex)) == hex)
        for text in ["", "ABCD", "abc", "anna@example.com", "12345", "00fg", "0123456789abcdeF", "12\u{0}3"] {
            let bytes = Array(text.utf8)
            #expect(KeyPacking.unpack(KeyPacking.pack(bytes)) == bytes)
            #expect(bytes.withUnsafeBytes { KeyPacking.matches(KeyPacking.pack(bytes), text: $0) })
        }
        #expect(!Array("00ff".utf8).withUnsafeBytes { KeyPacking.matches(KeyPacking.pack(Array("00fe".utf8)), text: $0) })
    }

    @Test("disclosures by customer use the primary key, not a scan")
    func disclosureQueryPlan() throws {
        let ledger = try ledger()
        let plan = try ledger.database.prepare("""
            EXPLAIN QUERY PLAN SELECT d.partner FROM disclosures AS x JOIN deliveries AS d ON d.seq = x.delivery
            WHERE x.customer_id = ?
            """)
        var details: [String] = []
        while try plan.step() { details.append(plan.string(3) ?? "") }
        #expect(details.contains { $0.contains("SEARCH x USING PRIMARY KEY (customer_id=?)") }, "\(details)")
        #expect(!details.contains { $0.hasPrefix("SCAN x") })
    }

    @Test("a log leaf is one line of JSON with the keys in their fixed order, any value escaped so that it parses back the same")
    func logLeaf() throws {
        let odd = "a\"b\\c\u{01}\nd é€ 😀"
        let entry = LogEntry(index: 12, kind: .deletion, partner: odd, delivery: "dlv_1", customerID: -7, fields: ["ref", odd],
                             reason: .erased, consentScope: "", consentGrantedAt: odd, disclosedAt: nil)
        let text = String(decoding: entry.leafBytes, as: UTF8.self)
        #expect(!text.contains("\n"), "\(text)")
        let keys = ["index", "kind", "partner", "delivery", "customer_id", "fields", "reason", "consent_scope", "consent_granted_at", "disclosed_at"]
        let positions = keys.map { text.range(of: "\"\($0)\":")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil } && positions.map { $0! } == positions.map { $0! }.sorted(), "\(text)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(entry.leafBytes)) as? [String: Any])
        #expect(parsed["partner"] as? String == odd && parsed["consent_granted_at"] as? String == odd)
        #expect(parsed["customer_id"] as? Int == -7 && parsed["index"] as? Int == 12 && parsed["reason"] as? String == "erased")
        #expect(parsed["fields"] as? [String] == ["ref", odd] && parsed["disclosed_at"] is NSNull)
        let plain = LogEntry(index: 0, kind: .disclosure, partner: "p", delivery: "d", customerID: Int64.min, fields: [], reason: nil,
                             consentScope: "s", consentGrantedAt: "t", disclosedAt: "u")
        #expect(String(decoding: plain.leafBytes, as: UTF8.self) == #"{"index":0,"kind":"disclosure","partner":"p","delivery":"d","customer_id":-9223372036854775808,"fields":[],"reason":null,"consent_scope":"s","consent_granted_at":"t","disclosed_at":"u"}"#)
    }

    @Test("the log's tree grows with every delivery recorded, equal to a recomputation from the rows; a duplicate row takes no index", arguments: LedgerKind.allCases)
    func logGrowsWithDeliveries(kind: LedgerKind) throws {
        let ledger = try ledger(kind)
        try ledger.startRun(id: "r1", trigger: .manual, partners: ["p"], at: "2026-11-27T02:00:00Z")
        // A manifest naming a customer twice (the second row is ignored, so the leaves are made again for what went in).
        for (n, customers) in [[1, 2, 3], [4, 4, 5], Array(6...40)].enumerated() {
            let delivery = try ledger.createDelivery(newDelivery("d\(n)", customers: customers.map(Int64.init), batch: n + 1),
                                                     superseding: nil, at: "t")
            try ledger.beginAttempt(delivery: delivery, number: 1, run: "r1", at: "2026-11-27T02:00:01Z")
            try ledger.finishAttempt(delivery: delivery, number: 1, result: attempt(200, .delivered), transition: .delivered,
                                     at: "2026-11-27T02:00:0\(n + 2)Z")
            var recomputed = MerkleFrontier()
            var indexes: [Int64] = []
            try ledger.forEachLogLeaf(from: 0) { row in
                indexes.append(row.index ?? -1)
                recomputed.append(leafHash: Merkle.leafHash(row.leaf))
            }
            #expect(indexes == (0..<Int64(indexes.count)).map { $0 }, "numbered 0, 1, 2…")
            #expect(try ledger.logState().tree == recomputed)
        }
        #expect(try ledger.logState().tree.size == UInt64(2 * (3 + 2 + 35)), "two scopes per customer; customer 4 once")
        #expect(try ledger.disclosures(customerID: 4).count == 2)
    }

    @Test("consent grants of any bytes (invalid UTF-8, a NUL) are recorded and logged as a UTF-8 reader sees them (U+FFFD), alike on both ledgers")
    func hostileGrants() throws {
        var roots: [[UInt8]] = []
        for kind in LedgerKind.allCases {
            let ledger = try ledger(kind)
            try ledger.startRun(id: "r1", trigger: .manual, partners: ["p"], at: "t")
            var grants: [UInt8] = []
            let hostile: [[UInt8]] = [[0xFF, 0xFE, 0x41], [0x32, 0x00, 0x33], Array("2026-11-27T00:00:00Z".utf8), []]
            for grant in hostile {
                grant.withUnsafeBytes { Manifest.appendGrant($0, to: &grants) }
                grant.withUnsafeBytes { Manifest.appendGrant($0, to: &grants) }
            }
            var new = newDelivery("d1", customers: [1, 2, 3, 4])
            new.manifest = Manifest.encoded(customerIDs: [1, 2, 3, 4], scopes: 2, grantStream: grants)
            let delivery = try ledger.createDelivery(new, superseding: nil, at: "t")
            try ledger.beginAttempt(delivery: delivery, number: 1, run: "r1", at: "t")
            try ledger.finishAttempt(delivery: delivery, number: 1, result: attempt(200, .delivered), transition: .delivered, at: "t2")
            #expect(try ledger.disclosures(customerID: 1).first?.consentGrantedAt == "\u{FFFD}\u{FFFD}A")
            #expect(try ledger.disclosures(customerID: 2).first?.consentGrantedAt == "2\u{FFFD}3")
            #expect(try ledger.disclosures(customerID: 3).first?.consentGrantedAt == "2026-11-27T00:00:00Z")
            var leaves: [[UInt8]] = []
            try ledger.forEachLogLeaf(from: 0) { leaves.append(Array($0.leaf)) }
            #expect(leaves.count == 8)
            // Every leaf is UTF-8 JSON (docs/decisions.md): the NUL and the invalid bytes became U+FFFD.
            #expect(leaves.allSatisfy { String(validating: $0, as: UTF8.self) != nil })
            #expect(String(decoding: leaves[2], as: UTF8.self).contains(#""2\#u{FFFD}3""#), "\(String(decoding: leaves[2], as: UTF8.self))")
            let state = try ledger.logState()
            #expect(state.tree.size == 8)
            roots.append(state.tree.root)
        }
        #expect(roots.count == 2 && roots[0] == roots[1], "the same leaves, byte for byte, on both ledgers")
    }

    @Test("audit reads see one moment: a delivery committed by another connection meanwhile is not half seen", arguments: LedgerKind.allCases)
    func readSnapshot(kind: LedgerKind) throws {
        let ledger = try ledger(kind)
        let writer = try ledger.connect()
        try ledger.startRun(id: "r1", trigger: .manual, partners: ["p"], at: "t")
        func deliver(_ id: String, _ customers: [Int64], batch: Int) throws {
            let delivery = try writer.createDelivery(newDelivery(id, customers: customers, batch: batch), superseding: nil, at: "t")
            try writer.beginAttempt(delivery: delivery, number: 1, run: "r1", at: "t")
            try writer.finishAttempt(delivery: delivery, number: 1, result: attempt(200, .delivered), transition: .delivered, at: "t")
        }
        try deliver("d1", [1, 2], batch: 1)
        let (stored, rows) = try ledger.readSnapshot {
            let state = try ledger.logState()
            try deliver("d2", [3, 4, 5], batch: 2)  // another connection commits between the two reads
            var rows: UInt64 = 0
            try ledger.forEachLogLeaf(from: 0) { _ in rows += 1 }
            return (state.tree.size, rows)
        }
        #expect(stored == 4 && rows == 4, "the state and the rows of one moment: \(stored) and \(rows)")
        var now: UInt64 = 0
        try ledger.forEachLogLeaf(from: 0) { _ in now += 1 }
        #expect(try ledger.logState().tree.size == 10 && now == 10, "after it, the new delivery is there")
    }
}
