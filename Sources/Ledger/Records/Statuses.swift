/// The state of a delivery (docs/design.md, "Deliveries"):
///
/// ```
/// pending ─┬─> delivered
///          ├─> failed      (attempts exhausted, TLS or set-up trouble: owed)
///          ├─> rejected    (the partner's permanent answer: owed)
///          ├─> held        (not sent because an earlier batch of its feed was not delivered: owed)
///          └─> superseded  (a newer delivery of the same records replaced it, or nothing is left to send)
/// ```
/// `failed`, `rejected` and `held` can be sent again (resent under their id, or superseded by a
/// re-rendering); a delivery in doubt is never superseded.
public enum DeliveryStatus: String, Sendable, CaseIterable, Codable {
    case pending
    case delivered
    case failed
    case rejected
    case held
    case superseded

    /// Statuses of deliveries the partner is still owed once no run is working on them.
    public static let owed: [DeliveryStatus] = [.pending, .failed, .rejected, .held]

    /// What `deliveries --failed` lists: every delivery that did not succeed and was not superseded.
    public static let unsuccessful: [DeliveryStatus] = [.failed, .rejected, .held]
}

/// What started a run.
public enum RunTrigger: String, Sendable, CaseIterable, Codable {
    case scheduled
    case manual
    case rerun
}

/// Where a run stands.
public enum RunStatus: String, Sendable, CaseIterable, Codable {
    case running
    case succeeded
    case failed
    /// The process died before the run finished (found by the next run, or by a read while no run holds the lock).
    case interrupted
}

/// How one partner's part of a run ended.
public enum PartnerStatus: String, Sendable, CaseIterable, Codable {
    /// Every batch of its feed acknowledged.
    case delivered
    /// Nobody eligible, or nothing owed: nothing sent, the feed is complete.
    case nothingToSend = "nothing-to-send"
    /// A delivery failed (retries exhausted, TLS): the feed is incomplete.
    case failed
    /// The partner refused a delivery: the feed is incomplete.
    case rejected
    /// The partner could not run at all (its secret, its files, its source, the ledger).
    case error
    /// Held by the deletion guard: the run would have told the partner to forget more of the
    /// customers it holds than its contract's `max_deletions_percent`; nothing was sent.
    case held
    /// Paused by an operator (`partner-export pause`): skipped, or stopped before its next batch;
    /// what it is owed stays owed.
    case paused
    /// The partner asked us to wait (a `Retry-After` beyond the cap): skipped until then.
    case waiting
    /// Read back from a run still at work on it (never recorded as a part's end).
    case running
    /// Read back from a run that died before this part ended (never recorded as a part's end).
    case interrupted

    public var succeeded: Bool { self == .delivered || self == .nothingToSend }

    /// Not run on purpose (a pause, a wait the partner asked for): not a failure of the run.
    public var skipped: Bool { self == .paused || self == .waiting }
}

/// How one HTTP attempt ended, as recorded.
public enum AttemptOutcome: String, Sendable, CaseIterable, Codable {
    case delivered
    /// Another attempt follows in this run.
    case retry
    /// The partner's permanent answer.
    case rejected
    /// The last attempt of this run, or one that cannot succeed by retrying.
    case failed
}

/// Decoding a stored status that this version does not know is an error, never a guess.
extension RawRepresentable where RawValue == String {
    static func decoded(_ text: String, column: String) throws -> Self {
        guard let value = Self(rawValue: text) else {
            throw LedgerError.damaged("the ledger holds \(column) '\(text)', which this version of partner-export does not know "
                                      + "(written by a newer version?)")
        }
        return value
    }
}
