import ExportCore
@testable import Pipeline
import Testing

@Suite("Shards")
struct ShardTests {
    @Test("id ranges: consecutive, covering every id (open below and above), near-equal, never more than the ids")
    func split() {
        let ranges = Shard.split(lowest: 1, highest: 10, into: 3)
        #expect(ranges == [IDRange(after: nil, through: 3), IDRange(after: 3, through: 6), IDRange(after: 6, through: nil)])
        // Every id in exactly one range, whatever the span, including ids beyond both ends.
        for (lowest, highest, count) in [(1, 1_000_000, 7), (-50, 50, 4), (5, 7, 10), (Int64.min + 1, Int64.max - 1, 3)] as [(Int64, Int64, Int)] {
            let cut = Shard.split(lowest: lowest, highest: highest, into: count)
            #expect(cut.count == min(count, Int(min(Int128(highest) - Int128(lowest) + 1, Int128(count)))))
            #expect(cut.first?.after == nil && cut.last?.through == nil)
            for (a, b) in zip(cut, cut.dropFirst()) { #expect(a.through != nil && a.through == b.after) }
            for id in [lowest - 1, lowest, (lowest / 2 + highest / 2), highest, highest + 1] {
                #expect(cut.filter { $0.contains(id) }.count == 1, "\(id) in \(cut)")
            }
        }
        #expect(Shard.split(lowest: 9, highest: 9, into: 4) == [.all])
        #expect(Shard.split(lowest: 1, highest: 100, into: 1) == [.all])
    }

    @Test("shard k of n owns the batches numbered k, k + n, …")
    func numbering() {
        let shard = Shard(index: 2, count: 3, range: .all)
        let plan = FeedPlan.newFeed(partner: "p", run: "r", shape: "s", at: "t", shard: shard)
        #expect(plan.nextNumber == 2 && plan.stride == 3 && plan.coverage == .all && plan.feed.shards == 3)
        #expect([1, 2, 3, 4, 5, 8].filter { shard.owns(batch: $0) } == [2, 5, 8])
    }
}
