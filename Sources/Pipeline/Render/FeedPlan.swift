import ExportCore
import Ledger

/// What a partner's run renders (docs/design.md, "Feeds"):
///
/// - **a new feed**: every eligible customer, batches numbered from 1 (a `run`; or a `rerun` when
///   the partner has no feed yet, or its shape changed since the feed began: a feed is never left
///   half in an old mapping and half in a new one);
/// - **the completion of the partner's feed** (a `rerun`): each owed batch's id range rendered again
///   under today's consent and contract, keeping its batch number (and its id and bytes when its
///   records did not change), plus whatever comes after the last batch recorded when an interrupted
///   run never rendered the end.
struct FeedPlan {
    /// One id range to render: the first batch it yields takes `number` (an owed batch's) and
    /// replaces `owed`; further batches take numbers after the feed's last.
    struct Segment {
        let range: IDRange
        let owed: DeliveryRecord?
        let number: Int?
    }

    let feed: FeedRecord
    let isNew: Bool
    /// Why a rerun renders a new feed rather than completing the old one.
    let reason: String?
    let segments: [Segment]
    /// The first number free for batches beyond the recorded ones.
    let nextNumber: Int
    /// Whether this render ends with the deletion notices due (a new feed; a completion whose notice
    /// batches are owed or whose render was cut short), and the owed notice batches they replace.
    let rendersNotices: Bool
    let owedNotices: [DeliveryRecord]
    /// The customers this render answers for (a shard's range when several workers split the feed;
    /// every customer otherwise): its notices are for the customers held in it.
    var coverage: IDRange = .all
    /// Batch numbers go up by this much (the feed's number of shards: each shard has its own numbers).
    var stride = 1
    /// The shard this plan renders, when the feed is split between workers.
    var shard: Shard?
    /// Customers of the coverage an earlier worker rendered (a shard taken over): counted as eligible
    /// in the same snapshot, so that the shard's report counts its whole range.
    var countsBefore: IDRange?

    /// A new feed of every eligible customer, started by `run` (of the customers of `shard`, when the
    /// feed is split between workers: the first worker to begin records the feed).
    static func newFeed(partner: String, run: String, shape: String, at time: String, reason: String? = nil,
                        shard: Shard? = nil) -> FeedPlan {
        let feed = FeedRecord(id: FeedRecord.id(run: run, partner: partner), partner: partner, runID: run, startedAt: time,
                              shape: shape, rendered: false, batches: 0, completedAt: nil, completedBy: nil, supersededBy: nil,
                              shards: shard?.count ?? 1)
        let range = shard?.range ?? .all
        var plan = FeedPlan(feed: feed, isNew: true, reason: reason, segments: [Segment(range: range, owed: nil, number: nil)],
                            nextNumber: shard?.index ?? 1, rendersNotices: true, owedNotices: [])
        plan.coverage = range
        plan.stride = shard?.count ?? 1
        plan.shard = shard
        return plan
    }

    /// What a worker taking over `shard` of `feed` still renders, given the shard's deliveries the
    /// earlier holder recorded that stand (each sent, or about to be sent again, by the caller under
    /// its own id): the customers after the last one they cover, then the shard's notices — or nothing
    /// when those reached the notices (they come after every record) or the shard was rendered to its
    /// end. Batch numbers go on after `highest`, the highest the shard recorded.
    static func resumption(of feed: FeedRecord, shard: Shard, recorded: [DeliveryRecord], rendered: Bool,
                           highest: Int?) -> FeedPlan {
        let current = recorded.filter { $0.status != .superseded }
        let reachedNotices = current.contains { $0.recordCount == 0 && $0.noticeCount > 0 }
        let last = current.compactMap(\.lastCustomer).max() ?? shard.range.after
        let done = rendered || reachedNotices
        var plan = FeedPlan(feed: feed, isNew: true, reason: nil,
                            segments: done ? [] : [Segment(range: IDRange(after: last, through: shard.range.through), owed: nil, number: nil)],
                            nextNumber: highest.map { $0 + shard.count } ?? shard.index, rendersNotices: !done, owedNotices: [])
        plan.coverage = shard.range
        plan.stride = shard.count
        plan.shard = shard
        if done {
            plan.countsBefore = shard.range
        } else if last != shard.range.after {
            plan.countsBefore = IDRange(after: shard.range.after, through: last)
        }
        return plan
    }

