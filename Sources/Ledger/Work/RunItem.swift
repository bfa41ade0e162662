import ExportCore

/// One item of a run's work: a partner's feed, or one id-range shard of it (`delivery.shards`); a
/// whole feed is shard 1 of 1. Who holds it, how it ended and what its worker found (the typed
/// partner result, encoded) travel with it.
public struct RunItem: Sendable, Equatable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case pending, running, done, failed
    }

    public let runID: String
    public let partner: String
    /// 1…shards.
    public let shard: Int
    public let shards: Int
    public let range: IDRange
    public let status: Status
    /// Who has it now (running), or did it (done, failed).
    public let holder: String?
    /// Workers whose lease ran out before they finished it, oldest first.
    public let earlierHolders: [String]
    public let takeovers: Int
    public let report: String?
    /// Its worker rendered the shard to its end (every batch of it recorded).
    public let rendered: Bool

    public init(runID: String, partner: String, shard: Int, shards: Int, range: IDRange, status: Status = .pending,
                holder: String? = nil, earlierHolders: [String] = [], takeovers: Int = 0, report: String? = nil,
                rendered: Bool = false) {
        self.rendered = rendered
        self.runID = runID
        self.partner = partner
        self.shard = shard
        self.shards = shards
        self.range = range
        self.status = status
        self.holder = holder
        self.earlierHolders = earlierHolders
        self.takeovers = takeovers
        self.report = report
    }
}

extension RunItem {
    /// The same item, its state moved on.
    func with(status: Status? = nil, holder: String?? = nil, report: String?? = nil, rendered: Bool? = nil) -> RunItem {
        RunItem(runID: runID, partner: partner, shard: shard, shards: shards, range: range, status: status ?? self.status,
                holder: holder ?? self.holder, earlierHolders: earlierHolders, takeovers: takeovers, report: report ?? self.report,
                rendered: rendered ?? self.rendered)
    }
}
