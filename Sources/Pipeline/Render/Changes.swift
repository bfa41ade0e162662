import CustomerSource
import ExportCore
import Foundation
import Ledger

/// What a partner's run finds against what the partner holds (docs/design.md, "Change feeds and
/// deletion notices"): each rendered record is new, changed or unchanged against the version the
/// partner acknowledged, and each customer the partner holds that the render did not produce is a
/// candidate for a deletion notice.
///
/// A merge in customer-id order of the rendered records with the partner's holdings, read page by
/// page from the ledger (no read transaction stays open between pages), so memory stays flat.
final class ChangeTracker {
    enum Kind: UInt8 {
        case unchanged = 0
        case new = 1
        case changed = 2
    }

    /// How a record stands, and the key the partner holds it under when that is not the record's
    /// key any more (an e-mail key whose address changed): the partner must forget that one.
    struct Verdict {
        let kind: Kind
        let replacedKey: [UInt8]?
    }

    static let pageSize = 8192

    private let holdings: (any HoldingsLog)?
    private let partner: String
    private let range: IDRange
    private var page = HoldingsPage()
    private var position = 0
    private var lastRead: Int64?
    private var exhausted: Bool
    /// A merge with ids alone (``skip(through:)``): keys and digests are not read.
    private let idsOnly: Bool
    /// Held customers the render did not produce, in id order.
    private(set) var gone = GoneCustomers()
    private(set) var unchanged = 0

    /// - Parameter holdings: nil when nothing is held (a first run, or a preview without a ledger).
    init(holdings: (any HoldingsLog)?, partner: String, range: IDRange, idsOnly: Bool = false) {
        self.holdings = holdings
        self.idsOnly = idsOnly
        self.partner = partner
        self.range = range
        exhausted = holdings == nil
    }

    /// How `record` stands against what the partner holds.
    func classify(_ record: RenderedRecord) throws -> Verdict {
        assert(!idsOnly, "a merge with ids alone cannot classify records")
        let id = record.customerID
        while let current = try current(), current < id {
            gone.append(current)
            position += 1
        }
        guard let current = try current(), current == id else { return Verdict(kind: .new, replacedKey: nil) }
        let same = page.digest(at: position, equals: record.digest)
        let held = page.key(at: position)
        let replaced = !held.isEmpty && !page.key(at: position, matches: record.key) ? KeyPacking.unpack(held) : nil
        position += 1
        if same && replaced == nil { unchanged += 1 }
        return Verdict(kind: same && replaced == nil ? .unchanged : .changed, replacedKey: replaced)
    }

    /// For a merge with ids alone (no record): the held customers before `id` are gone, `id` itself
    /// is not.
    func skip(through id: Int64) throws {
        while let current = try current(), current < id {
            gone.append(current)
            position += 1
        }
        if let current = try current(), current == id { position += 1 }
    }

    /// For a merge with keys but no record (the deletion guard's count before a render): the held
    /// customers before `id` are gone; returns whether `id` itself is held under a known key other
    /// than `key` (its record would carry a notice for the old key). A nil `key` (the record would be
    /// rejected, or renders no key) replaces nothing.
    func skip(through id: Int64, key: [UInt8]?) throws -> Bool {
        assert(!idsOnly, "a merge with ids alone has no keys")
        while let current = try current(), current < id {
            gone.append(current)
            position += 1
        }
        guard let current = try current(), current == id else { return false }
        defer { position += 1 }
        guard let key, !page.key(at: position).isEmpty else { return false }
        return !key.withUnsafeBytes { page.key(at: position, matches: $0) }
    }

    /// Every held customer left after the last record: candidates for a notice.
    func finish() throws -> GoneCustomers {
        while let current = try current() {
            gone.append(current)
            position += 1
        }
        return gone
    }

    private func current() throws -> Int64? {
        if position < page.count { return page.ids[position] }
        guard !exhausted, let holdings else { return nil }
        page = try holdings.holdings(partner: partner, range: range, after: lastRead, limit: Self.pageSize, idsOnly: idsOnly)
        position = 0
        lastRead = page.ids.last ?? lastRead
        if page.count < Self.pageSize { exhausted = true }
        return page.count > 0 ? page.ids[0] : nil
    }
}

/// Customers a partner holds that a render did not produce, in id order (ids only: eight bytes each,
/// so that even an emptied consents table leaves memory bounded; keys are read when notices are made).
public struct GoneCustomers: Sendable {
    public private(set) var ids: [Int64] = []

    public init() {}

    public var count: Int { ids.count }

    mutating func append(_ id: Int64) { ids.append(id) }
}

/// Turns the customers a partner holds and no longer gets into deletion notices, with the reason the
/// source gives (read in the render's snapshot): none for a customer still eligible whose record was
/// rejected (it is kept), `erased` for a row that is gone, `consent_withdrawn` or `no_longer_shared`.
struct NoticeFinder {
    let plan: ExportPlan
    let source: CustomerDatabase
    let holdings: any HoldingsLog

    static let chunk = 4096

    /// The notices due, by id and reason (no keys yet: counting needs none).
    struct Due {
        var ids: [Int64] = []
        var reasons: [DeletionReason] = []
        var counts: [DeletionReason: Int] = [:]

        var count: Int { ids.count }
    }

    func due(_ gone: GoneCustomers) throws -> Due {
        var due = Due()
        var start = 0
        while start < gone.count {
            let ids = Array(gone.ids[start..<min(gone.count, start + Self.chunk)])
            for (id, reason) in zip(ids, try source.exclusions(of: ids, plan: plan)) {
                guard let reason else { continue }
                due.ids.append(id)
                due.reasons.append(reason)
                due.counts[reason, default: 0] += 1
            }
            start += Self.chunk
        }
        return due
    }

    /// Calls `body` with each notice, keys read from the holdings a chunk at a time; returns how many
    /// could not be named (a key the ledger does not know and cannot be worked out: an e-mail key kept
    /// by a ledger written before keys were).
    func forEachNotice(_ due: Due, _ body: (DeletionNotice) throws -> Void) throws -> Int {
        var unnamed = 0
        var start = 0
        while start < due.count {
            let end = min(due.count, start + Self.chunk)
            let keys = try holdings.keys(partner: plan.partner.id, ids: Array(due.ids[start..<end]))
            for i in start..<end {
                var key = KeyPacking.unpack(keys[due.ids[i]] ?? [])
                if key.isEmpty {
                    guard let keyIndex = plan.keyIndex, let worked = plan.minimiser.value(ofField: keyIndex, forID: due.ids[i]) else {
                        unnamed += 1
                        continue
                    }
                    key = worked
                }
                try body(DeletionNotice(customerID: due.ids[i], key: key, reason: due.reasons[i]))
            }
            start = end
        }
        return unnamed
    }
}

/// How a partner's records stood against what it holds, and the notices a run found, for reports.
public struct ChangeCounts: Sendable, Equatable {
    public var new = 0
    public var changed = 0
    public var unchanged = 0
    public var notices: [DeletionReason: Int] = [:]
    /// Customers held whose key is unknown (see ``NoticeFinder``).
    public var unnamed = 0
    /// Of the notices, those for a held customer whose key changed (counted as `no_longer_shared`).
    public var rekeyed = 0

    public init() {}

    public var noticeCount: Int { notices.values.reduce(0, +) }

    public mutating func add(_ other: ChangeCounts) {
        new += other.new
        changed += other.changed
        unchanged += other.unchanged
        unnamed += other.unnamed
        rekeyed += other.rekeyed
        for (reason, count) in other.notices { notices[reason, default: 0] += count }
    }
}
