import DemoData
import Foundation
import SQLite

/// Customer databases written by tests, in the canonical schema.
public enum Fixtures {
    /// A customer row: column → value (missing columns get plain defaults).
    public struct Customer {
        public var id: Int64
        public var values: [String: Value]

        public init(id: Int64, _ values: [String: Value] = [:]) {
            self.id = id
            self.values = values
        }
    }

    public struct Consent {
        public var customerID: Int64
        public var scope: String
        public var grantedAt: String
        public var withdrawnAt: Value

        public init(_ customerID: Int64, _ scope: String, grantedAt: String = "2024-01-02T03:04:05Z", withdrawnAt: Value = .null) {
            self.customerID = customerID
            self.scope = scope
            self.grantedAt = grantedAt
            self.withdrawnAt = withdrawnAt
        }
    }

    static let columns = ["id", "first_name", "last_name", "email", "phone", "street", "city", "region", "postal_code",
                          "country", "card_number", "card_expiry", "account_status", "services", "created_at", "updated_at"]

    /// Plain values for a customer's columns.
    public static func defaults(id: Int64) -> [String: Value] {
        [
            "first_name": .text("Anna"), "last_name": .text("Smith"), "email": .text("anna.smith\(id)@example.com"),
            "phone": .text("+447700900\(String(format: "%03d", id % 1000))"), "street": .text("1 High Street"),
            "city": .text("London"), "region": .text("England"), "postal_code": .text("SW1A 1AA"), "country": .text("GB"),
            "card_number": .text("4111111111111111"), "card_expiry": .text("12/29"), "account_status": .text("active"),
            "services": .text("[\"email\",\"tv\"]"), "created_at": .text("2019-03-14T09:26:53Z"),
            "updated_at": .text("2025-01-01T00:00:00Z"),
        ]
    }

    /// Writes a database with `customers` and `consents` (and one log row per customer).
    public static func write(_ path: String, customers: [Customer], consents: [Consent]) throws {
        try? FileManager.default.removeItem(atPath: path)
        let db = try Database(path: path, mode: .create)
        try db.execute(DemoDataGenerator.schema)
        try db.execute("BEGIN")
        let insert = try db.prepare("INSERT INTO customers (\(columns.joined(separator: ","))) VALUES (\(columns.map { _ in "?" }.joined(separator: ",")))")
        let log = try db.prepare("INSERT INTO customer_logs VALUES (?, '2025-01-01T00:00:00Z', 'login')")
        for customer in customers {
            let values = defaults(id: customer.id).merging(customer.values) { $1 }
            try insert.run(columns.map { $0 == "id" ? .integer(customer.id) : values[$0] ?? .null })
            try log.run([.integer(customer.id)])
        }
        let consent = try db.prepare("INSERT INTO consents VALUES (?, ?, ?, ?, 'web')")
        for c in consents {
            try consent.run([.integer(c.customerID), .text(c.scope), .text(c.grantedAt), c.withdrawnAt])
        }
        try db.execute("COMMIT")
    }

    // MARK: - Hostile data

    /// Every kind of value docs/design.md ("Source data") says real data holds, as raw bytes.
    public static let hostileTexts: [(label: String, bytes: [UInt8])] = [
        ("empty", []),
        ("metacharacters", Array("<a href=\"x\">&amp; 'q' \\ / ]]> </customer> {\"k\":[1]}".utf8)),
        ("emoji", Array("👩‍👩‍👧 🇬🇧 😀 family".utf8)),
        ("right-to-left", Array("مرحبا \u{202E}evil\u{202C} שלום".utf8)),
        ("nul", Array("a".utf8) + [0] + Array("b".utf8)),
        ("controls", [0x01, 0x08, 0x0B, 0x0C, 0x1B, 0x1F, 0x7F] + Array("x".utf8)),
        ("whitespace", Array("\t tab\nline\r\nwindows\rmac ".utf8)),
        ("long", Array(String(repeating: "Lorem ipsum dolor sit amet ", count: 304).utf8)),  // over 8 KiB
        ("invalid-utf8", [0x41, 0xFF, 0x42, 0xE2, 0x82, 0x43, 0xC0, 0xAF, 0xED, 0xA0, 0x80, 0xF4, 0x90, 0x80, 0x80]),
        ("truncated-utf8", Array("café".utf8).dropLast()),
        ("non-characters", Array("a\u{FFFE}b\u{FFFF}c\u{FFFD}".utf8)),
        ("line-separators", Array("a\u{2028}b\u{2029}c\u{85}d".utf8)),
        ("combining", Array("e\u{301}le\u{300}ve".utf8)),
    ]

