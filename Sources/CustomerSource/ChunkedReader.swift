import ExportCore
import Foundation
import Postgres
import SQLite

/// Reads the selection on a thread of its own and hands rows over in chunks, so that SQLite's work
/// runs on one core while minimising, hashing and rendering run on the other. Memory stays flat: at
/// most a few chunks of ``chunkRows`` rows exist, recycled from a small pool.
///
/// ```swift
/// let reader = try ChunkedReader(database, plan: plan, range: .all, classify: true)
/// defer { reader.stop() }
/// while let (_, chunk) = try reader.nextNumbered() {
///     chunk.withRows { rows in for i in 0..<rows.count { use(rows[i]) } }
///     reader.recycle(chunk)
/// }
/// let counts = reader.classification
/// ```
///
/// Unchecked: every stored `var` is used under `lock` (a condition, which `Mutex` has not), but
/// `cursor`, `total` and `counts`, which only the reading thread touches until it has finished.
public final class ChunkedReader: @unchecked Sendable {
    public static let chunkRows = 1024
    static let inFlight = 6

    private let source: CustomerDatabase
    private let query: SelectionQuery
    /// Opened in the constructor for SQLite (a statement is cheap and shows errors early); for
    /// PostgreSQL on the reading thread, since a COPY occupies the connection until it is read.
    private var cursor: (any SelectionCursor)?
    private let textColumns: Int
    private let reasons: Int
    private let lock = NSCondition()
    private var ready: [RowChunk] = []
    private var pool: [RowChunk] = []
    private var finished = false
    private var failure: Error?
    private var cancelled = false
    private var started = false
    private let running = DispatchGroup()
    private var counts: [Int]
    private var total = 0

    /// - Parameters:
    ///   - classify: every customer is read and counted by first exclusion reason; only eligible
    ///     rows are handed over.
    public init(_ database: CustomerDatabase, plan: ExportPlan, range: IDRange, classify: Bool) throws {
        source = database
        query = try database.selection(plan, range: range, classify: classify)
        if case .sqlite = database.backend { cursor = try database.open(query) }
        textColumns = plan.columns.names.count - 1 + plan.partner.contract.consent.count
        reasons = ExclusionReason.reasons(for: plan.partner.contract).count
        counts = Array(repeating: 0, count: reasons)
        pool = (0..<Self.inFlight).map { _ in RowChunk(textColumns: textColumns) }
    }

