import ExportCore
import Foundation
@testable import Ledger
import Postgres
import TestSupport
import Testing

/// What only the PostgreSQL ledger has: its schema, its lock, its payload table (the shared
/// behaviour runs in the other suites against both ledgers).
@Suite("PostgreSQL ledger")
struct PostgresLedgerTests {
    @Test("the schema is made once under a lock, opened read-only only when it is there, and a foreign schema of that name is refused untouched")
    func schema() throws {
        let cluster = try PostgresCluster.shared()
        let url = try cluster.createDatabase("ledger")
        #expect { _ = try PostgresLedger.open(url: url, access: .read) } throws: { error in
            (error as? ExportError)?.message.contains("there is no ledger in") == true
        }
        #expect { _ = try PostgresLedger.open(url: url, access: .write(create: false)) } throws: { error in
            (error as? ExportError)?.message.contains("there is no ledger in") == true
        }
        // Two processes creating it at once: one makes it, the other finds it made.
        let group = DispatchGroup()
        let failures = Slots(2)
        for i in 0..<2 {
            DispatchQueue.global().async(group: group) {
                do { _ = try PostgresLedger.open(url: url, access: .write(create: true)) } catch { failures.set(i, "\(error)") }
            }
        }
        group.wait()
        #expect(failures.values.compactMap { $0 }.isEmpty, "\(failures.values)")
        let admin = try Connection(url: url)
        #expect(try admin.query("SELECT version FROM partner_export.schema_version").text(0, 0) == String(PostgresSchema.migrations.count))
        let ledger = try PostgresLedger.open(url: url, access: .read)
        #expect(try ledger.runCount() == 0)
        // Read-only means read-only: the session refuses writes.
        #expect(throws: ExportError.self) { try ledger.startRun(id: "r", trigger: .manual, partners: [], at: "t") }

        // A newer version is refused; a foreign schema called partner_export is never touched.
        try admin.execute("UPDATE partner_export.schema_version SET version = 99")
        #expect { _ = try PostgresLedger.open(url: url, access: .write(create: true)) } throws: { error in
            (error as? ExportError)?.message.contains("newer partner-export (schema 99)") == true
        }
        let other = try cluster.createDatabase("foreign")
        let foreign = try Connection(url: other)
        try foreign.execute("CREATE SCHEMA partner_export; CREATE TABLE partner_export.orders (id int)")
        #expect { _ = try PostgresLedger.open(url: other, access: .write(create: true)) } throws: { error in
            (error as? ExportError)?.message.contains("holds 1 tables but is not a partner-export ledger") == true
        }
        #expect(try foreign.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'partner_export'").text(0, 0) == "1")
    }

    @Test("one run at a time: the lock is a session advisory lock that names its holder and goes when the holder dies")
    func lock() throws {
        let url = try PostgresCluster.shared().createDatabase("ledger")
        _ = try PostgresLedger.open(url: url, access: .write(create: true))
        let location = LedgerLocation(url)
        var first: AnyObject? = try location.lock(now: "2026-12-01T02:00:00Z")
        #expect(location.holderAlive())
        #expect { _ = try location.lock(now: "2026-12-01T02:00:01Z") } throws: { error in
            let error = error as? ExportError
            return error?.code == "lock.held" && error?.message.contains("partner-export pid \(getpid()) on ") == true
        }
        withExtendedLifetime(first) {}
        first = nil
        #expect(!location.holderAlive())
        _ = try location.lock(now: "2026-12-01T02:00:02Z")
    }

    @Test("payloads live in the ledger, any connection reads them back, checked against the SHA-256 the delivery recorded")
    func payloads() throws {
        let url = try PostgresCluster.shared().createDatabase("ledger")
        let ledger = try PostgresLedger.open(url: url, access: .write(create: true))
        let store = PostgresPayloadStore(url: url)
        let feed = FeedBytes(parts: [Array(#"{"records":["#.utf8), Array(repeating: UInt8(ascii: "7"), count: 200_000), Array("]}".utf8)])
        let path = try store.store(feed, partner: "p", delivery: "d1", fileExtension: "json")
        #expect(path == "payloads/p/d1.json")
        try ledger.startRun(id: "r1", trigger: .manual, partners: ["p"], at: "t")
        let delivery = try ledger.createDelivery(
            NewDelivery(id: "d1", runID: "r1", feed: "r1/p", partner: "p", batch: 1, bytes: feed.count, sha256: feed.sha256,
                        recordsRange: 0..<feed.count, payloadPath: path, contentType: "application/json", gzip: false,
                        createdAt: "t", fields: [], purpose: "x", consentScopes: ["s"],
                        manifest: Manifest(customerIDs: [1], grants: [["g"]]).encoded(), recordCount: 1, lastCustomer: 1),
            superseding: nil, at: "t")
        #expect(try PostgresPayloadStore(url: url).load(delivery).joined == feed.joined, "another worker's connection reads the same bytes")
        #expect(try ledger.payloadPaths() == [path])
        // Stored compressed: the table holds far fewer bytes than the feed.
        let admin = try Connection(url: url)
        let stored = Int(try admin.query("SELECT pg_column_size(data) FROM partner_export.payloads").text(0, 0) ?? "") ?? 0
        #expect(stored > 0 && stored < feed.count / 10, "\(stored) bytes stored for \(feed.count)")
        // Altered bytes are refused and kept as evidence.
        try admin.execute("UPDATE partner_export.payloads SET data = overlay(data placing '8'::bytea from 100)")
        #expect { _ = try store.load(delivery) } throws: { error in (error as? ExportError)?.code == "payload.mismatch" }
        try admin.execute("DELETE FROM partner_export.payloads")
        #expect { _ = try store.load(delivery) } throws: { error in (error as? ExportError)?.code == "payload.missing" }
    }
}

extension PostgresLedgerTests {
    func sharedRun(items count: Int) throws -> (url: String, run: String) {
        let url = try PostgresCluster.shared().createDatabase("ledger")
        let ledger = try PostgresLedger.open(url: url, access: .write(create: true))
        try ledger.startRun(id: "r1", trigger: .scheduled, partners: ["p"], at: "2026-12-01T02:00:00Z")
        let bounds: [Int64?] = [nil] + (1..<count).map { Int64($0 * 1000) } + [nil]
        try RunItems(ledger).add((0..<count).map { i in
            RunItem(runID: "r1", partner: "p", shard: i + 1, shards: count, range: IDRange(after: bounds[i], through: bounds[i + 1]))
        })
        return (url, "r1")
    }

    @Test("two workers claiming side by side never get the same item, and between them get every one")
    func claimsAreExclusive() throws {
        let (url, run) = try sharedRun(items: 12)
        let taken = Slots(2)
        let group = DispatchGroup()
        for worker in 0..<2 {
            DispatchQueue.global().async(group: group) {
                do {
                    let items = try RunItems(try PostgresLedger.open(url: url, access: .write(create: false)))
                    var shards: [String] = []
                    while let item = try items.claim(run: run, worker: "w\(worker)", leaseSeconds: 60) {
                        shards.append(String(item.shard))
                        #expect(try items.finish(item, worker: "w\(worker)", status: .done, report: nil))
                    }
                    taken.set(worker, shards.joined(separator: ","))
                } catch {
                    taken.set(worker, "error: \(error)")
                }
            }
        }
        group.wait()
        let all = taken.values.compactMap { $0 }.flatMap { $0.split(separator: ",").map { Int($0) ?? -1 } }
        #expect(all.sorted() == Array(1...12), "\(taken.values)")
        let items = try RunItems(try PostgresLedger.open(url: url, access: .write(create: false))).items(run: run)
        #expect(items.allSatisfy { $0.status == .done && $0.takeovers == 0 })
        #expect(items.first?.range == IDRange(after: nil, through: 1000) && items.last?.range == IDRange(after: 11000, through: nil))
    }

    @Test("a lease renewed holds the item; one that runs out is taken over, and the earlier holder can neither renew nor finish it")
    func leasesAndTakeover() throws {
        let (url, run) = try sharedRun(items: 1)
        let a = try RunItems(try PostgresLedger.open(url: url, access: .write(create: false)))
        let b = try RunItems(try PostgresLedger.open(url: url, access: .write(create: false)))
        // The server's clock decides; the test moves the lease's end instead of waiting for it.
        let server = try Connection(url: url)
        func leaseLeft() throws -> Double {
            Double(try server.query("SELECT extract(epoch FROM lease_until - now()) FROM partner_export.run_items").text(0, 0) ?? "") ?? -1
        }
        let held = try #require(try a.claim(run: run, worker: "host-a pid 1", leaseSeconds: 30))
        #expect(try b.claim(run: run, worker: "host-b pid 2", leaseSeconds: 30) == nil, "a held lease keeps the item")
        for _ in 0..<3 {
            // About to run out: a renewal gives it its whole length again, and the item stays host-a's.
            try server.execute("UPDATE partner_export.run_items SET lease_until = now() + interval '1 second'")
            #expect(try a.renew(held, worker: "host-a pid 1", leaseSeconds: 30))
            #expect(try leaseLeft() > 25, "renewed from the server's now")
            #expect(try b.claim(run: run, worker: "host-b pid 2", leaseSeconds: 30) == nil, "a renewed lease keeps the item")
        }
        // host-a stops renewing (it died, or hangs): once the lease has run out, host-b takes the item over.
        try server.execute("UPDATE partner_export.run_items SET lease_until = now() - interval '1 second'")
        #expect(try !a.renew(held, worker: "host-a pid 1", leaseSeconds: 30), "a lease that ran out is not renewed")
        let taken = try #require(try b.claim(run: run, worker: "host-b pid 2", leaseSeconds: 30))
        #expect(taken.shard == held.shard && taken.takeovers == 1 && taken.earlierHolders == ["host-a pid 1"])
        #expect(try !a.renew(held, worker: "host-a pid 1", leaseSeconds: 30), "the earlier holder learns it lost the item")
        #expect(try !a.finish(held, worker: "host-a pid 1", status: .done, report: "{}"))
        #expect(try b.finish(taken, worker: "host-b pid 2", status: .done, report: #"{"records":3}"#))
        let item = try #require(try a.items(run: run).first)
        #expect(item.status == .done && item.holder == "host-b pid 2" && item.report == #"{"records":3}"#)
        #expect(try a.claim(run: run, worker: "host-a pid 1", leaseSeconds: 30) == nil, "a done item is never claimed again")
    }

    @Test("a schedule slot becomes one run, whoever asks first; the others are told which; a partner is in one run at a time")
    func slots() throws {
        let url = try PostgresCluster.shared().createDatabase("ledger")
        let ledger = try PostgresLedger.open(url: url, access: .write(create: true))
        let items = try RunItems(ledger)
        func item(_ run: String, _ partner: String = "p") -> [RunItem] {
            [RunItem(runID: run, partner: partner, shard: 1, shards: 1, range: .all)]
        }
        let first = try items.start(run: "run_a", trigger: .scheduled, partners: ["p"], at: "t", items: item("run_a"),
                                    slot: "due 2026-12-01T02:00:00Z", leaseSeconds: 60)
        #expect(first.run == "run_a" && first.made)
        let second = try items.start(run: "run_b", trigger: .scheduled, partners: ["p"], at: "t", items: item("run_b"),
                                     slot: "due 2026-12-01T02:00:00Z", leaseSeconds: 60)
        #expect(second.run == "run_a" && !second.made, "the second process joins the slot's run instead of making one")
        #expect(try ledger.run("run_b") == nil && items.items(run: "run_b").isEmpty, "and writes nothing")
        // Another slot while run_a's item waits to be claimed: refused (exit 75), nothing written.
        #expect(throws: ExportError.self) {
            _ = try items.start(run: "run_c", trigger: .scheduled, partners: ["p"], at: "t", items: item("run_c"),
                                slot: "due 2026-12-01T03:00:00Z", leaseSeconds: 60)
        }
        #expect(try ledger.run("run_c") == nil)
        // Another partner is free to run.
        #expect(try items.start(run: "run_d", trigger: .manual, partners: ["q"], at: "t", items: item("run_d", "q"), slot: nil,
                                leaseSeconds: 60).made)
        // Once run_a's item has waited longer than the lease with nobody to claim it, run_a is abandoned: marked interrupted.
        Thread.sleep(forTimeInterval: 1.2)
        #expect(try items.start(run: "run_e", trigger: .manual, partners: ["p"], at: "t", items: item("run_e"), slot: nil,
                                leaseSeconds: 1).made)
        #expect(try ledger.run("run_a")?.status == .interrupted)
        #expect(throws: ExportError.self) { _ = try RunItems(try SQLiteLedger.open(at: NSTemporaryDirectory() + "/\(UUID()).sqlite",
                                                                                      access: .write(create: true))) }
    }
}

