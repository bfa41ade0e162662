import ExportCore
import Foundation
import SQLite

/// The ledger (docs/design.md, "The ledger"): one implementation of every ledger protocol over SQL
/// that SQLite and PostgreSQL both run (``LedgerSQL``), so that the guarantees — a delivery marked
/// delivered with its disclosures in one transaction, the log's tree grown with its entries — are
/// written once. ``SQLiteLedger`` opens a SQLite file of the tool's own; ``PostgresLedger`` a
/// schema `partner_export` in PostgreSQL.
///
/// Not thread-safe: one connection per thread (``connect()``).
public final class SQLLedger: LedgerStore {
    let database: any LedgerSQL
    /// Where it is, for messages: a path, or a URL without its password.
    public let location: String
    private let reconnect: @Sendable () throws -> sending SQLLedger

    init(database: any LedgerSQL, location: String, reconnect: @escaping @Sendable () throws -> sending SQLLedger) {
        self.database = database
        self.location = location
        self.reconnect = reconnect
    }

    /// Called before every write that moves a feed or a delivery on (a feed started or rendered, a
    /// delivery created, held, failed or superseded, an attempt begun — never before an attempt's
    /// outcome is recorded, which is what happened): the run's lock must still be held. Connections
    /// made by ``connect()`` inherit it.
    public var writeGuard: (@Sendable () throws -> Void)?
    /// See ``Fence``.
    public var fence: Fence?
    /// False for a ledger a read-only command opened one schema behind, before the operating tables
    /// (pauses, waits, pace, incidents) existed: their readers see them as empty.
    var hasPartnerControls = true

    public func connect() throws -> sending SQLLedger {
        let connection = try reconnect()
        connection.writeGuard = writeGuard
        connection.fence = fence
        connection.hasPartnerControls = hasPartnerControls
        return connection
    }

    public var connector: LedgerConnector {
        let (reconnect, writeGuard, fence) = (reconnect, writeGuard, fence)
        return LedgerConnector {
            let connection = try reconnect()
            connection.writeGuard = writeGuard
            connection.fence = fence
            return connection
        }
    }

    /// A condition checked inside the transaction of every write that sends or moves a delivery on
    /// (recorded, attempted, failed), after the writers' turn is taken: a count that must not be 0,
    /// else `error` is thrown and nothing is written. A worker of a shared run fences its writes with
    /// its lease, so that a check and the write it allows cannot be split by a takeover.
    public struct Fence: Sendable {
        public let sql: String
        public let arguments: [Value]
        public let error: ExportError

        public init(sql: String, arguments: [Value], error: ExportError) {
            self.sql = sql
            self.arguments = arguments
            self.error = error
        }
    }

    /// Inside a write transaction: throws the fence's error unless its condition holds.
    func fenced() throws {
        guard let fence else { return }
        if (try database.scalarInt(fence.sql, fence.arguments) ?? 0) == 0 { throw fence.error }
    }

    // MARK: - Helpers for the conformance's files

    func optional(_ value: String?) -> Value { value.map { .text($0) } ?? .null }
    func optional(_ value: Int?) -> Value { value.map { .integer(Int64($0)) } ?? .null }
    func optional(_ value: Int64?) -> Value { value.map { .integer($0) } ?? .null }

    /// Runs `body`, turning the database's failures into ledger errors naming the ledger.
    func checked<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            if let mapped = database.ledgerError(error) { throw mapped }
            throw error
        }
    }
}

/// How a command uses the ledger.
public enum LedgerAccess: Sendable {
    /// Read only: the ledger must exist; nothing is written (SQLite: not even WAL mode).
    case read
    /// Read and write, migrating an older schema; `create` makes a missing ledger.
    case write(create: Bool)
}

/// The ledger's small JSON columns (lists of names, shapes, counts).
enum Column {
    static func encode<T: Encodable>(_ value: T) -> String { (try? JSONCoding.compact(value)) ?? "[]" }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?, column: String) throws -> T {
        guard let text else { throw LedgerError.damaged("the ledger's \(column) column is NULL") }
        do {
            return try JSONCoding.decode(type, from: text)
        } catch {
            throw LedgerError.damaged("the ledger's \(column) column is not the JSON this version writes")
        }
    }
}
