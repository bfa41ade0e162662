/// What a partner's part of a run did with one delivery: the `action` of the run report's `actions`
/// (docs/design.md, "`--json` shapes"), one vocabulary for the pipeline's typed result and the report.
public enum DeliveryActionKind: String, Codable, Sendable, CaseIterable {
    /// Rendered in this run and sent (a new delivery).
    case sent
    /// An owed delivery whose records were unchanged: its stored bytes sent again under its id.
    case resentSameID = "resent-same-id"
    /// A delivery left in doubt by an earlier run, resent under its id.
    case resentInDoubt = "resent-in-doubt"
    /// An owed delivery rendered again under today's consent and contract: replaced by `by`.
    case replaced
    /// An owed delivery none of whose customers is eligible any more: nothing sent.
    case nothingLeft = "nothing-left"
    /// Not sent: an earlier batch was not delivered, or the deletion guard held the partner. Owed.
    case held
    /// Replaced by this run's new feed (a whole feed holds every eligible record).
    case supersededByFeed = "superseded-by-feed"
    /// Rendered but never tried by a worker that died or lost its shard: rendered again by the
    /// worker that took the shard over.
    case renderedAgainAfterTakeover = "rendered-again-after-takeover"
}