    /// Starts reading (on the first call to ``nextNumbered()`` if not called before).
    public func start() {
        lock.lock()
        defer { lock.unlock() }
        // Never after a stop: a reader started then would open a cursor nobody reads.
        guard !started, !cancelled else { return }
        started = true
        running.enter()
        let thread = Thread { [self] in read() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// The next chunk of eligible rows with its position in reading order, or nil at the end; rethrows
    /// what the reader met. Safe to call from several threads.
    public func nextNumbered() throws -> (Int, RowChunk)? {
        start()
        lock.lock()
        defer { lock.unlock() }
        while ready.isEmpty && !finished && !cancelled { lock.wait() }
        if !ready.isEmpty {
            let chunk = ready.removeFirst()
            defer { handedOut += 1 }
            return (handedOut, chunk)
        }
        if let failure { throw failure }
        return nil
    }

    private var handedOut = 0

    /// Gives a consumed chunk back for reuse.
    public func recycle(_ chunk: consuming RowChunk) {
        var chunk = chunk
        chunk.reset()
        lock.lock()
        pool.append(chunk)
        lock.signal()
        lock.unlock()
    }

    /// Stops the reader (if it still runs) and waits for it: afterwards the statement is idle.
    public func stop() {
        lock.lock()
        cancelled = true
        lock.broadcast()
        lock.unlock()
        running.wait()
        lock.lock()
        defer { lock.unlock() }
        if !reset {
            reset = true
            cursor?.reset()
        }
    }

    private var reset = false

    /// Customers read and, for each exclusion reason in checking order, how many it excluded
    /// (classifying readers, once ``nextNumbered()`` returned nil).
    public var classification: (customers: Int, excluded: [Int]) {
        lock.lock()
        defer { lock.unlock() }
        return (total, counts)
    }

    private func read() {
        defer { running.leave() }
        do {
            if cursor == nil { cursor = try source.open(query) }
            // Each kind of cursor gets its own specialised loop (no dynamic dispatch per column).
            switch cursor {
            case let statement as Statement: try read(statement)
            case let copy as CopyOut: try read(copy)
            case let other?: try read(other)
            case nil: break
            }
            lock.lock()
            finished = true
        } catch {
            lock.lock()
            failure = error
            finished = true
        }
        lock.broadcast()
        lock.unlock()
    }

    private func read<Cursor: SelectionCursor>(_ cursor: Cursor) throws {
        guard var current = take() else { return }
        while try cursor.step() {
            let reason = Int(cursor.int64(0))
            total += 1
            if reason >= 0 {
                if reason < reasons { counts[reason] += 1 }
                continue
            }
            current.append(cursor, textColumns: textColumns)
            if current.count >= Self.chunkRows || current.bytes.count >= 1 << 20 {
                hand(consume current)
                guard let next = take() else { return }
                current = next
            }
        }
        if current.count > 0 { hand(consume current) }
    }

    /// A free chunk, or nil once cancelled.
    private func take() -> RowChunk? {
        lock.lock()
        defer { lock.unlock() }
        while pool.isEmpty && !cancelled { lock.wait() }
        return cancelled ? nil : pool.removeLast()
    }

    private func hand(_ chunk: consuming RowChunk) {
        lock.lock()
        ready.append(chunk)
        lock.broadcast()
        lock.unlock()
    }
}

/// Up to ``ChunkedReader/chunkRows`` rows: ids, and each text column's bytes in one arena. Recycled
/// whole, so that its buffers are allocated once per read.
public struct RowChunk: Sendable {
    let textColumns: Int
    public private(set) var count = 0
    var ids: [Int64] = []
    /// Per row and column: start in `bytes`, or -1 for NULL; and the length.
    var starts: [Int32] = []
    var lengths: [Int32] = []
    var bytes: [UInt8] = []

    init(textColumns: Int) {
        self.textColumns = textColumns
        ids.reserveCapacity(ChunkedReader.chunkRows)
        starts.reserveCapacity(ChunkedReader.chunkRows * textColumns)
        lengths.reserveCapacity(ChunkedReader.chunkRows * textColumns)
        bytes.reserveCapacity(1 << 20)
    }

    mutating func reset() {
        count = 0
        ids.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
    }

    /// Copies the current row of `cursor` (`reason, id, text columns…`).
    @inline(__always)
    mutating func append<Cursor: SelectionCursor>(_ cursor: Cursor, textColumns: Int) {
        ids.append(cursor.int64(1))
        for k in 0..<textColumns {
            if let value = cursor.textBytes(Int32(2 + k)) {
                starts.append(Int32(bytes.count))
                lengths.append(Int32(value.count))
                bytes.append(contentsOf: value)
            } else {
                starts.append(-1)
                lengths.append(0)
            }
        }
        count += 1
    }

    /// Calls `body` with a view of the rows that does no reference counting per row.
    public func withRows<T>(_ body: (Rows) throws -> T) rethrows -> T {
        try ids.withUnsafeBufferPointer { ids in
            try starts.withUnsafeBufferPointer { starts in
                try lengths.withUnsafeBufferPointer { lengths in
                    try bytes.withUnsafeBytes { bytes in
                        try body(Rows(count: count, textColumns: textColumns, ids: ids, starts: starts, lengths: lengths, bytes: bytes))
                    }
                }
            }
        }
    }

    /// The chunk's rows, valid inside ``RowChunk/withRows(_:)`` only.
    public struct Rows {
        public let count: Int
        let textColumns: Int
        let ids: UnsafeBufferPointer<Int64>
        let starts: UnsafeBufferPointer<Int32>
        let lengths: UnsafeBufferPointer<Int32>
        let bytes: UnsafeRawBufferPointer

        public subscript(index: Int) -> Row { Row(rows: self, index: index) }
    }

    /// One row: `id`, then the plan's other columns, then each consent scope's `granted_at`.
    public struct Row: CustomerRow {
        let rows: Rows
        let index: Int

        public var customerID: Int64 { rows.ids[index] }

        @inline(__always)
        public func withValue<R>(at column: Int, _ body: (ColumnValue) throws -> R) rethrows -> R {
            if column == 0 { return try body(.integer(rows.ids[index])) }
            let slot = index &* rows.textColumns &+ column &- 1
            let start = Int(rows.starts[slot])
            guard start >= 0 else { return try body(.null) }
            return try body(.bytes(UnsafeRawBufferPointer(rebasing: rows.bytes[start..<(start &+ Int(rows.lengths[slot]))])))
        }

        /// When the customer gave consent for the contract's scope number `scope` (after `columns` plan
        /// columns), as stored; valid inside ``RowChunk/withRows(_:)`` only.
        public func consentGrant(_ scope: Int, columns: Int) -> UnsafeRawBufferPointer {
            let slot = index &* rows.textColumns &+ columns &- 1 &+ scope
            let start = Int(rows.starts[slot])
            guard start >= 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
            return UnsafeRawBufferPointer(rebasing: rows.bytes[start..<(start + Int(rows.lengths[slot]))])
        }
    }
}
