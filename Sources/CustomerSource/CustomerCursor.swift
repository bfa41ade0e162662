import ExportCore
import SQLite

/// A forward-only cursor over eligible customers, one row in memory at a time.
public final class CustomerCursor {
    let statement: Statement
    let columnCount: Int
    /// The statement, for tests that check what is read (no values in it: they are bound).
    public let sql: String

    init(statement: Statement, columnCount: Int, sql: String) {
        self.statement = statement
        self.columnCount = columnCount
        self.sql = sql
    }

    /// The next customer, or nil at the end. The row is valid until the next call.
    public func next() throws -> Row? {
        try statement.step() ? Row(statement: statement, columnCount: columnCount) : nil
    }

    /// One row: the plan's columns, then the `granted_at` of each consent scope.
    public struct Row: CustomerRow {
        let statement: Statement
        let columnCount: Int

        public var customerID: Int64 { statement.int64(1) }

        public func withValue<R>(at index: Int, _ body: (ColumnValue) throws -> R) rethrows -> R {
            // Column 0 is the selection's reason; the plan's columns follow.
            let column = Int32(index + 1)
            if index == 0 { return try body(.integer(statement.int64(1))) }
            guard let bytes = statement.textBytes(column) else { return try body(.null) }
            return try body(.bytes(bytes))
        }

        /// When the customer gave consent for the contract's scope number `scopeIndex`.
        public func consentGrantedAt(_ scopeIndex: Int) -> String {
            statement.string(Int32(1 + columnCount + scopeIndex)) ?? ""
        }
    }
}
