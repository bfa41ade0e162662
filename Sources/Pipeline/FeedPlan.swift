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

    /// A new feed of every eligible customer, started by `run`.
    static func newFeed(partner: String, run: String, shape: String, at time: String, reason: String? = nil) -> FeedPlan {
        let feed = FeedRecord(id: FeedRecord.id(run: run, partner: partner), partner: partner, runID: run, startedAt: time,
                              shape: shape, rendered: false, batches: 0, completedAt: nil, completedBy: nil, supersededBy: nil)
        return FeedPlan(feed: feed, isNew: true, reason: reason, segments: [Segment(range: .all, owed: nil, number: nil)],
                        nextNumber: 1, rendersNotices: true, owedNotices: [])
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
