import ExportCore
import SQLite

extension SQLLedger: HoldingsLog {
    public func holdingsCount(partner: String, range: IDRange) throws -> Int {
        try checked {
            Int(try database.scalarInt("SELECT count(*) FROM holdings WHERE partner = ?1 AND customer_id > ?2 AND customer_id <= ?3",
                                       [.text(partner), .integer(range.after ?? .min), .integer(range.through ?? .max)]) ?? 0)
        }
    }

    /// One short statement per page (on the (partner, customer_id) primary key): no read transaction
    /// stays open between pages, so deliveries acknowledged meanwhile on other connections never make
    /// this connection's next write fail.
    public func holdings(partner: String, range: IDRange, after: Int64?, limit: Int, idsOnly: Bool = false) throws -> HoldingsPage {
        try checked {
            var conditions = ["partner = ?1"]
            var arguments: [Value] = [.text(partner)]
            let lower = [range.after, after].compactMap { $0 }.max()
            if let lower {
                arguments.append(.integer(lower))
                conditions.append("customer_id > ?\(arguments.count)")
            }
            if let through = range.through {
                arguments.append(.integer(through))
                conditions.append("customer_id <= ?\(arguments.count)")
            }
            let statement = try database.prepare((idsOnly ? "SELECT customer_id FROM holdings WHERE " : "SELECT customer_id, key, digest FROM holdings WHERE ")
                                                 + conditions.joined(separator: " AND ") + " ORDER BY customer_id LIMIT \(max(1, limit))")
            try statement.bind(arguments)
            var page = HoldingsPage()
            while try statement.step() {
                let empty = UnsafeRawBufferPointer(start: nil, count: 0)
                page.append(id: statement.int64(0), key: idsOnly ? empty : statement.textBytes(1) ?? empty,
                            digest: idsOnly ? empty : statement.textBytes(2) ?? empty)
            }
            statement.reset()
            return page
        }
    }

    public func keys(partner: String, ids: [Int64]) throws -> [Int64: [UInt8]] {
        try checked {
            let statement = try database.prepare("SELECT key FROM holdings WHERE partner = ?1 AND customer_id = ?2")
            try statement.bind(.text(partner), at: 1)
            var keys: [Int64: [UInt8]] = [:]
            for id in ids {
                try statement.bind(.integer(id), at: 2)
                if try statement.step() { keys[id] = statement.textBytes(0).map { Array($0) } ?? [] }
                statement.reset()
            }
            return keys
        }
    }
}