    /// Services values: valid ones with escapes, and malformed ones that must be rejected by id.
    public static let hostileServices: [(label: String, bytes: [UInt8], valid: Bool)] = [
        ("escapes", Array(#"["a\u0000b", "\ud83d\ude00", "quote\"s", "\u00e9", "tab\t", "\/slash"]"#.utf8), true),
        ("lone-surrogate", Array(#"["\ud800x"]"#.utf8), true),
        ("empty-array", Array("[]".utf8), true),
        ("not-json", Array("email, tv".utf8), false),
        ("numbers", Array("[1, 2]".utf8), false),
        ("object", Array(#"{"a": "b"}"#.utf8), false),
        ("null-item", Array(#"["ok", null]"#.utf8), false),
        ("unterminated", Array(#"["email"#.utf8), false),
        ("empty-string", [], false),
        ("raw-control", Array("[\"a".utf8) + [0x01] + Array("\"]".utf8), false),
        ("trailing", Array(#"["a"] x"#.utf8), false),
    ]

    /// The columns hostile text goes into (every exportable text column).
    public static let hostileColumns = ["first_name", "last_name", "email", "phone", "street", "city", "region",
                                        "postal_code", "country"]

    /// A database where customer k holds hostile text k in every text column, then one customer per
    /// services value, then customers with NULLs in every optional column. Everyone has `scope` in force.
    /// Returns the ids of customers whose services are malformed.
    ///
    /// `postgresSafe` leaves out the values PostgreSQL text cannot hold (a NUL, invalid UTF-8), so that
    /// the same rows can be loaded into a server.
    @discardableResult
    public static func writeHostile(_ path: String, scope: String = "partner-offers", postgresSafe: Bool = false) throws -> [Int64] {
        var customers: [Customer] = []
        var id: Int64 = 0
        for (_, bytes) in hostileTexts where !postgresSafe || (!bytes.contains(0) && String(validating: bytes, as: UTF8.self) != nil) {
            id += 1
            var values: [String: Value] = [:]
            for column in hostileColumns { values[column] = .textBytes(bytes) }
            customers.append(Customer(id: id, values))
        }
        var malformed: [Int64] = []
        for (_, bytes, valid) in hostileServices {
            id += 1
            customers.append(Customer(id: id, ["services": .textBytes(bytes)]))
            if !valid { malformed.append(id) }
        }
        id += 1
        customers.append(Customer(id: id, ["phone": .null, "street": .null, "city": .null, "region": .null,
                                          "postal_code": .null, "card_number": .null, "card_expiry": .null]))
        id += 1
        // A TEXT column holding an integer and a BLOB: read as their text.
        customers.append(Customer(id: id, ["postal_code": .integer(12345), "city": .blob(Array("Blobville".utf8))]))
        try write(path, customers: customers, consents: customers.map { Consent($0.id, scope) })
        return malformed
    }

    /// The value a column holds for a hostile customer, as bytes (nil for NULL).
    public static func storedBytes(_ path: String, id: Int64, column: String) throws -> [UInt8]? {
        let db = try Database(path: path, mode: .readOnly)
        let statement = try db.prepare("SELECT \"\(column)\" FROM customers WHERE id = ?")
        try statement.bind([.integer(id)])
        guard try statement.step() else { return nil }
        return statement.textBytes(0).map { Array($0) }
    }
}

import ExportCore

/// A customer row held in memory, for tests of the forms and renderers.
public struct MemoryRow: CustomerRow {
    public let customerID: Int64
    /// One value per column of the plan's `SourceColumns` after `id`; nil is NULL.
    public let values: [[UInt8]?]

    public init(customerID: Int64, values: [[UInt8]?]) {
        self.customerID = customerID
        self.values = values
    }

    public func withValue<R>(at index: Int, _ body: (ColumnValue) throws -> R) rethrows -> R {
        if index == 0 { return try body(.integer(customerID)) }
        guard let bytes = values[index - 1] else { return try body(.null) }
        return try bytes.withUnsafeBytes { try body(.bytes($0)) }
    }
}
