/// A partner's feed: every eligible record in customer-id order, cut into batches, as one run
/// rendered it. It is **complete** when every batch was acknowledged; until then the batches that
/// were not are owed, and a rerun completes it (docs/design.md, "Feeds").
public struct FeedRecord: Sendable, Equatable {
    /// `<run id>/<partner>`.
    public let id: String
    public let partner: String
    /// The run (or rerun) that started it.
    public let runID: String
    public let startedAt: String
    /// A fingerprint of everything that decides a record's bytes (format, mapping, forms, key):
    /// a rerun under another shape renders a new feed instead of completing this one.
    public let shape: String
    /// Every batch of it is recorded (the render reached the end of the selection).
    public let rendered: Bool
    /// The highest batch number recorded.
    public let batches: Int
    public let completedAt: String?
    /// The run that acknowledged its last owed batch.
    public let completedBy: String?
    /// A newer feed that replaced it before it was complete.
    public let supersededBy: String?
    /// Into how many id ranges its render was split (several workers; 1: one render of every customer).
    /// Shard k of n numbers its batches k, k + n, k + 2n, …
    public let shards: Int

    public init(id: String, partner: String, runID: String, startedAt: String, shape: String, rendered: Bool, batches: Int,
                completedAt: String?, completedBy: String?, supersededBy: String?, shards: Int = 1) {
        self.shards = shards
        self.id = id
        self.partner = partner
        self.runID = runID
        self.startedAt = startedAt
        self.shape = shape
        self.rendered = rendered
        self.batches = batches
        self.completedAt = completedAt
        self.completedBy = completedBy
        self.supersededBy = supersededBy
    }

    public var isComplete: Bool { completedAt != nil }

    public static func id(run: String, partner: String) -> String { "\(run)/\(partner)" }
}