extension PostgresLedgerTests {
    @Test("a connection never loses rows or transactions quietly: a second statement during a stream is refused, an aborted transaction is never committed, a failed BEGIN leaves no transaction open")
    func connectionDiscipline() throws {
        let connection = try Connection(url: try PostgresCluster.shared().createDatabase("conn"))
        try connection.execute("CREATE TABLE t (n int PRIMARY KEY)")
        let rows = try connection.rows("SELECT g FROM generate_series(1, 5) AS g", [], streaming: true)
        #expect(try rows.next())
        #expect(throws: PostgresError.self) { _ = try connection.query("SELECT 1") }
        var count = 1
        while try rows.next() { count += 1 }
        #expect(count == 5, "every row arrived although another statement was attempted")
        #expect(try connection.query("SELECT 1").text(0, 0) == "1")

        // An error inside the transaction that its body caught: the transaction is rolled back and says so.
        #expect(throws: PostgresError.self) {
            try connection.transaction {
                try connection.execute("INSERT INTO t VALUES (1)")
                _ = try? connection.execute("INSERT INTO t VALUES (1)")
            }
        }
        #expect(try connection.query("SELECT count(*) FROM t").text(0, 0) == "0")
        // A BEGIN that fails part way (its lock cannot be had): nothing stays open.
        #expect(throws: PostgresError.self) { try connection.transaction("BEGIN; SELECT 1 / 0") {} }
        try connection.execute("INSERT INTO t VALUES (2)")
        #expect(try connection.query("SELECT count(*) FROM t").text(0, 0) == "1")
    }
}

/// Results from other threads.
private final class Slots: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String?]
    init(_ count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: String) { lock.lock(); storage[i] = value; lock.unlock() }
    var values: [String?] { lock.lock(); defer { lock.unlock() }; return storage }
}
