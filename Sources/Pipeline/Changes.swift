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

    static let pageSize = 8192

    private let holdings: (any HoldingsLog)?
    private let partner: String
    private let range: IDRange
    private var page = HoldingsPage()
    private var position = 0
    private var lastRead: Int64?
    private var exhausted: Bool
    /// Held customers the render did not produce, in id order.
    private(set) var gone = GoneCustomers()
    private(set) var unchanged = 0

    /// - Parameter holdings: nil when nothing is held (a first run, or a preview without a ledger).
    init(holdings: (any HoldingsLog)?, partner: String, range: IDRange) {
        self.holdings = holdings
        self.partner = partner
        self.range = range
        exhausted = holdings == nil
    }

    /// How `record` stands against what the partner holds.
    func classify(_ record: RenderedRecord) throws -> Kind {
        let id = record.customerID
        while let current = try current(), current < id {
            gone.append(id: current, key: page.key(at: position))
            position += 1
        }
        guard let current = try current(), current == id else { return .new }
        let same = page.digest(at: position, equals: record.digest)
        position += 1
        if same { unchanged += 1 }
        return same ? .unchanged : .changed
    }

    /// Every held customer left after the last record: candidates for a notice.
    func finish() throws -> GoneCustomers {
        while let current = try current() {
            gone.append(id: current, key: page.key(at: position))
            position += 1
        }
        return gone
    }

    private func current() throws -> Int64? {
        if position < page.count { return page.ids[position] }
        guard !exhausted, let holdings else { return nil }
        page = try holdings.holdings(partner: partner, range: range, after: lastRead, limit: Self.pageSize)
        position = 0
        lastRead = page.ids.last ?? lastRead
        if page.count < Self.pageSize { exhausted = true }
        return page.count > 0 ? page.ids[0] : nil
    }
}

/// Customers a partner holds that a render did not produce: ids and the keys it knows them by.
struct GoneCustomers {
    private(set) var ids: [Int64] = []
    private var keys: [UInt8] = []
    private var keyEnds: [Int] = []

    var count: Int { ids.count }

    mutating func append(id: Int64, key: ArraySlice<UInt8>) {
        ids.append(id)
        keys.append(contentsOf: key)
        keyEnds.append(keys.count)
    }

    func key(at i: Int) -> [UInt8] { Array(keys[(i == 0 ? 0 : keyEnds[i - 1])..<keyEnds[i]]) }
}

/// Turns the customers a partner holds and no longer gets into deletion notices, with the reason the
/// source gives (read in the render's snapshot): none for a customer still eligible whose record was
/// rejected (it is kept), `erased` for a row that is gone, `consent_withdrawn` or `no_longer_shared`.
struct NoticeFinder {
    let plan: ExportPlan
    let source: CustomerDatabase

    struct Found {
        var notices: [DeletionNotice] = []
        /// Held customers whose key the ledger does not know and cannot be worked out (a key from
        /// e-mail, kept by a ledger written before keys were): no notice can name them.
        var unnamed = 0
    }

    func notices(for gone: GoneCustomers) throws -> Found {
        var found = Found()
        guard gone.count > 0 else { return found }
        let reasons = try source.exclusions(of: gone.ids, plan: plan)
        for (i, id) in gone.ids.enumerated() {
            guard let reason = reasons[i] else { continue }
            var key = gone.key(at: i)
            if key.isEmpty {
                guard let keyIndex = plan.keyIndex, let worked = plan.minimiser.value(ofField: keyIndex, forID: id) else {
                    found.unnamed += 1
                    continue
                }
                key = worked
            }
            found.notices.append(DeletionNotice(customerID: id, key: key, reason: reason))
        }
        return found
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

    public init() {}

    public var noticeCount: Int { notices.values.reduce(0, +) }

    public mutating func add(_ other: ChangeCounts) {
        new += other.new
        changed += other.changed
        unchanged += other.unchanged
        unnamed += other.unnamed
        for (reason, count) in other.notices { notices[reason, default: 0] += count }
    }
}
