import ExportCore
import Foundation
import Postgres
import SQLite
import Synchronization

/// Payloads kept in the PostgreSQL ledger (table `payloads`, compressed by PostgreSQL itself), so
/// that any worker on any machine can resend a delivery's exact bytes; checked against the SHA-256
/// the ledger recorded before every reuse, like the files of a SQLite ledger.
public final class PostgresPayloadStore: PayloadStore {
    private let url: String
    /// One connection, opened when first needed, used by one thread at a time.
    private let database = Mutex<PostgresSQL?>(nil)

    public init(url: String) { self.url = url }

    private func withDatabase<T: Sendable>(_ body: (PostgresSQL) throws -> T) throws -> T {
        try database.withLock { database in
            let connection = try database ?? PostgresLedger.connect(url, access: .write(create: false))
            database = connection
            do {
                return try body(connection)
            } catch let error as PostgresError {
                database = nil
                throw ExportError.ledger("the ledger \(PostgresURL.redacted(url)): \(error.message)")
            }
        }
    }

    public func store(_ feed: FeedBytes, partner: String, delivery: String, fileExtension: String) throws -> String {
        let path = "payloads/\(partner)/\(delivery).\(fileExtension)"
        try withDatabase { database in
            try database.prepare("INSERT INTO payloads (path, data) VALUES (?, ?) ON CONFLICT (path) DO UPDATE SET data = excluded.data")
                .run([.text(path), .blob(feed.joined)])
        }
        return path
    }

    public func load(_ delivery: DeliveryRecord) throws -> FeedBytes {
        let stored: [UInt8]? = try withDatabase { database in
            try database.prepare("SELECT data FROM payloads WHERE path = ?").firstRowBound([.text(delivery.payloadPath)]) { row in
                try row.bytes("data")
            }
        }
        guard let stored else {
            throw ExportError.payloadMissing("the payload of delivery \(delivery.id) is missing from the ledger (\(delivery.payloadPath)); "
                                             + "it cannot be sent as it was recorded")
        }
        let feed = FeedBytes(stored)
        guard stored.count == delivery.bytes, feed.sha256 == delivery.sha256 else {
            throw ExportError.payloadMismatch("the payload of delivery \(delivery.id) (\(delivery.payloadPath)) is not the bytes the "
                                              + "ledger recorded (SHA-256 differs); nothing was sent and it is kept as evidence")
        }
        return feed
    }

    public func discard(_ delivery: DeliveryRecord) {
        _ = try? remove(delivery.payloadPath)
    }

    public func prune(_ delivery: DeliveryRecord, dryRun: Bool) throws -> PayloadRemoval {
        PayloadRemoval(bytes: dryRun ? try size(of: delivery.payloadPath) : try remove(delivery.payloadPath), removed: true)
    }

    public func strays(storedBefore cutoff: Date, referenced: Set<String>) throws -> [StoredPayload] {
        try stored(before: cutoff).filter { !referenced.contains($0.path) }.map { StoredPayload(path: $0.path, bytes: $0.bytes) }
    }

    public func remove(_ stray: StoredPayload) throws -> Bool {
        try remove(stray.path)
        return true
    }

    /// The size of the payload stored under `path` (0 when there is none).
    func size(of path: String) throws -> Int {
        try withDatabase { Int(try $0.scalarInt("SELECT octet_length(data) FROM payloads WHERE path = ?", [.text(path)]) ?? 0) }
    }

    /// Deletes the payload stored under `path`; returns its size (0 when there was none).
    @discardableResult
    func remove(_ path: String) throws -> Int {
        try withDatabase {
            Int(try $0.scalarInt("DELETE FROM payloads WHERE path = ? RETURNING octet_length(data)", [.text(path)]) ?? 0)
        }
    }

    /// Stored payloads older than `cutoff` and their sizes.
    func stored(before cutoff: Date) throws -> [(path: String, bytes: Int)] {
        try withDatabase { database in
            let statement = try database.prepare("SELECT path, octet_length(data) AS size FROM payloads WHERE stored_at < to_timestamp(?)")
            try statement.bind([.integer(Int64(cutoff.timeIntervalSince1970))])
            return try statement.rows { (try $0.text("path"), try $0.int("size")) }
        }
    }
}

extension LedgerStatement {
    /// Binds `values`, then the first row decoded by `decode` (or nil).
    func firstRowBound<T>(_ values: [Value], _ decode: (LedgerRow) throws -> T) throws -> T? {
        try bind(values)
        return try firstRow(decode)
    }
}
