import Foundation
import SQLite

/// Writes a synthetic customer database in the canonical schema (docs/design.md, "Source data"): realistic,
/// deterministic for a seed, with both consent scopes, withdrawn consents, suspended and closed
/// accounts, test card numbers that no card network accepts, and customer logs.
public struct DemoDataGenerator {
    public let customers: Int
    public let seed: UInt64

    public init(customers: Int, seed: UInt64) {
        self.customers = customers
        self.seed = seed
    }

    /// What was written, for the command's summary.
    public struct Summary: Sendable {
        public var customers = 0
        public var consents: [String: Int] = [:]
        public var withdrawn: [String: Int] = [:]
        public var statuses: [String: Int] = [:]
        public var logs = 0
    }

    /// The canonical schema.
    public static let schema = """
        CREATE TABLE customers (
          id             INTEGER PRIMARY KEY,
          first_name     TEXT NOT NULL,
          last_name      TEXT NOT NULL,
          email          TEXT NOT NULL,
          phone          TEXT,
          street         TEXT,
          city           TEXT,
          region         TEXT,
          postal_code    TEXT,
          country        TEXT NOT NULL,
          card_number    TEXT,
          card_expiry    TEXT,
          account_status TEXT NOT NULL,
          services       TEXT NOT NULL DEFAULT '[]',
          created_at     TEXT NOT NULL,
          updated_at     TEXT NOT NULL
        );
        CREATE TABLE consents (
          customer_id  INTEGER NOT NULL REFERENCES customers(id),
          scope        TEXT NOT NULL,
          granted_at   TEXT NOT NULL,
          withdrawn_at TEXT,
          source       TEXT,
          PRIMARY KEY (customer_id, scope)
        );
        CREATE TABLE customer_logs (
          customer_id INTEGER NOT NULL REFERENCES customers(id),
          at          TEXT NOT NULL,
          event       TEXT NOT NULL
        );
        """

    /// Writes the database to `path` (through a temporary file, then renamed into place, mode 0600).
    public func write(to path: String) throws -> Summary {
        let temporary = path + ".partial"
        try? FileManager.default.removeItem(atPath: temporary)
        let fd = open(temporary, O_CREAT | O_WRONLY | O_EXCL, 0o600)
        guard fd >= 0 else { throw DemoDataError(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        close(fd)
        var summary = Summary()
        do {
            let db = try Database(path: temporary, mode: .readWrite)
            try db.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            try db.execute(Self.schema)
            try db.execute("BEGIN")
            let insertCustomer = try db.prepare("INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
            let insertConsent = try db.prepare("INSERT INTO consents VALUES (?,?,?,?,?)")
            let insertLog = try db.prepare("INSERT INTO customer_logs VALUES (?,?,?)")
            var random = SplitMix64(seed: seed)
            for id in 1...max(customers, 1) where customers > 0 {
                let customer = Customer.make(id: Int64(id), random: &random)
                try insertCustomer.run(customer.values)
                summary.customers += 1
                summary.statuses[customer.status, default: 0] += 1
                for consent in customer.consents {
                    try insertConsent.run([.integer(Int64(id)), .text(consent.scope), .text(consent.grantedAt),
                                           consent.withdrawnAt.map { .text($0) } ?? .null, .text(consent.source)])
                    summary.consents[consent.scope, default: 0] += 1
                    if consent.withdrawnAt != nil { summary.withdrawn[consent.scope, default: 0] += 1 }
                }
                for log in customer.logs {
                    try insertLog.run([.integer(Int64(id)), .text(log.at), .text(log.event)])
                    summary.logs += 1
                }
            }
            try db.execute("COMMIT")
            try db.execute("PRAGMA journal_mode = DELETE")
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            throw DemoDataError(description: "cannot move \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
        return summary
    }
}

public struct DemoDataError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// A small, fast, deterministic generator (Steele, Lea & Flood's SplitMix64).
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// True with probability `percent` / 100.
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}