    /// What completes `latest` (the partner's newest feed), given its deliveries; nil when it is
    /// complete already. A new feed when the shape changed or the feed cannot be completed in place.
    static func completion(of latest: FeedRecord?, deliveries: [DeliveryRecord], partner: String, run: String, shape: String,
                           at time: String) -> FeedPlan? {
        guard let latest else {
            return newFeed(partner: partner, run: run, shape: shape, at: time, reason: "the partner has no feed yet")
        }
        if latest.isComplete && deliveries.allSatisfy({ !$0.isOwed }) { return nil }
        guard !latest.shape.isEmpty else {
            return newFeed(partner: partner, run: run, shape: shape, at: time,
                           reason: "feed \(latest.id) was written by an earlier version, so it is rendered again whole")
        }
        guard latest.rendered || latest.shards == 1 else {
            return newFeed(partner: partner, run: run, shape: shape, at: time,
                           reason: "feed \(latest.id) was split between \(latest.shards) workers and not every part of it was "
                               + "rendered to its end, so it is rendered again whole")
        }
        guard latest.shape == shape else {
            return newFeed(partner: partner, run: run, shape: shape, at: time,
                           reason: "the mapping, format or pseudonym key changed since feed \(latest.id) began, so the whole "
                               + "feed is sent again in the new shape")
        }
        // The current delivery of each batch number (an owed one, or the one that was delivered).
        var current: [Int: DeliveryRecord] = [:]
        for delivery in deliveries where delivery.status != .superseded {
            if let other = current[delivery.batch], other.seq > delivery.seq { continue }
            current[delivery.batch] = delivery
        }
        // Batches of notices alone come after the records and cover no span: they are rendered again as a
        // whole (every notice due now) when one of them is owed.
        let noticeBatches = current.values.filter { $0.recordCount == 0 && $0.noticeCount > 0 }
        let batches = current.values.filter { !($0.recordCount == 0 && $0.noticeCount > 0) }
            .sorted { ($0.lastCustomer ?? .max, $0.batch) < ($1.lastCustomer ?? .max, $1.batch) }
        guard batches.allSatisfy({ $0.lastCustomer != nil }) else {
            return newFeed(partner: partner, run: run, shape: shape, at: time,
                           reason: "feed \(latest.id) does not record its batches' id ranges, so it is rendered again whole")
        }
        var segments: [Segment] = []
        var previous: Int64?
        for (index, delivery) in batches.enumerated() {
            let last = index == batches.count - 1 && latest.rendered
            if delivery.isOwed {
                segments.append(Segment(range: IDRange(after: previous, through: last ? nil : delivery.lastCustomer),
                                        owed: delivery, number: delivery.batch))
            }
            previous = delivery.lastCustomer
        }
        if !latest.rendered {
            // An interrupted run did not render the end of its feed: render what comes after its last batch.
            segments.append(Segment(range: IDRange(after: previous, through: nil), owed: nil, number: nil))
        }
        let highest = max(latest.batches, current.keys.max() ?? 0)
        let owedNotices = noticeBatches.filter(\.isOwed).sorted { $0.batch < $1.batch }
        return FeedPlan(feed: latest, isNew: false, reason: nil, segments: segments, nextNumber: highest + 1,
                        rendersNotices: !owedNotices.isEmpty || !latest.rendered, owedNotices: owedNotices)
    }
}

/// One of the id ranges a partner's feed is split into when several workers share a run: shard
/// `index` of `count` (1-based) numbers its batches `index`, `index + count`, `index + 2·count`, …, so
/// that workers rendering side by side never take the same number.
struct Shard: Sendable, Equatable {
    let index: Int
    let count: Int
    let range: IDRange

    /// Whether `delivery` (of the split feed) is one of this shard's.
    func owns(_ delivery: DeliveryRecord) -> Bool { owns(batch: delivery.batch) }

    func owns(batch: Int) -> Bool { (batch - index) % count == 0 }

    /// `count` consecutive ranges covering every id: the span between `lowest` and `highest` cut in
    /// near-equal parts, the first open below and the last open above (customers added later belong
    /// to the last). One range of everything when there are no customers.
    static func split(lowest: Int64, highest: Int64, into count: Int) -> [IDRange] {
        guard count > 1, highest > lowest else { return [.all] }
        let span = Int128(highest) - Int128(lowest) + 1
        let parts = min(Int128(count), span)
        return (1...Int(parts)).map { k in
            let after = k == 1 ? nil : Int64(Int128(lowest) - 1 + span * Int128(k - 1) / parts)
            let through = Int128(k) == parts ? nil : Int64(Int128(lowest) - 1 + span * Int128(k) / parts)
            return IDRange(after: after, through: through)
        }
    }
}
